import { formatDate } from '../time.js'
import { capError } from './task-error.js'
import { newRunId } from './run-id.js'
import type { JobRecord, RunRecord } from '../types.js'

/** A run as the API returns it (dates as ISO strings in the job's timezone). */
export interface RunInfo {
  run_id: string
  job_id: string
  scheduled_at: string
  started_at: string | null
  finished_at: string | null
  status: RunRecord['status']
  error: RunRecord['error']
  node_id: string
  trigger: RunRecord['trigger']
  duration_ms: number | null
  lag_ms: number | null
}

/** A `running` record with its lease, written before the task starts. */
export function newRun (job: JobRecord, scheduledAt: number, now: number, trigger: RunRecord['trigger'], nodeId: string, leaseMs: number): RunRecord {
  return {
    run_id: newRunId(),
    job_id: job.id,
    scheduled_at: scheduledAt,
    started_at: now,
    finished_at: null,
    status: 'running',
    error: null,
    node_id: nodeId,
    trigger,
    duration_ms: null,
    lag_ms: null,
    lease_expires: now + leaseMs
  }
}

/** A fire skipped because it was later than its misfire grace. */
export function missedRun (job: JobRecord, scheduledAt: number, now: number, nodeId: string): RunRecord {
  return {
    ...newRun(job, scheduledAt, now, 'scheduled', nodeId, 0),
    started_at: null,
    finished_at: now,
    status: 'missed',
    lease_expires: null
  }
}

export function runToInfo (run: RunRecord, timezone: string): RunInfo {
  const fmt = (ms: number | null): string | null => ms === null ? null : formatDate(ms, timezone)
  return {
    run_id: run.run_id,
    job_id: run.job_id,
    scheduled_at: formatDate(run.scheduled_at, timezone),
    started_at: fmt(run.started_at),
    finished_at: fmt(run.finished_at),
    status: run.status,
    error: capError(run.error),
    node_id: run.node_id,
    trigger: run.trigger,
    duration_ms: run.duration_ms,
    lag_ms: run.lag_ms
  }
}
