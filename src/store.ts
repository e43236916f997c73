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

  /** Inserts a job; throws ConflictingIdError when the id exists. Emits `job_added`. */
  addJob (job: JobRecord): Promise<void>
  getJob (id: string): Promise<JobRecord | null>
  /** All jobs, by next_run_time ascending, paused/finished (null) last, then by id. */
  getJobs (): Promise<JobRecord[]>
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
   * Atomically claims up to `limit` jobs with next_run_time <= now that are not paused and not
   * claimed by a live lease, in next_run_time order. Sets the claim (owner, now + leaseMs).
   */
  acquireDueJobs (opts: { owner: string, now: number, leaseMs: number, limit: number }): Promise<AcquiredJob[]>
  /**
   * Ends claims of `owner`, all in one step (one transaction, one round trip). Each release is
   * fenced on its own: it applies only when `owner` still holds that job's claim. When the job's
   * version still equals `version`, it also (atomically) inserts `runs`, sets next_run_time /
   * next_fire_time, or deletes the job when `remove` is set. When the version moved on (the job
   * was modified, paused or removed meanwhile) only the claim is dropped and nothing else is
   * written. Returns, per release in order, true when its runs were written.
   */
  releaseJobs (owner: string, releases: JobRelease[]): Promise<boolean[]>

  /** Inserts run records (manual runs), then trims the job's finished history to `historyLimit`. */
  insertRuns (runs: RunRecord[], historyLimit: number): Promise<void>
  /** Extends the leases of `owner`'s running runs; returns the ids it still holds. */
  renewRunLeases (owner: string, runIds: string[], leaseExpires: number): Promise<string[]>
  /**
   * Finishes a run. Fenced: applies only while the run is `running` and held by `owner`.
   * Returns false (writing nothing) otherwise. History lives with its job: when the job no longer
   * exists, the finished run record is deleted instead of kept.
   */
  finishRun (runId: string, owner: string, result: RunResult): Promise<boolean>
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
   * a running run's lease. Null when there is nothing.
   */
  nextWakeTime (now: number): Promise<number | null>

  /** Scheduler-wide state shared by every process using the store. */
  getSchedulerState (): Promise<SchedulerSharedState>
  /** Emits `scheduler_state`. */
  setSchedulerState (state: SchedulerSharedState): Promise<void>

  /** Hears changes (in-process at least). Returns an unsubscribe function. */
  subscribe (listener: (change: StoreChange) => void): () => void
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
