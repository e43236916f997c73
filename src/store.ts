import type { Clock } from './clock.js'
import type { JobRecord, RunRecord } from './types.js'

/**
 * The persistence contract. A store knows records, claims and leases; it never owns a timer and
 * never interprets a trigger. Every method is async so that a networked store fits unchanged.
 *
 * Leases:
 *  - a *job claim* (`acquireDueJobs` → `releaseJobs`) is held for the few milliseconds the core
 *    needs to decide what a due job does; if its holder dies, the claim expires after `leaseMs`
 *    and another process picks the job up, with the fires it missed meanwhile.
 *  - a *run lease* lives on a `running` run record and is renewed while the task runs; when it
 *    lapses, `expireRuns` marks the run `abandoned` (at most once per fire: it is never re-run).
 * Writes that depend on a lease are fenced by the owner id: a holder that lost its lease writes
 * nothing.
 */
export interface JobStore {
  /** Sets the store up (schema, connections). Called by the scheduler before use; idempotent. */
  open (): Promise<void>
  /** Releases connections. Idempotent. */
  close (): Promise<void>
  /** True when `subscribe` also hears changes made by other processes (Redis pub/sub). */
  readonly notifiesAcrossProcesses: boolean
  /**
   * The store's clock, when it judges due-ness and leases by its own time (a Redis server's
   * clock): the core then decides claims, leases and wakeups with it. Absent: the core's clock.
   */
  now? (): number
  /** Whether the store is usable (connected, its data still there); /health reports it. */
  health? (): Promise<StoreHealth>
  /**
   * Called by the scheduler before `open()`: its logger (for what the store must say loudly, such
   * as Redis coming back without its data) and its clock (the store's own time is measured
   * against it).
   */
  attach? (context: StoreContext): void

  /** Inserts a job; throws ConflictingIdError when the id exists. Emits `job_added`. */
  addJob (job: JobRecord): Promise<void>
  getJob (id: string): Promise<JobRecord | null>
  /**
   * Replaces the stored job whole (the core computes the new record) and bumps `version`.
   * With `expectedVersion`, applies only if the stored version still equals it.
   * Returns the stored record, or null when the job is missing or the version differs.
   * Emits `job_modified`.
   */
  updateJob (job: JobRecord, expectedVersion?: number): Promise<JobRecord | null>
  /** Deletes a job and its finished history. Returns false when it did not exist. Emits `job_removed`. */
  removeJob (id: string): Promise<boolean>

  /**
   * A page of jobs in list order (see JOB_LIST_ORDER) matching every filter given, and the number
   * of matches before offset/limit. Served from indexes: the cost grows with offset + limit (and,
   * with `q`, with the number of matches), never with the number of stored jobs. `limit: 0`
   * returns only the count.
   */
  queryJobs (query: JobStoreQuery): Promise<JobPage>
  // Records returned by queryJobs and acquireDueJobs may be the store's own, frozen (no copy per
  // row or fire in an in-process store): callers read them and never change them.
  /**
   * Ids of unpaused jobs overdue by more than their grace: now - next_run_time >
   * max(misfire_grace_time (60 s when unlimited), 1 s). Longest overdue first (by the instant it
   * became overdue, then id), at most `limit`.
   */
  overdueJobs (now: number, limit: number): Promise<string[]>

  /**
   * Atomically claims up to `limit` jobs with next_run_time <= now that are not paused and not
   * claimed by a live lease, in next_run_time order. Sets the claim (owner, now + leaseMs).
   * The core asks for large batches (hundreds): a claim is one round trip / transaction.
   */
  acquireDueJobs (opts: { owner: string, now: number, leaseMs: number, limit: number, dueBy?: number }): Promise<AcquiredJob[]>
  /**
   * Set by a store that supports `dueBy` (every store here): the core then claims jobs a little
   * before they are due (`dueBy` later than `now`), decides and writes their fires ahead, and
   * starts each task at its due time. Ahead of its time, a job with a live running run is not
   * claimed (it is at its time), so that max_instances counts the runs live when it is due; a
   * claim looks at no more than the first 2 × limit claimable jobs (so it may return fewer, or
   * none, when many were left), so that its cost stays bounded; the core looks again shortly. A
   * store shared by processes may return fewer jobs than `limit` then, so that they take turns:
   * the core claims until a claim comes back empty. Unset: claims only what is due at `now`.
   */
  readonly claimsAhead?: boolean
  /**
   * Set by a store whose calls are round trips to a server (Redis): the core sends the next claim
   * before it decides and writes the batch just claimed, so that the server and this process work
   * at the same time rather than wait for each other. Claims and releases must then be applied in
   * the order they were sent (one connection does that).
   */
  readonly overlapsClaims?: boolean
  /**
   * Ends claims of `owner`, all in one step (one transaction, one round trip). Each release is
   * fenced on its own: it applies only when `owner` still holds that job's claim. When the job's
   * version still equals `version`, it also (atomically) inserts `runs`, sets next_run_time /
   * next_fire_time, or deletes the job when `remove` is set. When the version moved on (the job
   * was modified, paused or removed meanwhile) only the claim is dropped and nothing else is
   * written. Returns, per release in order, true when its runs were written. The run records
   * passed in are the store's to keep (the core never changes them afterwards): an in-process
   * store need not copy them.
   */
  releaseJobs (owner: string, releases: JobRelease[]): Promise<boolean[]>

  /** Inserts run records (manual runs), then trims the job's finished history to `historyLimit`. */
  insertRuns (runs: RunRecord[], historyLimit: number): Promise<void>
  /** Extends the leases of `owner`'s running runs; returns the ids it still holds. */
  renewRunLeases (owner: string, runIds: string[], leaseExpires: number): Promise<string[]>
  /**
   * Finishes runs, all in one step (group commit: one transaction, one round trip). Each is
   * fenced on its own: it applies only while the run is `running` and held by `owner`. Returns,
   * per finish in order, whether it was written. History lives with its job: when the job no
   * longer exists, the finished run record is deleted instead of kept (and true is returned).
   */
  finishRuns (owner: string, finishes: RunFinish[]): Promise<boolean[]>
  /**
   * Marks every running run whose lease expired before `now` as abandoned (finished_at = now) and
   * returns them; records of jobs that no longer exist are deleted, but still returned.
   */
  expireRuns (now: number): Promise<RunRecord[]>
  /** A job's runs, newest (scheduled_at, then started_at) first. */
  getRuns (jobId: string, limit?: number): Promise<RunRecord[]>

  /**
   * The earliest instant at which something may need doing: the earliest next_run_time of an
   * unpaused job without a live claim, the expiry of a live claim on a due job, or the expiry of
   * a running run's lease. Null when there is nothing. Served from an index, like the claims.
   */
  nextWakeTime (now: number): Promise<number | null>

  /** Scheduler-wide state shared by every process using the store. */
  getSchedulerState (): Promise<SchedulerSharedState>
  /** Emits `scheduler_state`. */
  setSchedulerState (state: SchedulerSharedState): Promise<void>

  /**
   * Records that the schedules were moved for the wall-clock step that left the host's
   * wall − monotonic offset at `baseAfter` (ms); false when a process sharing the store already
   * did so for this step (an offset within a second of the one recorded). Atomic across the
   * processes sharing the store. Stores judged by a clock of their own (`now`) need not have it;
   * without it, schedules are not moved after a step.
   */
  claimClockStep? (baseAfter: number): Promise<boolean>

  /** Hears changes (in-process at least). Returns an unsubscribe function. */
  subscribe (listener: (change: StoreChange) => void): () => void
}

/**
 * The order of `queryJobs`: unpaused jobs with a next run, by next_run_time; then unpaused jobs
 * without one; then paused jobs; ties by id (code-unit order). `listRank` gives the group.
 */
export const JOB_LIST_ORDER = 'list rank, next_run_time, id'

/** Two processes noticing one wall-clock step measure the offset it left this close (ms). */
export const SAME_CLOCK_STEP_MS = 500

/** 0: unpaused with a next run, 1: unpaused without one, 2: paused. */
export function listRank (job: Pick<JobRecord, 'paused' | 'next_run_time'>): 0 | 1 | 2 {
  return job.paused ? 2 : job.next_run_time === null ? 1 : 0
}

/** When an unpaused job counts as overdue for /health (null: never). */
export function overdueAt (job: Pick<JobRecord, 'paused' | 'next_run_time' | 'misfire_grace_time'>): number | null {
  if (job.paused || job.next_run_time === null) return null
  return job.next_run_time + Math.max((job.misfire_grace_time ?? 60) * 1000, 1000)
}

/** The search key of `q`: ids and names are matched by case-insensitive prefix. */
export function searchKey (text: string): string {
  const key = text.toLowerCase()
  // The same string when nothing changed, so an index keeps one copy of a lowercase id, not two.
  return key === text ? text : key
}

export interface JobStoreQuery {
  /** Default: no limit. 0: count only. */
  limit?: number
  offset?: number
  /** scheduled = not paused. */
  state?: 'scheduled' | 'paused'
  /** Exact task name. */
  func?: string
  /** Case-insensitive prefix of the job's id or of its name (either matches). */
  q?: string
}

export interface JobPage {
  jobs: JobRecord[]
  /** Matches before offset/limit. */
  total: number
}

export interface StoreContext {
  log: { error: (obj: object, msg: string) => void, warn: (obj: object, msg: string) => void, info: (obj: object, msg: string) => void }
  clock: Clock
  /**
   * To call when the store's data was replaced under it (a deleted SQLite file reopened as a new
   * one): the scheduler upserts its boot-time `jobs` into it again.
   */
  reopened?: () => void
}

export interface StoreHealth {
  ok: boolean
  /** Why not, when not ok. */
  reason?: string
}

export interface AcquiredJob {
  job: JobRecord
  /** Live running runs of this job across every process (for max_instances). */
  running: number
  /** True when the job was claimed from a holder whose claim had expired. */
  takeover: boolean
}

export interface JobRelease {
  /** The claimed job. */
  id: string
  /** The version read at acquire time. */
  version: number
  next_run_time: number | null
  next_fire_time: number | null
  /** Delete the job (a trigger with no more fires). */
  remove: boolean
  runs: RunRecord[]
  historyLimit: number
}

export interface RunFinish {
  runId: string
  /**
   * The run's job, when the caller knows it (the core always does): an in-process store finds the
   * run through its job instead of keeping an index of running runs by id.
   */
  jobId?: string
  result: RunResult
}

export interface RunResult {
  /** `abandoned` is written by a process that gives up its own run (shutdown timeout). */
  status: 'success' | 'error' | 'missed' | 'abandoned'
  started_at: number | null
  finished_at: number
  error: RunRecord['error']
  duration_ms: number | null
  lag_ms: number | null
}

export interface SchedulerSharedState { paused: boolean }

export type StoreChange =
  | { type: 'job_added' | 'job_modified', jobId: string, nextRunTime: number | null }
  | { type: 'job_removed', jobId: string }
  | { type: 'scheduler_state', paused: boolean }
