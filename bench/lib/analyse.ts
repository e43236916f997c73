/**
 * Turns fire records into the figures of a scenario. A fire counts when its due time lies in the
 * measured window; each (job, due) pair expected in the window and never started is a miss, each
 * start beyond the first of a pair a duplicate. Lateness = start − due.
 */
import type { FireArrays } from './fire-log.js'
import { latenessSummary, median, round, slope } from './stats.js'

export interface RecurringFigures {
  expected: number
  fired: number
  missed: number
  duplicates: number
  /** Starts per (job, due) pair that started at all: 1 when each fire runs once, 3 when 3 processes each run everything. */
  duplicationFactor: number
  p50: number
  p90: number
  p99: number
  max: number
  /** Fires started per process name (multi-process runs). */
  split?: Record<string, number>
}

export function analyseRecurring (fires: FireArrays, opts: { jobs: number, from: number, to: number, periodMs: number }): RecurringFigures {
  const seen = new Map<string, number>()
  const lateness: number[] = []
  const split: Record<string, number> = {}
  let starts = 0
  for (let i = 0; i < fires.n.length; i++) {
    const due = fires.due[i] as number
    if (due < opts.from || due >= opts.to) continue
    starts++
    const key = `${fires.n[i] as number}@${due}`
    seen.set(key, (seen.get(key) ?? 0) + 1)
    lateness.push((fires.start[i] as number) - due)
    const node = fires.node?.[i]
    if (node !== undefined) split[node] = (split[node] ?? 0) + 1
  }
  const periods = Math.round((opts.to - opts.from) / opts.periodMs)
  const expected = opts.jobs * periods
  const fired = seen.size
  return {
    expected,
    fired,
    missed: Math.max(0, expected - fired),
    duplicates: starts - fired,
    duplicationFactor: fired === 0 ? NaN : round(starts / fired, 2),
    ...latenessSummary(lateness),
    ...(fires.node === undefined ? {} : { split })
  }
}

/**
 * Drift of an every-N-ms job: per job, the least-squares slope of its lateness over the period
 * number (ms per period); the figure is the median over jobs. A scheduler that computes each next
 * fire from the previous start instead of from the grid accumulates its lateness and shows it here.
 */
export function driftPerPeriod (fires: FireArrays, opts: { from: number, to: number, periodMs: number }): number {
  const perJob = new Map<number, { k: number[], late: number[], origin: number }>()
  for (let i = 0; i < fires.n.length; i++) {
    const due = fires.due[i] as number
    if (due < opts.from || due >= opts.to) continue
    const n = fires.n[i] as number
    let job = perJob.get(n)
    if (job === undefined) { job = { k: [], late: [], origin: due }; perJob.set(n, job) }
    job.origin = Math.min(job.origin, due)
    job.k.push(due)
    job.late.push((fires.start[i] as number) - due)
  }
  const slopes: number[] = []
  for (const job of perJob.values()) {
    const ks = job.k.map((due) => Math.round((due - job.origin) / opts.periodMs))
    slopes.push(slope(ks, job.late))
  }
  return round(median(slopes), 3)
}

export interface OnceFigures {
  jobs: number
  fired: number
  missed: number
  duplicates: number
  /** When the first one-shot started, after the instant (how long the wave waited to begin). */
  firstStartMs: number
  /** When the last one-shot started, after the instant they were all due at. */
  lastStartMs: number
  p50: number
  p99: number
}

export function analyseOnce (fires: FireArrays, opts: { jobs: number, at: number }): OnceFigures {
  const seen = new Set<number>()
  const lateness: number[] = []
  let first = Infinity
  let last = -Infinity
  for (let i = 0; i < fires.n.length; i++) {
    seen.add(fires.n[i] as number)
    const start = fires.start[i] as number
    lateness.push(start - opts.at)
    if (start < first) first = start
    if (start > last) last = start
  }
  const summary = latenessSummary(lateness)
  return {
    jobs: opts.jobs,
    fired: seen.size,
    missed: opts.jobs - seen.size,
    duplicates: fires.n.length - seen.size,
    firstStartMs: round(first - opts.at, 1),
    lastStartMs: round(last - opts.at, 1),
    p50: summary.p50,
    p99: summary.p99
  }
}
