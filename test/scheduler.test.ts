import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { ManualClock, MemoryStore, type JobRelease, type TaskContext } from '../src/index.js'
import { T0, deferred, makeApp } from './helpers.js'

const s = (n: number): number => n * 1000

describe('scheduler core', () => {
  test('an interval job fires at exact nominal times, one run per fire, recorded in history', async () => {
    const { app, clock, calls } = await makeApp()
    await app.scheduler.addJob({ id: 'tick', func: 'record', trigger: 'interval', seconds: 10, args: [1, 'a'] })
    await clock.advance(s(35))
    await app.scheduler.whenIdle()
    assert.deepEqual(calls.map((c) => c.scheduledAt - T0), [s(10), s(20), s(30)])
    assert.deepEqual(calls.map((c) => c.at - c.scheduledAt), [0, 0, 0], 'no lag under a manual clock')
    assert.deepEqual(calls[0]?.args, [1, 'a'])
    const runs = await app.scheduler.getJobRuns('tick')
    assert.equal(runs.length, 3)
    assert.ok(runs.every((r) => r.status === 'success' && r.trigger === 'scheduled' && r.lag_ms === 0))
    assert.equal(runs[0]?.scheduled_at, '2030-01-01T00:00:30+00:00', 'newest first')
    assert.equal((await app.scheduler.getJob('tick'))?.next_run_time, '2030-01-01T00:00:40+00:00')
    await app.close()
  })

  test('an early timer wakeup neither skips a fire nor delays it', async () => {
    // Node timers can fire a millisecond early; this clock always does.
    class EarlyClock extends ManualClock {
      override setTimeout (fn: () => void, ms: number): unknown { return super.setTimeout(fn, ms > 1 ? ms - 1 : ms) }
    }
    const clock = new EarlyClock(T0 + 500)
    const { app, calls } = await makeApp({ clock, maxSleepMs: 60_000 })
    await app.scheduler.addJob({ id: 'sec', func: 'record', trigger: 'cron', second: '*' })
    await clock.advance(s(10))
    await app.scheduler.whenIdle()
    assert.deepEqual(calls.map((c) => (c.scheduledAt - T0) / 1000), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    assert.ok(calls.every((c) => c.at === c.scheduledAt), 'each fire started exactly on time')
    await app.close()
  })

  test('a wall clock stepped back does not stall the loop longer than maxSleepMs', async () => {
    // Node timers run on a monotonic clock; only the wall clock (now()) steps back.
    class SteppedClock extends ManualClock {
      offset = 0
      override now (): number { return super.now() + this.offset }
    }
    // A store that hears nothing, as a SQLite file shared with another process: only polling sees its changes.
    class DeafStore extends MemoryStore {
      override subscribe (): () => void { return () => {} }
    }
    const clock = new SteppedClock(T0)
    const { app, calls } = await makeApp({ clock, store: new DeafStore() })
    await clock.advance(100)
    clock.offset = -3600_000 // an NTP step back of one hour
    const due = clock.now() + s(2)
    await app.scheduler.addJob({ id: 'other', func: 'record', trigger: 'date', run_date: new Date(due).toISOString() })
    await clock.advance(s(5))
    await app.scheduler.whenIdle()
    assert.deepEqual(calls.map((c) => c.at - due), [0], 'the job added meanwhile fired on time')
    await app.close()
  })

  test('a claim that fails to fire does not hold back the other due jobs', async () => {
    class FlakyStore extends MemoryStore {
      failures = 1
      override async releaseJobs (owner: string, releases: JobRelease[]): Promise<boolean[]> {
        if (releases.some((r) => r.id === 'a-flaky') && this.failures-- > 0) throw new Error('connection reset')
        return await super.releaseJobs(owner, releases)
      }
    }
    const { app, clock, calls } = await makeApp({ store: new FlakyStore() })
    await app.scheduler.addJob({ id: 'a-flaky', func: 'record', trigger: 'date', run_date: '2030-01-01T00:00:05+00:00' })
    await app.scheduler.addJob({ id: 'b-good', func: 'record', trigger: 'date', run_date: '2030-01-01T00:00:05+00:00' })
    await clock.advance(s(10))
    await app.scheduler.whenIdle()
    assert.deepEqual(calls.filter((c) => c.id === 'b-good').map((c) => c.at - T0), [s(5)], 'fired on time, not after the lease lapsed')
    await app.close()
  })

  test('a failing job store does not stop the jobs of the other stores', async () => {
    class BrokenStore extends MemoryStore {
      override async expireRuns (): Promise<never> { throw new Error('store unreachable') }
    }
    const { app, clock, calls } = await makeApp({ jobstores: { broken: new BrokenStore(), good: new MemoryStore() } })
    await app.scheduler.addJob({ id: 'g', func: 'record', trigger: 'interval', seconds: 1, jobstore: 'good' })
    await clock.advance(s(3))
    await app.scheduler.whenIdle()
    assert.deepEqual(calls.map((c) => c.at - T0), [s(1), s(2), s(3)])
    await app.close()
  })

  test('a run still waiting for an executor slot when the scheduler shuts down never starts', async () => {
    let starts = 0
    const { app, clock } = await makeApp({
      executors: { default: { maxConcurrency: 1 } },
      tasks: {
        hang: async (ctx: TaskContext) => {
          starts++
          if (!ctx.signal.aborted) await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()))
        }
      }
    })
    await app.scheduler.addJob({ id: 'q', func: 'hang', trigger: 'interval', seconds: 10, coalesce: false, max_instances: 3, misfire_grace_time: null })
    clock.jump(s(30)) // three fires due at once: one runs, two wait for the only slot
    await clock.advance(0)
    assert.equal(starts, 1)
    await app.scheduler.shutdown({ wait: false })
    await app.scheduler.whenIdle()
    assert.equal(starts, 1, 'the waiting runs were abandoned, not started after shutdown')
    const runs = await app.scheduler.getJobRuns('q')
    assert.deepEqual(runs.map((r) => r.status), ['abandoned', 'abandoned', 'abandoned'])
    await app.close()
  })

  test('fires later than misfire_grace_time are recorded as missed and skipped', async () => {
    const { app, clock, calls } = await makeApp()
    await app.scheduler.addJob({ id: 'm', func: 'record', trigger: 'interval', seconds: 10, misfire_grace_time: 1 })
    const missed: unknown[] = []
    app.scheduler.on('job_missed', (e) => missed.push(e))
    clock.jump(s(25)) // the process was suspended: fires at +10 and +20 pass unseen
    await clock.advance(0)
    await app.scheduler.whenIdle()
    assert.equal(calls.length, 0)
    assert.equal(missed.length, 2)
    const runs = await app.scheduler.getJobRuns('m')
    assert.deepEqual(runs.map((r) => r.status), ['missed', 'missed'])
    await clock.advance(s(5))
    await app.scheduler.whenIdle()
    assert.deepEqual(calls.map((c) => c.scheduledAt - T0), [s(30)], 'the schedule goes on')
    await app.close()
  })

  test('coalesce collapses several due fires into one run; without it each runs', async () => {
    for (const coalesce of [true, false]) {
      const { app, clock, calls } = await makeApp()
      await app.scheduler.addJob({ id: 'c', func: 'record', trigger: 'interval', seconds: 10, misfire_grace_time: null, coalesce, max_instances: 5 })
      clock.jump(s(35))
      await clock.advance(0)
      await app.scheduler.whenIdle()
      assert.deepEqual(calls.map((c) => c.scheduledAt - T0), coalesce ? [s(30)] : [s(10), s(20), s(30)], `coalesce=${coalesce}`)
      await app.close()
    }
  })

  test('without coalesce, due fires run as one instance, one after another, even with max_instances 1', async () => {
    const order: number[] = []
    let running = 0
    let peak = 0
    const { app, clock } = await makeApp({
      tasks: {
        step: async (ctx: TaskContext) => {
          running++
          peak = Math.max(peak, running)
          await new Promise((resolve) => setImmediate(resolve))
          order.push(ctx.scheduledAt.getTime() - T0)
          running--
        }
      }
    })
    const blocked: unknown[] = []
    app.scheduler.on('job_max_instances', (e) => blocked.push(e))
    await app.scheduler.addJob({ id: 'c', func: 'step', trigger: 'interval', seconds: 10, misfire_grace_time: null, coalesce: false })
    clock.jump(s(35)) // e.g. the claim's holder died and its lease blocked these fires
    await clock.advance(0)
    await app.scheduler.whenIdle()
    assert.deepEqual(order, [s(10), s(20), s(30)], 'every fire ran, in order')
    assert.equal(peak, 1, 'one at a time')
    assert.deepEqual(blocked, [])
    assert.deepEqual((await app.scheduler.getJobRuns('c')).map((r) => r.status), ['success', 'success', 'success'])
    await app.close()
  })

  test('max_instances blocks extra concurrent runs and emits job_max_instances', async () => {
    const gate = deferred()
    let running = 0
    let peak = 0
    const { app, clock } = await makeApp({
      tasks: { slow: async () => { running++; peak = Math.max(peak, running); await gate.promise; running-- } }
    })
    const blocked: unknown[] = []
    app.scheduler.on('job_max_instances', (e) => blocked.push(e))
    await app.scheduler.addJob({ id: 'slow', func: 'slow', trigger: 'interval', seconds: 1, max_instances: 1 })
    await clock.advance(s(4))
    assert.equal(peak, 1)
    assert.equal(blocked.length, 3)
    gate.resolve()
    await app.scheduler.whenIdle()
    const runs = await app.scheduler.getJobRuns('slow')
    assert.deepEqual(runs.map((r) => r.status), ['success'])
    await app.close()
  })

  test('pauseJob keeps a reason and stops fires; resumeJob clears it and reschedules from now', async () => {
    const { app, clock, calls } = await makeApp()
    await app.scheduler.addJob({ id: 'p', func: 'record', trigger: 'interval', seconds: 10 })
    const paused = await app.scheduler.pauseJob('p', 'maintenance')
    assert.equal(paused.next_run_time, null)
    assert.equal(paused.paused, true)
    assert.equal(paused.paused_reason, 'maintenance')
    await clock.advance(s(25))
    assert.equal(calls.length, 0)
    const resumed = await app.scheduler.resumeJob('p')
    assert.equal(resumed.paused_reason, null)
    assert.equal(resumed.next_run_time, '2030-01-01T00:00:30+00:00', 'next fire on the original interval grid')
    await clock.advance(s(6))
    await app.scheduler.whenIdle()
    assert.equal(calls.length, 1)
    await app.close()
  })

  test('runJob runs now through the executor and history, without moving the schedule or a pause', async () => {
    const { app, clock, calls } = await makeApp()
    await app.scheduler.addJob({ id: 'r', func: 'record', trigger: 'interval', minutes: 5 })
    await clock.advance(s(7))
    const before = await app.scheduler.getJob('r')
    const { job } = await app.scheduler.runJob('r')
    assert.equal(job.next_run_time, before?.next_run_time)
    assert.equal(calls.length, 1)
    assert.equal(calls[0]?.scheduledAt, T0 + s(7))
    await app.scheduler.pauseJob('r')
    await app.scheduler.runJob('r')
    assert.equal(calls.length, 2)
    assert.equal((await app.scheduler.getJob('r'))?.paused, true, 'still paused')
    const runs = await app.scheduler.getJobRuns('r')
    assert.deepEqual(runs.map((r) => r.trigger), ['manual', 'manual'])
    await app.close()
  })

  test('runJob rejects with the task error; wait:false returns a run id at once', async () => {
    const { app, clock } = await makeApp()
    await app.scheduler.addJob({ id: 'f', func: 'fail', trigger: 'interval', hours: 1 })
    await assert.rejects(app.scheduler.runJob('f'), /boom/)
    await clock.advance(1)
    const { run_id: runId } = await app.scheduler.runJob('f', { wait: false })
    await app.scheduler.whenIdle()
    const runs = await app.scheduler.getJobRuns('f')
    assert.equal(runs[0]?.run_id, runId)
    assert.equal(runs[0]?.status, 'error')
    assert.deepEqual({ name: runs[0]?.error?.name, message: runs[0]?.error?.message }, { name: 'TypeError', message: 'boom' })
    assert.match(runs[0]?.error?.stack ?? '', /boom/)
    await app.close()
  })

  test('a failing job never stops the scheduler; events report it', async () => {
    const { app, clock, calls } = await makeApp()
    const errors: unknown[] = []
    app.scheduler.on('job_error', (e) => errors.push(e))
    app.scheduler.on('job_executed', () => { throw new Error('a broken listener') })
    await app.scheduler.addJob({ id: 'bad', func: 'fail', trigger: 'interval', seconds: 1 })
    await app.scheduler.addJob({ id: 'good', func: 'record', trigger: 'interval', seconds: 1 })
    await clock.advance(s(3))
    await app.scheduler.whenIdle()
    assert.equal(errors.length, 3)
    assert.equal(calls.length, 3)
    assert.equal(app.scheduler.state, 'running')
    await app.close()
  })

  test('a date job fires once and is then removed; a past date fires now', async () => {
    const { app, clock, calls } = await makeApp()
    const removed: string[] = []
    app.scheduler.on('job_removed', (e: { job_id: string }) => removed.push(e.job_id))
    await app.scheduler.addJob({ id: 'once', func: 'record', trigger: 'date', run_date: '2030-01-01T00:00:05+00:00' })
    await app.scheduler.addJob({ id: 'past', func: 'record', trigger: 'date', run_date: '2020-01-01T00:00:00+00:00' })
    await app.scheduler.addJob({ id: 'now', func: 'record' })
    await clock.advance(s(10))
    await app.scheduler.whenIdle()
    assert.deepEqual(calls.map((c) => c.id).sort(), ['now', 'once', 'past'])
    assert.equal(calls.find((c) => c.id === 'once')?.scheduledAt, T0 + s(5))
    assert.deepEqual(removed.sort(), ['now', 'once', 'past'])
    assert.equal(await app.scheduler.getJob('once'), null)
    await app.close()
  })

  test('scheduler pause stops firing everywhere; resume applies misfire rules', async () => {
    const store = new MemoryStore()
    const a = await makeApp({ store })
    const b = await makeApp({ store, clock: a.clock })
    await a.app.scheduler.addJob({ id: 'x', func: 'record', trigger: 'interval', seconds: 10, misfire_grace_time: 1 })
    await a.app.scheduler.pause()
    assert.equal(a.app.scheduler.state, 'paused')
    assert.equal(a.app.scheduler.running, true, 'running stays true while paused, as upstream')
    await a.clock.advance(s(25))
    assert.equal(a.calls.length + b.calls.length, 0, 'the other process sharing the store is paused too')
    assert.equal(b.app.scheduler.state, 'paused')
    await b.app.scheduler.resume()
    await a.clock.advance(s(6))
    await a.app.scheduler.whenIdle()
    await b.app.scheduler.whenIdle()
    assert.deepEqual([...a.calls, ...b.calls].map((c) => c.scheduledAt - T0), [s(30)])
    await a.app.close()
    await b.app.close()
  })

  test('two schedulers sharing a store run each fire exactly once', async () => {
    const store = new MemoryStore()
    const a = await makeApp({ store })
    const b = await makeApp({ store, clock: a.clock })
    for (let i = 0; i < 20; i++) await a.app.scheduler.addJob({ id: `j${i}`, func: 'record', trigger: 'interval', seconds: 1 })
    await a.clock.advance(s(10))
    await a.app.scheduler.whenIdle()
    await b.app.scheduler.whenIdle()
    const all = [...a.calls, ...b.calls]
    const keys = new Set(all.map((c) => `${c.id}@${c.scheduledAt}`))
    assert.equal(all.length, 200)
    assert.equal(keys.size, 200, 'no duplicates')
    await a.app.close()
    await b.app.close()
  })

  test('history keeps the last historyLimit runs', async () => {
    // At its time (a fire decided ahead shows in history too: test/look-ahead.test.ts).
    const { app, clock } = await makeApp({ historyLimit: 3, lookAheadMs: 0 })
    await app.scheduler.addJob({ id: 'h', func: 'record', trigger: 'interval', seconds: 1 })
    await clock.advance(s(6))
    await app.scheduler.whenIdle()
    const runs = await app.scheduler.getJobRuns('h')
    assert.deepEqual(runs.map((r) => r.scheduled_at), ['2030-01-01T00:00:06+00:00', '2030-01-01T00:00:05+00:00', '2030-01-01T00:00:04+00:00'])
    await app.close()
  })

  test('jitter delays a fire but never past the next one; scheduledAt stays nominal', async () => {
    const { app, clock, calls } = await makeApp()
    await app.scheduler.addJob({ id: 'j', func: 'record', trigger: 'interval', seconds: 10, jitter: 30 })
    await clock.advance(s(60))
    await app.scheduler.whenIdle()
    assert.deepEqual(calls.map((c) => c.scheduledAt - T0), [s(10), s(20), s(30), s(40), s(50)])
    for (const c of calls) assert.ok(c.at >= c.scheduledAt && c.at < c.scheduledAt + s(10), 'jitter stays below the next fire')
    await app.close()
  })

  test('closing Fastify waits for running tasks (bounded), aborts the rest and releases their leases', async () => {
    let aborted = false
    const { app, clock } = await makeApp({
      shutdownTimeoutMs: 50,
      tasks: { hang: async (ctx) => { await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => { aborted = true; resolve() })) } }
    })
    await app.scheduler.addJob({ id: 'hang', func: 'hang', trigger: 'interval', seconds: 1 })
    await clock.advance(s(1))
    const runsBefore = await app.scheduler.getJobRuns('hang')
    assert.equal(runsBefore[0]?.status, 'running')
    await app.scheduler.shutdown({ wait: true })
    assert.equal(aborted, true)
    const runs = await app.scheduler.getJobRuns('hang')
    assert.equal(runs[0]?.status, 'abandoned')
    assert.equal(app.scheduler.metrics.runs.abandoned, 1, 'counted in the metrics once')
    assert.equal(app.scheduler.state, 'stopped')
    await app.scheduler.start()
    assert.ok(await app.scheduler.getJob('hang'), 'memory-store jobs survive shutdown and start')
    await app.close()
  })

  test('a stale process cannot record a result after its run lease was taken over', async () => {
    const store = new MemoryStore()
    const gate = deferred()
    const a = await makeApp({ store, leaseMs: 3000, tasks: { slow: async () => { await gate.promise } } })
    await a.app.scheduler.addJob({ id: 'gc', func: 'slow', trigger: 'date', run_date: '2030-01-01T00:00:01+00:00' })
    await a.clock.advance(s(1))
    const [run] = await store.getRuns('gc')
    assert.equal(run?.status, 'running')
    // Another process sees the lease lapse (this one was frozen, e.g. a long GC pause).
    const abandoned = await store.expireRuns(T0 + s(60))
    assert.equal(abandoned.length, 1)
    gate.resolve()
    await a.app.scheduler.whenIdle()
    const runs = await store.getRuns('gc')
    assert.ok(runs.every((r) => r.status !== 'success'), 'the late result was not written')
    await a.app.close()
  })

  test('a waiting run whose lease was taken over records no miss when it finally gets a slot', async () => {
    const store = new MemoryStore()
    const gate = deferred()
    const { app, clock } = await makeApp({ store, leaseMs: 3000, executors: { default: { maxConcurrency: 1 } }, tasks: { slow: async () => { await gate.promise } } })
    const missed: unknown[] = []
    app.scheduler.on('job_missed', (e) => missed.push(e))
    await app.scheduler.addJob({ id: 'q', func: 'slow', trigger: 'interval', seconds: 10, coalesce: false, max_instances: 2, misfire_grace_time: 15 })
    clock.jump(s(20)) // two fires due: one runs, one waits for the slot
    await clock.advance(0)
    // This process froze; another one saw both leases lapse and recorded the runs abandoned.
    clock.jump(s(20))
    assert.equal((await store.expireRuns(clock.now())).length, 2)
    gate.resolve() // the waiting run now starts, later than its grace
    await app.scheduler.whenIdle()
    assert.deepEqual(missed, [], 'its outcome belongs to the process that took it over')
    assert.equal(app.scheduler.metrics.runs.missed, 0)
    const runs = (await store.getRuns('q')).filter((r) => r.scheduled_at <= T0 + s(20))
    assert.deepEqual(runs.map((r) => r.status), ['abandoned', 'abandoned'])
    await app.close()
  })

  test('getNextRunTimes lists upcoming fires in the job timezone', async () => {
    const { app } = await makeApp()
    await app.scheduler.addJob({ id: 'n', func: 'record', trigger: 'cron', hour: '9', minute: '30', timezone: 'Europe/Berlin' })
    assert.deepEqual(await app.scheduler.getNextRunTimes('n', 2), ['2030-01-01T09:30:00+01:00', '2030-01-02T09:30:00+01:00'])
    await assert.rejects(app.scheduler.getNextRunTimes('n', 0), /count/)
    await app.close()
  })
})
