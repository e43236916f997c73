/**
 * The interval trigger: start_date + k·interval in plain epoch-ms arithmetic, so it counts real
 * elapsed time across DST changes (wall-clock times shift, gaps between fires never do).
 */
import type { IntervalTriggerSpec, Trigger } from '../types.js'
import { MAX_INSTANT } from '../time.js'

export const INTERVAL_UNITS = [['weeks', 604800000], ['days', 86400000], ['hours', 3600000], ['minutes', 60000], ['seconds', 1000]] as const
export type IntervalUnit = typeof INTERVAL_UNITS[number][0]

/** The interval in whole milliseconds (fractions of a millisecond are rounded). */
export function intervalMs (spec: Pick<IntervalTriggerSpec, IntervalUnit>): number {
  return Math.round(INTERVAL_UNITS.reduce((sum, [unit, ms]) => sum + spec[unit] * ms, 0))
}

/** An interval as its non-zero parts, carried upwards (8 days = 1 week 1 day); sub-second rest stays in seconds. */
export function intervalParts (ms: number): Partial<Record<IntervalUnit, number>> {
  const out: Partial<Record<IntervalUnit, number>> = {}
  let rest = ms
  for (const [unit, size] of INTERVAL_UNITS) {
    const n = unit === 'seconds' ? rest / 1000 : Math.floor(rest / size)
    rest -= unit === 'seconds' ? rest : n * size
    if (n > 0) out[unit] = n
  }
  return out
}

export function compileInterval (spec: IntervalTriggerSpec): Trigger {
  const step = intervalMs(spec)
  const start = spec.start_date
  const end = spec.end_date
  const bounded = (t: number): number | null => (end !== null && t > end) || t > MAX_INSTANT ? null : t
  return {
    spec,
    first (now: number): number | null {
      if (start >= now) return bounded(start)
      return bounded(start + Math.ceil((now - start) / step) * step)
    },
    next: (previous: number) => bounded(previous + step)
  }
}
