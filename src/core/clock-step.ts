import type { JobStore } from '../store.js'
import { applyJitter, compileTrigger } from '../triggers/index.js'
import type { JobRecord } from '../types.js'
import type { ClockStep } from './clock-watch.js'

/**
 * A job's schedule after the wall clock stepped by `stepMs` (negative: back), or null when it
 * stays. Interval schedules count real elapsed time: their pending fire moves with the step, so
 * the gap between two fires stays one interval. Cron schedules follow the wall clock: after a step
 * back, the next wall time the expression names (it may name the same times again); after a step
 * forward, the fires stepped over follow the misfire rules, like any late fire. Date jobs follow
 * the wall clock too: nothing moves.
 */
export function scheduleAfterStep (job: JobRecord, stepMs: number, now: number): Pick<JobRecord, 'next_run_time' | 'next_fire_time'> | null {
  const { trigger } = job
  const nominal = job.next_fire_time
  if (job.paused || nominal === null || job.next_run_time === null) return null
  if (trigger.type === 'interval') {
    const moved = nominal + stepMs
    if (trigger.end_date !== null && moved > trigger.end_date) return null
    return { next_fire_time: moved, next_run_time: job.next_run_time + stepMs }
  }
  if (trigger.type === 'cron' && stepMs < 0) {
    const compiled = compileTrigger(trigger)
    const first = compiled.first(now)
    if (first === null || first >= nominal) return null
    return { next_fire_time: first, next_run_time: applyJitter(first, compiled.next(first), trigger.jitter) }
  }
  return null
}

/**
 * Moves the schedules of a store's jobs after a wall-clock step (see scheduleAfterStep). Only for a
 * store that can tell whether another process sharing it already did so for this step
 * (`claimClockStep`); returns the number of jobs moved, or null when it was not this process's to do.
 * A job changed meanwhile (a claim fired it, an API write) keeps what that write left.
 */
export async function rescheduleAfterStep (store: JobStore, step: ClockStep, now: number): Promise<number | null> {
  if (store.claimClockStep === undefined || !await store.claimClockStep(step.baseAfter)) return null
  const { jobs } = await store.queryJobs({ state: 'scheduled' })
  let moved = 0
  for (const job of jobs) {
    const schedule = scheduleAfterStep(job, step.ms, now)
    if (schedule === null) continue
    if (await store.updateJob({ ...job, ...schedule, next_run_time_given: null }, job.version) !== null) moved++
  }
  return moved
}
