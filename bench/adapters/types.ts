/**
 * The one interface every scheduler under test implements. An adapter schedules jobs, calls
 * `onFire` from inside the task body (with the time the fire was due and the task's start time,
 * both epoch ms from lib/clock.ts nowMs), and stops cleanly.
 */

/** What to schedule. `n` is the job's number; adapters name the job `j<n>`. */
export type JobSpec =
  /** A cron job firing every second, on the second. */
  | { kind: 'cron-second', n: number }
  /** Fires every `everyMs`, first at (or from) `firstAt`. */
  | { kind: 'interval', n: number, everyMs: number, firstAt: number }
  /** Fires once, at `at`. */
  | { kind: 'once', n: number, at: number }

export type JobKind = JobSpec['kind']

export interface AdapterContext {
  /** A directory of this scenario run (deleted afterwards). */
  dir: string
  /**
   * A name shared by every process of one scenario run (S4): a file path for SQLite, a queue or
   * key prefix for Redis. Adapters that share work across processes use it; others ignore it.
   */
  shared: string
  /** This process's name within the run. */
  node: string
  /** Called from the task body: job number, due time, start time (epoch ms). */
  onFire: (n: number, due: number, start: number) => void
  /** Options the scenario needs: `misfireGraceSeconds` for one-shots that may all be late, etc. */
  misfireGraceSeconds?: number
}

export interface Adapter {
  readonly name: string
  /** Opens stores and connections; schedules nothing yet. */
  open: (ctx: AdapterContext) => Promise<void>
  /** Schedules jobs; may be called several times (the harness adds in batches). */
  add: (jobs: JobSpec[]) => Promise<void>
  /** Starts firing (a no-op for libraries that fire as soon as a job is added). */
  start: () => Promise<void>
  /** Stops firing, closes connections and removes what it made outside ctx.dir (keys, queues). */
  close: () => Promise<void>
}

export interface AdapterInfo {
  /** e.g. 'ours-memory', 'toad-scheduler'. */
  name: string
  /** True for fastify-apscheduler's stores: they are judged against the targets, the rest are peers. */
  ours: boolean
  kinds: JobKind[]
  /** Several processes on one `shared` name fire each job once (S4); false means each process fires everything. */
  sharesAcrossProcesses: boolean
  /** Needs Redis at REDIS_URL. */
  needsRedis: boolean
  create: () => Promise<Adapter>
  /** Deletes what `shared` names (queue, keys) once every process of a multi-process run has closed. */
  dropShared?: (shared: string) => Promise<void>
}

/** Epoch ms rounded down to the second: the due time of a per-second cron fire for libraries that do not report it. */
export function secondOf (ms: number): number {
  return Math.floor(ms / 1000) * 1000
}
