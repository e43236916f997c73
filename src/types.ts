/**
 * Shapes shared by triggers, stores and the scheduler core.
 * Every instant is UTC epoch milliseconds; wall-clock fields are interpreted in `timezone`.
 */

export const CRON_FIELDS = ['year', 'month', 'day', 'week', 'day_of_week', 'hour', 'minute', 'second'] as const
export type CronField = typeof CRON_FIELDS[number]

/** Offsets (seconds east of UTC) that dates were given with explicitly, to write them back so. */
export type GivenOffsets = Partial<Record<'run_date' | 'start_date' | 'end_date', number>>

export interface DateTriggerSpec {
  type: 'date'
  run_date: number
  timezone: string
  offsets?: GivenOffsets
}

export interface IntervalTriggerSpec {
  type: 'interval'
  /** As given (may be fractional); only used for output. */
  weeks: number
  days: number
  hours: number
  minutes: number
  seconds: number
  /** Resolved at creation: start_date if given, else creation time + interval. */
  start_date: number
  end_date: number | null
  jitter: number | null
  timezone: string
  offsets?: GivenOffsets
}

export interface CronTriggerSpec {
  type: 'cron'
  /** The APScheduler fields exactly as given (strings), or absent. */
  fields: Partial<Record<CronField, string>>
  /** A standard crontab string, when the job was defined with `crontab`. */
  crontab: string | null
  start_date: number | null
  end_date: number | null
  jitter: number | null
  timezone: string
  offsets?: GivenOffsets
  /**
   * When this schedule began (creation or the last trigger change). With start_date it decides
   * which occurrence of a wall time repeated by a DST fall-back fires. Absent in older records.
   */
  origin?: number
}

export type TriggerSpec = DateTriggerSpec | IntervalTriggerSpec | CronTriggerSpec
export type TriggerType = TriggerSpec['type']

/** A compiled trigger: pure time arithmetic, no timers. */
export interface Trigger {
  readonly spec: TriggerSpec
  /** The first fire at or after `now` (a past date trigger returns its run date). Null = never. */
  first (now: number): number | null
  /** The fire strictly after `previous` (a nominal fire time). Null = no more fires. */
  next (previous: number): number | null
}

export type JobSource = 'config' | 'api' | 'code'

/** What a store persists for one job. Stores treat it as data; only the core interprets it. */
export interface JobRecord {
  id: string
  name: string
  func: string
  args: unknown[]
  kwargs: Record<string, unknown>
  trigger: TriggerSpec
  executor: string
  /** Seconds; null = no limit. */
  misfire_grace_time: number | null
  coalesce: boolean
  max_instances: number
  /** Seconds a run may take (null: no limit). Absent in records written before it existed. */
  timeout?: number | null
  /** When the job is next due, jitter included. Null while paused or when no fires remain. */
  next_run_time: number | null
  /** The nominal fire time (before jitter) that `next_run_time` belongs to. */
  next_fire_time: number | null
  /** A next_run_time given with an explicit offset: written back with it while it still applies. */
  next_run_time_given?: { at: number, offset: number } | null
  paused: boolean
  paused_reason: string | null
  source: JobSource
  /** Hash of the boot-time definition last applied (config jobs), to upsert without undoing API changes. */
  config_hash: string | null
  /** Bumped by the store on every update; lets a claim notice that the job changed under it. */
  version: number
  created_at: number
  updated_at: number
}

export type RunStatus = 'running' | 'success' | 'error' | 'missed' | 'abandoned'

export interface RunError { name: string, message: string, stack: string | null }

export interface RunRecord {
  run_id: string
  job_id: string
  /** Nominal fire time (before jitter). */
  scheduled_at: number
  started_at: number | null
  finished_at: number | null
  status: RunStatus
  error: RunError | null
  node_id: string
  trigger: 'scheduled' | 'manual'
  duration_ms: number | null
  /** started_at - scheduled_at. */
  lag_ms: number | null
  /** While running: the lease; a run whose lease lapses is marked `abandoned` by whoever notices. */
  lease_expires: number | null
}
