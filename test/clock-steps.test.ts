/**
 * Steps of the wall clock (NTP, an operator, a restored VM): the injected ManualClock steps its
 * wall time (`step`) while its monotonic time and the timers go on, as a real host's do.
 */
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ManualClock, MemoryStore, SqliteStore, type JobStore, type TaskContext } from '../src/index.js'
import { T0, deferred, makeApp } from './helpers.js'

const s = (n: number): number => n * 1000
const HOUR = 3600_000

/** Outcome events of a scheduler, in order. */
function outcomes (app: Awaited<ReturnType<typeof makeApp>>['app']): Array<{ event: string, job_id: string }> {
  const out: Array<{ event: string, job_id: string }> = []
  for (const event of ['job_executed', 'job_error', 'job_missed']) {
    app.scheduler.on(event, (e: { job_id: string }) => out.push({ event, job_id: e.job_id }))
  }
  return out
}

describe('wall-clock steps', () => {
  for (const [name, makeStore] of [['memory', () => new MemoryStore()], ['sqlite', () => new SqliteStore({ path: ':memory:' })]] as Array<[string, () => JobStore]>) {
    test(`${name}: a run in flight when the wall clock steps forward an hour is not abandoned by its own process`, async () => {
      const gate = deferred()
      let started = 0
      const { app, clock, logs } = await makeApp({ store: makeStore(), leaseMs: 3000, tasks: { slow: async () => { started++; await gate.promise } } })
      const events = outcomes(app)
      await app.scheduler.addJob({ id: 'once', func: 'slow', trigger: 'date', run_date: new Date(T0 + s(5)).toISOString() })
      // Wakes the loop between two lease renewals, right after the step.
      await app.scheduler.addJob({ id: 'other', func: 'record', trigger: 'date', run_date: new Date(T0 + 5500).toISOString() })
      await clock.advance(s(5))
      assert.equal(started, 1)
      clock.step(HOUR)
      await clock.advance(s(5))
      assert.equal(app.scheduler.metrics.runs.abandoned, 0, 'its own run was not marked abandoned')
      gate.resolve()
      await app.scheduler.whenIdle()
      assert.deepEqual(events.filter((e) => e.job_id === 'once'), [{ event: 'job_executed', job_id: 'once' }], 'the date job ran once and its result was recorded')
      assert.equal(app.scheduler.metrics.runs.success, 1)
      assert.ok(!logs.some((l) => l.msg === 'run finished after its lease was lost; its result is not recorded'))
      await app.close()
    })

    test(`${name}: a step too small to be noticed (0.9 s with leaseMs 1000) does not make a process expire its own live run`, async () => {
      const gate = deferred()
      const { app, clock } = await makeApp({ store: makeStore(), leaseMs: 1000, tasks: { slow: async () => { await gate.promise } } })
      await app.scheduler.addJob({ id: 'long', func: 'slow', trigger: 'date', run_date: new Date(T0 + s(1)).toISOString() })
      // Wakes the loop at 1.9 s, before the lease renewal due at 2.0 s (renewals every 333 ms).
      await app.scheduler.addJob({ id: 'waker', func: 'record', trigger: 'date', run_date: new Date(T0 + 1900).toISOString(), misfire_grace_time: null })
      await clock.advance(1700)
      clock.step(900)
      await clock.advance(1000)
      assert.equal(app.scheduler.metrics.clockSteps, 0, 'below the threshold of a step')
      assert.equal(app.scheduler.metrics.runs.abandoned, 0, 'its lease was renewed before lapsed leases were expired')
      gate.resolve()
      await app.scheduler.whenIdle()
      assert.equal(app.scheduler.metrics.runs.success, 2)
      await app.close()
    })

    test(`${name}: a date job is never removed without a run or a missed record, whenever the clock steps forward`, async () => {
      const gate = deferred()
      const { app, clock } = await makeApp({
        store: makeStore(),
        leaseMs: 3000,
        executors: { default: { maxConcurrency: 1 } },
        tasks: { hold: async () => { await gate.promise } }
      })
      const events = outcomes(app)
      const at = (ms: number): string => new Date(T0 + ms).toISOString()
      await app.scheduler.addJob({ id: 'busy', func: 'hold', trigger: 'date', run_date: at(s(1)) }) // holds the only slot
      await app.scheduler.addJob({ id: 'queued', func: 'record', trigger: 'date', run_date: at(s(2)), misfire_grace_time: null }) // waits for it
      await app.scheduler.addJob({ id: 'later', func: 'record', trigger: 'date', run_date: at(s(30)) }) // due inside the hour stepped over
      await app.scheduler.addJob({ id: 'after', func: 'record', trigger: 'date', run_date: at(HOUR + s(60)) }) // due after it
      // Wakes the loop between two lease renewals, right after the step.
      await app.scheduler.addJob({ id: 'waker', func: 'record', trigger: 'date', run_date: at(2500), misfire_grace_time: null })
      await clock.advance(s(2))
      clock.step(HOUR)
      await clock.advance(s(10))
      gate.resolve()
      await clock.advance(s(60))
      await app.scheduler.whenIdle()
      const byJob = new Map(events.map((e) => [e.job_id, e.event]))
      assert.deepEqual(Object.fromEntries(byJob), { busy: 'job_executed', queued: 'job_executed', later: 'job_missed', after: 'job_executed', waker: 'job_executed' })
      assert.equal(events.length, 5, 'one outcome per date job')
      assert.deepEqual(app.scheduler.metrics.runs, { success: 4, error: 0, missed: 1, abandoned: 0 })
      assert.equal((await app.scheduler.queryJobs()).total, 0, 'all removed, each with its outcome')
      await app.close()
    })
  }

  test('a step is logged, counted in the metrics and shown in /health, which stays 200', async () => {
    const { app, clock, logs } = await makeApp({ apiEnabled: true })
    await clock.advance(s(2))
    let health = await app.inject({ method: 'GET', url: '/scheduler/health' })
    assert.deepEqual(health.json(), { status: 'ok', overdue: [] })
    clock.step(-HOUR)
    await clock.advance(s(2))
    clock.step(s(90))
    await clock.advance(s(2))
    const warnings = logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('the wall clock stepped'))
    assert.deepEqual(warnings.map((l) => [l.level, l.stepMs]), [[40, -HOUR], [40, s(90)]])
    health = await app.inject({ method: 'GET', url: '/scheduler/health' })
    assert.equal(health.statusCode, 200)
    const body = health.json()
    assert.equal(body.status, 'ok')
    assert.deepEqual({ ...body.clock_steps, last_at: typeof body.clock_steps.last_at }, { count: 2, last_at: 'string', last_ms: s(90) })
    assert.ok(Math.abs(Date.parse(body.clock_steps.last_at) - clock.now()) <= s(2))
    const metrics = (await app.inject({ method: 'GET', url: '/scheduler/metrics' })).body
    assert.match(metrics, /^apscheduler_clock_steps_total 2$/m)
    assert.match(metrics, /^apscheduler_clock_last_step_seconds 90$/m)
    // Slewing (NTP's gradual correction) is not a step: 0.5 ms per second, over a long sleep.
    const slewing = new (class extends ManualClock { override now (): number { return super.now() + (this.monotonic() - T0) * 0.0005 } })(T0)
    const quiet = await makeApp({ clock: slewing, maxSleepMs: 60_000 })
    await slewing.advance(4 * HOUR)
    assert.equal(quiet.app.scheduler.metrics.clockSteps, 0)
    await quiet.app.close()
    await app.close()
  })

  for (const direction of [-1, 1]) {
    const word = direction < 0 ? 'back' : 'forward'
    test(`after a step ${word} of an hour, interval jobs keep their real-time period and cron jobs follow the wall clock`, async () => {
      const { app, clock, calls } = await makeApp()
      const events = outcomes(app)
      await app.scheduler.addJob({ id: 'iv', func: 'record', trigger: 'interval', seconds: 10 })
      await app.scheduler.addJob({ id: 'cr', func: 'record', trigger: 'cron', second: '*/15' })
      await clock.advance(s(32))
      calls.length = 0
      events.length = 0
      const mono0 = clock.monotonic()
      clock.step(direction * HOUR)
      await clock.advance(s(60))
      await app.scheduler.whenIdle()
      const iv = calls.filter((c) => c.id === 'iv')
      const cr = calls.filter((c) => c.id === 'cr')
      // Every 10 s of real time, the first one 10 s after the last fire before the step (at +30 s).
      assert.deepEqual(iv.map((c) => c.at - clock.now() + clock.monotonic() - mono0), [s(8), s(18), s(28), s(38), s(48), s(58)])
      assert.ok(iv.every((c) => c.at === c.scheduledAt), 'on time, by the new wall clock')
      // At the wall clock's quarter minutes, from the first one after the step.
      assert.equal(cr.length, 4)
      assert.ok(cr.every((c) => c.at === c.scheduledAt && c.scheduledAt % s(15) === 0))
      assert.ok((cr[0]?.at as number) - (clock.now() - s(60)) <= s(15), 'the first one within 15 s of the step')
      assert.equal(events.filter((e) => e.event === 'job_missed' && e.job_id === 'iv').length, 0, 'no interval fire missed')
      // Forward: the cron fires stepped over are past their grace: missed, coalesced into one record per claim.
      assert.equal(events.filter((e) => e.event === 'job_missed' && e.job_id === 'cr').length, direction < 0 ? 0 : 240)
      assert.equal((await app.scheduler.getJobRuns('cr')).filter((r) => r.status === 'missed').length, direction < 0 ? 0 : 96)
      await app.close()
    })
  }

  test('processes sharing a store move each schedule once per step, and none expires another\'s live run meanwhile', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'apscheduler-clock-'))
    try {
      const path = join(dir, 'jobs.db')
      const cases: Array<[string, () => [JobStore, JobStore]]> = [
        ['MemoryStore', () => { const m = new MemoryStore(); return [m, m] }],
        // Two connections to one file, as two processes have.
        ['SqliteStore', () => [new SqliteStore({ path }), new SqliteStore({ path })]]
      ]
      for (const [name, makeStores] of cases) {
        const clock = new ManualClock(T0)
        const [storeA, storeB] = makeStores()
        const gate = deferred()
        let started = 0
        const tasks = { slow: async (_ctx: TaskContext) => { started++; await gate.promise } }
        // Two workers on one host: one wall clock, one store.
        const a = await makeApp({ clock, store: storeA, leaseMs: 6000, tasks })
        const b = await makeApp({ clock, store: storeB, leaseMs: 6000, tasks })
        const fires: number[] = []
        const record = (_: unknown): void => { fires.push(clock.monotonic()) }
        a.app.scheduler.task('mark', record)
        b.app.scheduler.task('mark', record)
        await a.app.scheduler.addJob({ id: 'iv', func: 'mark', trigger: 'interval', seconds: 10 })
        await a.app.scheduler.addJob({ id: 'long', func: 'slow', trigger: 'date', run_date: new Date(T0 + s(1)).toISOString() })
        await clock.advance(s(21))
        assert.equal(started, 1)
        const before = fires.length
        clock.step(-HOUR)
        await clock.advance(s(40))
        clock.step(2 * HOUR)
        await clock.advance(s(40))
        const after = fires.slice(before).map((m) => m - T0)
        assert.deepEqual(after, [s(30), s(40), s(50), s(60), s(70), s(80), s(90), s(100)], `${name}: every 10 s of real time, no fire lost or doubled`)
        const abandoned = a.app.scheduler.metrics.runs.abandoned + b.app.scheduler.metrics.runs.abandoned
        assert.equal(abandoned, 0, `${name}: the live run was not expired by either worker`)
        gate.resolve()
        await a.app.scheduler.whenIdle()
        assert.equal(a.app.scheduler.metrics.runs.success + b.app.scheduler.metrics.runs.success, 11)
        await b.app.close()
        await a.app.close()
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('after a step forward, a dead process\'s run is expired once leaseMs has passed, not before', async () => {
    const store = new MemoryStore()
    const { app, clock } = await makeApp({ store, leaseMs: 3000 })
    await app.scheduler.addJob({ id: 'j', func: 'record', trigger: 'date', run_date: new Date(T0 + 10 * HOUR).toISOString() })
    await store.insertRuns([{
      run_id: 'dead-run', job_id: 'j', scheduled_at: T0, started_at: T0, finished_at: null, status: 'running', error: null,
      node_id: 'a-dead-process', trigger: 'manual', duration_ms: null, lag_ms: null, lease_expires: T0 + s(3)
    }], 100)
    await clock.advance(s(1))
    clock.step(HOUR)
    await clock.advance(s(2))
    assert.equal((await store.getRuns('j'))[0]?.status, 'running', 'held while live processes renew at the new time')
    await clock.advance(s(2))
    assert.equal((await store.getRuns('j'))[0]?.status, 'abandoned')
    assert.equal(app.scheduler.metrics.runs.abandoned, 1)
    await app.close()
  })
})
