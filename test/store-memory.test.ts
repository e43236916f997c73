import { test } from 'node:test'
import assert from 'node:assert/strict'
import { MemoryStore } from '../stores/memory.js'
import { newRunId } from '../src/core/run-id.js'
import { missedRun, newRun } from '../src/core/run-records.js'
import type { JobRecord, RunRecord } from '../src/types.js'
import { storeContract } from './store-contract.js'

storeContract('MemoryStore', async () => {
  const store = new MemoryStore()
  // Schedulers in one process share the instance itself.
  return { store, sibling: async () => store, cleanup: async () => { await store.close() } }
})

/*
 * The memory store packs finished runs whose run ids this process made (the contract tests use
 * ids of their own, which it keeps whole) and writes the record after a fire as one literal when
 * the record has the fields normalizeJob writes. These tests go through those paths.
 */

const BASE = 1_800_000_000_000
const LEASE = 30_000

/** A job record with the fields, in the order, that normalizeJob writes. */
function job (id: string): JobRecord {
  return {
    id,
    name: `job ${id}`,
    func: 'tick',
    args: [1],
    kwargs: {},
    trigger: { type: 'interval', weeks: 0, days: 0, hours: 0, minutes: 0, seconds: 1, start_date: BASE - 1000, end_date: null, jitter: null, timezone: 'UTC' },
    executor: 'default',
    misfire_grace_time: 1,
    coalesce: true,
    max_instances: 1,
    timeout: null,
    next_run_time: BASE,
    next_fire_time: BASE,
    paused: false,
    paused_reason: null,
    source: 'api',
    config_hash: null,
    version: 1,
    created_at: BASE - 60_000,
    updated_at: BASE - 60_000
  }
}

/** A finished run as the runner writes it: duration and lag derived from its times. */
function finished (jobId: string, scheduledAt: number, over: Partial<RunRecord> = {}): RunRecord {
  const startedAt = over.started_at !== undefined ? over.started_at : scheduledAt + 3
  const finishedAt = over.finished_at !== undefined ? over.finished_at : scheduledAt + 10
  return {
    run_id: newRunId(),
    job_id: jobId,
    scheduled_at: scheduledAt,
    started_at: startedAt,
    finished_at: finishedAt,
    status: 'success',
    error: null,
    node_id: 'node-a',
    trigger: 'scheduled',
    duration_ms: startedAt === null || finishedAt === null ? null : finishedAt - startedAt,
    lag_ms: startedAt === null ? null : startedAt - scheduledAt,
    lease_expires: null,
    ...over
  }
}

/** Oldest first, as the store orders a history: scheduled_at, started_at (null first), run_id. */
function byHistoryOrder (a: RunRecord, b: RunRecord): number {
  if (a.scheduled_at !== b.scheduled_at) return a.scheduled_at - b.scheduled_at
  if (a.started_at !== b.started_at) {
    if (a.started_at === null) return -1
    if (b.started_at === null) return 1
    return a.started_at - b.started_at
  }
  return a.run_id < b.run_id ? -1 : a.run_id > b.run_id ? 1 : 0
}

test('MemoryStore: a fire writes the record as it was with its next run and a new version, frozen', async () => {
  const store = new MemoryStore()
  const given = job('a')
  await store.addJob(given)
  const [claim] = await store.acquireDueJobs({ owner: 'node-a', now: BASE, leaseMs: LEASE, limit: 10 })
  assert.ok(claim !== undefined)
  assert.deepEqual(await store.releaseJobs('node-a', [{ id: 'a', version: 1, next_run_time: BASE + 1500, next_fire_time: BASE + 1000, remove: false, runs: [], historyLimit: 100 }]), [true])
  const after = await store.getJob('a')
  assert.deepEqual(after, { ...given, next_run_time: BASE + 1500, next_fire_time: BASE + 1000, version: 2 })
  assert.deepEqual(Object.keys(after as JobRecord), Object.keys(given))
  const [next] = await store.acquireDueJobs({ owner: 'node-a', now: BASE + 1500, leaseMs: LEASE, limit: 10 })
  assert.ok(next !== undefined && Object.isFrozen(next.job))
  assert.equal(next.job.version, 2)
})

test('MemoryStore: finished runs read back exactly as written, among running ones', async () => {
  const store = new MemoryStore()
  await store.addJob(job('a'))
  const [claim] = await store.acquireDueJobs({ owner: 'node-a', now: BASE, leaseMs: LEASE, limit: 10 })
  assert.ok(claim !== undefined)
  const ran = newRun(claim.job, BASE, BASE + 3, 'scheduled', 'node-a', LEASE)
  const missed = missedRun(claim.job, BASE - 1000, BASE + 3, 'node-a')
  assert.deepEqual(await store.releaseJobs('node-a', [{ id: 'a', version: 1, next_run_time: BASE + 1000, next_fire_time: BASE + 1000, remove: false, runs: [missed, ran], historyLimit: 100 }]), [true])
  // Fractional times, as a clock with sub-millisecond readings gives them.
  const success = { status: 'success' as const, started_at: BASE + 3.25, finished_at: BASE + 10.5, error: null, duration_ms: 7.25, lag_ms: 3.25 }
  assert.deepEqual(await store.finishRuns('node-a', [{ runId: ran.run_id, jobId: 'a', result: success }]), [true])

  const manual = newRun(claim.job, BASE + 500, BASE + 600, 'manual', 'node-b', LEASE)
  await store.insertRuns([manual], 100)
  const error = { name: 'TypeError', message: 'boom', stack: 'TypeError: boom\n    at task' }
  const failure = { status: 'error' as const, started_at: BASE + 600, finished_at: BASE + 700, error, duration_ms: 100, lag_ms: 100 }
  assert.deepEqual(await store.finishRuns('node-b', [{ runId: manual.run_id, jobId: 'a', result: failure }]), [true])
  // A run id of another form, and a duration other than the runner derives.
  const foreign = finished('a', BASE + 800, { run_id: 'imported-1', duration_ms: 99 })
  await store.insertRuns([foreign], 100)
  const lapsing = newRun(claim.job, BASE + 900, BASE + 900, 'scheduled', 'node-c', 50)
  const running = newRun(claim.job, BASE + 1000, BASE + 1000, 'scheduled', 'node-a', LEASE)
  await store.insertRuns([lapsing, running], 100)
  const [abandoned] = await store.expireRuns(BASE + 1000)
  assert.deepEqual(abandoned, { ...lapsing, status: 'abandoned', finished_at: BASE + 1000, lease_expires: null })

  const expected: RunRecord[] = [
    running,
    { ...lapsing, status: 'abandoned', finished_at: BASE + 1000, lease_expires: null },
    foreign,
    { ...manual, ...structuredClone(failure), lease_expires: null },
    { ...ran, ...success, lease_expires: null },
    missed
  ]
  const runs = await store.getRuns('a')
  assert.deepEqual(runs, expected)
  assert.deepEqual(await store.getRuns('a', 2), expected.slice(0, 2))
  // The caller's records and the store's are apart both ways.
  error.message = 'changed'
  ;(runs[3] as RunRecord).error!.name = 'changed'
  ;(runs[4] as RunRecord).status = 'error'
  assert.deepEqual(await store.getRuns('a'), expected)
})

test('MemoryStore: runs of one instant are ordered by start, then run id, finished or running', async () => {
  const store = new MemoryStore()
  await store.addJob(job('a'))
  const packed = [newRunId(), newRunId(), newRunId()].map((id) => finished('a', BASE, { run_id: id }))
  // '0' sorts before any run id this process makes, 'zz' after.
  const whole = ['0', 'zz'].map((id) => finished('a', BASE, { run_id: id }))
  const notStarted = finished('a', BASE, { status: 'missed', started_at: null })
  const later = finished('a', BASE, { started_at: BASE + 5 })
  const running = { ...newRun(job('a'), BASE, BASE + 3, 'scheduled', 'node-a', LEASE), run_id: `${packed[1]!.run_id.slice(0, -1)}~` }
  const all = [...packed, ...whole, notStarted, later, running]
  // Inserted newest first, so that each one goes before the ones already there.
  for (const run of [...all].sort(byHistoryOrder).reverse()) await store.insertRuns([run], 100)
  assert.deepEqual(await store.getRuns('a'), [...all].sort(byHistoryOrder).reverse())
})

test('MemoryStore: trims, replacements and removals keep histories exact (checked against a model)', async () => {
  const store = new MemoryStore()
  const jobs = ['a', 'b', 'c', 'd']
  for (const id of jobs) await store.addJob(job(id))
  const model = new Map<string, RunRecord[]>(jobs.map((id) => [id, []]))
  let seed = 7
  const random = (n: number): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % n }
  const check = async (): Promise<void> => {
    for (const id of jobs) assert.deepEqual(await store.getRuns(id), [...model.get(id)!].sort(byHistoryOrder).reverse(), `history of ${id}`)
  }
  // Many runs, trimmed, replaced and removed in random order.
  for (let step = 0; step < 6000; step++) {
    const id = jobs[random(jobs.length)] as string
    const runs = model.get(id)!
    const replaced = runs.length > 0 && random(10) === 0 ? runs[random(runs.length)] : undefined
    const run = finished(id, BASE + random(200) * 1000, {
      ...(replaced === undefined ? {} : { run_id: replaced.run_id }),
      ...(random(8) === 0 ? { status: 'missed', started_at: null, finished_at: BASE + 999_999 } : {}),
      ...(random(20) === 0 ? { status: 'error', error: { name: 'Error', message: `failed at ${step}`, stack: null } } : {}),
      ...(random(30) === 0 ? { run_id: `other-${step}` } : {}),
      ...(random(4) === 0 ? { node_id: `node-${random(3)}`, trigger: 'manual' } : {})
    })
    const limit = 5 + random(40)
    await store.insertRuns([run], limit)
    const kept = runs.filter((r) => r.run_id !== run.run_id)
    kept.push(run)
    kept.sort(byHistoryOrder)
    model.set(id, kept.slice(Math.max(0, kept.length - limit)))
    if (step % 1000 === 999) await check()
  }
  await check()
  assert.equal(await store.removeJob('b'), true)
  model.set('b', [])
  await check()
})
