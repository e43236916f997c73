import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir, hostname } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import scheduler, { ManualClock, MemoryStore, SqliteStore, type SchedulerPluginOptions } from '../src/index.js'
import { T0, makeApp } from './helpers.js'

async function registerError (opts: Record<string, unknown>): Promise<string> {
  const app = Fastify()
  try {
    await app.register(scheduler, opts as SchedulerPluginOptions)
    await app.ready()
  } catch (err) {
    return (err as Error).message
  } finally {
    await app.close().catch(() => {})
  }
  return 'no error'
}

describe('plugin options', () => {
  test('invalid options fail at register time with a message that says what to fix', async () => {
    assert.match(await registerError({ leaseMs: 10 }), /option 'leaseMs' must be an integer >= 1000/)
    assert.match(await registerError({ timezone: 'Mars/Base' }), /option 'timezone' must be an IANA time zone/)
    assert.match(await registerError({ store: new MemoryStore(), jobstores: { default: new MemoryStore() } }), /'store' and 'jobstores' cannot both be given/)
    assert.match(await registerError({ jobStores: {} }), /option 'jobStores' is not an option of fastify-apscheduler/)
    assert.match(await registerError({ store: {} }), /option 'store' must be a JobStore; it lacks/)
    assert.match(await registerError({ executors: { default: { maxConcurrency: 0 } } }), /executors.default.maxConcurrency' must be an integer >= 1/)
    assert.match(await registerError({ apiPrefix: 'scheduler/' }), /option 'apiPrefix' must be ''/)
    assert.match(await registerError({ jobs: [{ func: 'x' }] }), /jobs\[0\]' needs an 'id'/)
    assert.match(await registerError({ jobs: [{ id: 'a', func: 'nope', trigger: 'interval', seconds: 1 }] }), /jobs\[0\]' \(id a\): func: 'nope' is not a registered task/)
    assert.match(await registerError({ jobs: [{ id: 'a', func: 'x', trigger: 'cron', hour: '25' }], tasks: { x: () => {} } }), /jobs\[0\].*hour/)
    assert.match(await registerError({ jobDefaults: { misfire_grace_time: -1 } }), /jobDefaults.misfire_grace_time/)
  })

  test('the REST API is off unless apiEnabled; then it is served under apiPrefix only', async () => {
    const off = Fastify()
    await off.register(scheduler, { autoStart: false, clock: new ManualClock(T0) })
    await off.ready()
    for (const url of ['/scheduler', '/scheduler/jobs', '/jobs', '/']) assert.equal((await off.inject(url)).statusCode, 404, url)
    assert.equal(off.printRoutes().trim(), '(empty tree)', 'no routes at all')
    await off.close()

    const on = Fastify()
    await on.register(scheduler, { apiEnabled: true, apiPrefix: '/ops/cron', autoStart: false, clock: new ManualClock(T0) })
    await on.ready()
    assert.equal((await on.inject('/ops/cron')).statusCode, 200)
    assert.equal((await on.inject('/ops/cron/jobs')).statusCode, 200)
    assert.equal((await on.inject('/scheduler')).statusCode, 404)
    await on.close()
  })

  test('the timezone option is written the IANA way', async () => {
    const app = Fastify()
    await app.register(scheduler, { timezone: 'europe/berlin', autoStart: false, clock: new ManualClock(T0), tasks: { t: () => {} } })
    await app.ready()
    assert.equal(app.scheduler.timezone, 'Europe/Berlin')
    assert.equal((await app.scheduler.addJob({ id: 'a', func: 't', trigger: 'cron', hour: 1 })).timezone, 'Europe/Berlin')
    await app.close()
  })

  test('the decorator name is configurable and typed as the scheduler', async () => {
    const app = Fastify()
    await app.register(scheduler, { decorator: 'jobs', autoStart: false })
    await app.ready()
    assert.equal(typeof (app as unknown as { jobs: { addJob: unknown } }).jobs.addJob, 'function')
    await app.close()
  })

  test('taskModules registers every exported function as alias:export', async () => {
    const { app, clock } = await makeApp({ taskModules: { jobs: './test/fixtures/task-module.ts' } })
    const mod = await import('./fixtures/task-module.js')
    await app.scheduler.addJob({ id: 'm', func: 'jobs:job1', trigger: 'interval', seconds: 1 })
    await assert.rejects(app.scheduler.addJob({ func: 'jobs:notATask' }), /not a registered task/)
    await clock.advance(1000)
    await app.scheduler.whenIdle()
    assert.deepEqual(mod.calls, ['job1'])
    await app.close()
  })

  test('allowedHosts without this host: the API side works, nothing fires', async () => {
    const { app, clock, calls } = await makeApp({ allowedHosts: ['some-other-host'] })
    assert.notEqual(hostname(), 'some-other-host')
    assert.equal(app.scheduler.state, 'stopped')
    await app.scheduler.addJob({ id: 'x', func: 'record', trigger: 'interval', seconds: 1 })
    await clock.advance(5000)
    assert.equal(calls.length, 0)
    await app.close()
  })

  test('the memory store in a cluster/PM2 worker logs a warning', async () => {
    process.env.NODE_APP_INSTANCE = '0'
    try {
      const { app, logs } = await makeApp({ store: new MemoryStore() })
      assert.ok(logs.some((l) => l.level === 40 && /cannot be shared between cluster\/PM2 workers/.test(String(l.msg))))
      await app.close()
    } finally {
      delete process.env.NODE_APP_INSTANCE
    }
  })

  test('boot-time jobs are upserted: a restart on the same SQLite file keeps state, a changed definition updates', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'apsched-'))
    const path = join(dir, 'jobs.sqlite')
    const jobs = [
      { id: 'a', func: 'record', trigger: 'interval' as const, minutes: 5 },
      { id: 'b', func: 'record', trigger: 'cron' as const, minute: '*/10' }
    ]
    try {
      const clock = new ManualClock(T0)
      const first = await makeApp({ store: new SqliteStore({ path }), jobs, clock })
      await first.app.scheduler.pauseJob('b', 'on hold')
      await first.app.scheduler.modifyJob('a', { name: 'renamed over the API' })
      const aBefore = await first.app.scheduler.getJob('a')
      await first.app.close()

      await clock.advance(60_000)
      const second = await makeApp({ store: new SqliteStore({ path }), jobs, clock })
      const all = await second.app.scheduler.getJobs()
      assert.deepEqual(all.map((j) => j.id), ['a', 'b'], 'no duplicates')
      const a = await second.app.scheduler.getJob('a')
      assert.equal(a?.next_run_time, aBefore?.next_run_time, 'unchanged definition keeps its next run')
      assert.equal(a?.name, 'renamed over the API', 'an API change is not undone by unchanged config')
      assert.equal((await second.app.scheduler.getJob('b'))?.paused_reason, 'on hold')
      assert.equal(a?.source, 'config')
      await second.app.close()

      const changed = [{ ...jobs[0], minutes: 7 }, jobs[1]]
      const third = await makeApp({ store: new SqliteStore({ path }), jobs: changed, clock })
      const a3 = await third.app.scheduler.getJob('a')
      assert.equal(a3?.minutes, 7, 'a changed definition is applied')
      assert.equal((await third.app.scheduler.getJob('b'))?.paused, true, 'pause survives')
      await third.app.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
