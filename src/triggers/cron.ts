/**
 * The cron trigger. Croner proposes candidates; each is checked against the exact matcher on its
 * wall-clock time in the trigger's zone. That check also applies the DST rules: a time croner moved
 * out of a spring-forward gap no longer matches (skipped), and a wall time that already occurred
 * earlier under the previous offset (fall-back) is rejected (fires once).
 */
import type { Cron } from 'croner'
import type { CronTriggerSpec, Trigger } from '../types.js'
import { MAX_INSTANT, offsetAt, resolveLocal, wallTime } from '../time.js'
import { compileCronFields, compileCrontab, cronerPattern, matchesDate, matchesTime, nextMatchingDate, type CronMatcher } from './cron-expression.js'
import { cronFor } from './croner-cache.js'

const MAX_STEPS = 20000

export interface CompiledCron {
  matcher: CronMatcher
  cron: Cron
  timezone: string
}

const CACHE_LIMIT = 1000
const compiled = new Map<string, CompiledCron>()

/** Parse (throws ValidationError naming the field) and pair with a shared croner instance. */
export function compileCronExpression (spec: Pick<CronTriggerSpec, 'fields' | 'crontab' | 'timezone'>): CompiledCron {
  const key = JSON.stringify([spec.crontab, spec.fields, spec.timezone])
  const hit = compiled.get(key)
  if (hit !== undefined) return hit
  const matcher = spec.crontab !== null ? compileCrontab(spec.crontab) : compileCronFields(spec.fields)
  const { pattern, domAndDow } = cronerPattern(matcher)
  const result = { matcher, cron: cronFor(pattern, spec.timezone, { mode: '7-part', domAndDow }), timezone: spec.timezone }
  compiled.set(key, result)
  if (compiled.size > CACHE_LIMIT) compiled.delete(compiled.keys().next().value!)
  return result
}

/** The first matching instant strictly after `after`, or null (none before year 10000, or gave up). */
export function cronNextAfter (c: CompiledCron, after: number): number | null {
  const { matcher, cron, timezone } = c
  let t = after
  for (let step = 0; step < MAX_STEPS; step++) {
    const next = cron.nextRun(new Date(t))
    if (next === null) return null
    const candidate = next.getTime()
    if (candidate > MAX_INSTANT) return null
    if (!(candidate > t)) {
      // Never expected from croner; step past it rather than loop or end the schedule.
      t = Math.floor(t / 1000) * 1000 + 1000
      continue
    }
    const w = wallTime(candidate, timezone)
    if (!matchesDate(matcher, w.year, w.month, w.day)) {
      // A date-level field croner could not express (ISO week, nth weekday mixes, many years):
      // jump straight to the next matching local date.
      const date = nextMatchingDate(matcher, w.year, w.month, w.day + 1)
      if (date === null) return null
      t = resolveLocal(timezone, date[0], date[1], date[2]).ms - 1
      continue
    }
    if (!matchesTime(matcher, w.hour, w.minute, w.second)) {
      // Croner moved a time out of a DST gap; that time does not exist today, so skip it.
      t = candidate
      continue
    }
    const local = resolveLocal(timezone, w.year, w.month, w.day, w.hour, w.minute, w.second)
    if (local.kind === 'ok' && local.ms < candidate) {
      // This wall time already happened under the previous offset: skip the whole repeated stretch.
      t = endOfRepeat(timezone, local.ms, candidate) - 1
      continue
    }
    return candidate
  }
  return null
}

/** `first` and `candidate` share a wall time across a fall-back; when do repeated wall times end? */
function endOfRepeat (timezone: string, first: number, candidate: number): number {
  const before = offsetAt(first, timezone)
  let lo = first
  let hi = candidate
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2)
    if (offsetAt(mid, timezone) === before) lo = mid
    else hi = mid
  }
  // Wall times repeat from the transition for as long as the clock was set back.
  return Math.max(hi + (candidate - first), candidate + 1)
}

export function compileCron (spec: CronTriggerSpec): Trigger {
  const c = compileCronExpression(spec)
  const { start_date: start, end_date: end } = spec
  const bounded = (t: number | null): number | null => t === null || (end !== null && t > end) ? null : t
  return {
    spec,
    first (now: number): number | null {
      // Inclusive: croner answers strictly after, in whole seconds.
      const from = start !== null && start > now ? start : now
      return bounded(cronNextAfter(c, from - 1))
    },
    next (previous: number): number | null {
      if (start !== null && start > previous) return bounded(cronNextAfter(c, start - 1))
      return bounded(cronNextAfter(c, previous))
    }
  }
}
