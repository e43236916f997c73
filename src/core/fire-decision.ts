import type { AcquiredJob, JobRelease } from '../store.js'
import { applyJitter, compileTrigger } from '../triggers/index.js'
import type { JobRecord, RunRecord, Trigger, TriggerSpec } from '../types.js'
import { missedRun, newRun } from './run-records.js'

/** Fires the core could enumerate in one claim before it skips ahead (a long outage). */
const MAX_CATCH_UP = 1000
/** Missed fires recorded per claim (history keeps `historyLimit` anyway). */
const MAX_MISSED_RECORDS = 100

/**
 * Compiled triggers by spec object. An in-process store hands out the same (frozen) spec at every
 * claim of a job, so its trigger is compiled once rather than per fire; specs parsed anew (SQLite)
 * simply miss. Weak: a spec that is dropped takes its trigger with it.
 */
const compiled = new WeakMap<TriggerSpec, Trigger>()

function triggerOf (spec: TriggerSpec): Trigger {
  let trigger = compiled.get(spec)
  if (trigger === undefined) {
    trigger = compileTrigger(spec)
    if (Object.isFrozen(spec)) compiled.set(spec, trigger)
  }
  return trigger
}

/** What one claimed job does at a wakeup, decided before anything is written. */
export interface FireDecision {
  job: JobRecord
  /** Runs to start once the release is written. */
  runs: RunRecord[]
  /** Nominal times of the fires recorded as missed. */
  missed: number[]
  /** Fires skipped by max_instances. */
  blocked: number[]
  /** A long outage: the next fire was computed from now instead of enumerating every missed one. */
  skippedAhead: boolean
  /** The store write that makes the decision happen. */
  release: JobRelease
}

export interface DecideOptions {
  nodeId: string
  leaseMs: number
  historyLimit: number
}

/** The trigger of a one-shot: after its one fire there is none. */
const ONE_SHOT: Pick<Trigger, 'next' | 'first'> = { next: () => null, first: () => null }
/** Shared empty lists: most decisions miss, block and skip nothing. Never written to. */
const NONE = Object.freeze([]) as unknown as never[]

/**
 * What a claimed job does at `now`: which fires run, which are missed (later than
 * misfire_grace_time), coalescing, max_instances, and the job's next fire. A pure function of the
 * claim and the instant; nothing is written here.
 */
export function decideFire (claim: AcquiredJob, now: number, { nodeId, leaseMs, historyLimit }: DecideOptions): FireDecision {
  const { job } = claim
  const trigger = job.trigger.type === 'date' ? ONE_SHOT : triggerOf(job.trigger)
  const graceMs = job.misfire_grace_time === null ? Infinity : job.misfire_grace_time * 1000
  let runnable: number[] = NONE
  let missed: number[] = NONE
  let skippedAhead = false
  let nominal: number | null = job.next_fire_time ?? job.next_run_time
  let dueAt = job.next_run_time ?? nominal // jitter applies to the first fire only
  let seen = 0
  while (nominal !== null && dueAt !== null && dueAt <= now && seen < MAX_CATCH_UP) {
    // Literals for the first entry: an empty array's first push reserves room for 17.
    if (now - dueAt > graceMs) missed === NONE ? (missed = [nominal]) : missed.push(nominal)
    else runnable === NONE ? (runnable = [nominal]) : runnable.push(nominal)
    nominal = trigger.next(nominal)
    dueAt = nominal
    seen++
  }
  if (nominal !== null && nominal <= now) {
    // A very long outage: skip ahead instead of enumerating every fire.
    nominal = trigger.first(now)
    skippedAhead = true
  }
  const toRun = job.coalesce && runnable.length > 1 ? runnable.slice(-1) : runnable
  // Every run is a history row while it waits and runs: past historyLimit, the earliest are missed.
  const room = historyLimit - claim.running
  if (room > 0 && toRun.length > room) {
    if (missed === NONE) missed = []
    missed.push(...toRun.splice(0, toRun.length - room))
  }
  // The fires due now run as one instance, one after another (as APScheduler runs a job's missed
  // run times): max_instances limits concurrent instances, it never drops a catch-up fire.
  const starting = claim.running < job.max_instances && room > 0 ? toRun : NONE
  const blocked = starting.length > 0 ? NONE : toRun

  const jitter = job.trigger.type === 'date' ? null : job.trigger.jitter
  // The fire after next only bounds the jitter: not computed for the (usual) job without one.
  const nextRun = nominal === null || jitter === null || jitter <= 0 ? nominal : applyJitter(nominal, trigger.next(nominal), jitter)
  const recordMissed = missed.length > MAX_MISSED_RECORDS ? missed.slice(-MAX_MISSED_RECORDS) : missed
  const runs: RunRecord[] = new Array(recordMissed.length + starting.length)
  for (let i = 0; i < recordMissed.length; i++) runs[i] = missedRun(job, recordMissed[i] as number, now, nodeId)
  for (let i = 0; i < starting.length; i++) runs[recordMissed.length + i] = newRun(job, starting[i] as number, now, 'scheduled', nodeId, leaseMs)
  return {
    job,
    runs: recordMissed.length === 0 ? runs : runs.slice(recordMissed.length),
    missed,
    blocked,
    skippedAhead,
    release: {
      id: job.id,
      version: job.version,
      next_run_time: nextRun,
      next_fire_time: nominal,
      remove: nominal === null,
      runs,
      historyLimit
    }
  }
}

/** When a run of the decision is due to start: jitter moves only the first fire. */
export function dueAtOf (job: JobRecord, run: RunRecord): number {
  return run.scheduled_at === job.next_fire_time && job.next_run_time !== null ? job.next_run_time : run.scheduled_at
}
