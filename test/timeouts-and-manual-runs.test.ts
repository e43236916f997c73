import { test } from 'node:test'
import assert from 'node:assert/strict'
import Fastify from 'fastify'
import scheduler, { type TaskContext } from '../src/index.js'
import { T0, deferred, makeApp } from './helpers.js'

const P = '/scheduler'
const never = async (): Promise<never> => await new Promise<never>(() => {})

test('a run that outlives its timeout: the signal aborts, the run is an error (TimeoutError), the slot is freed although the task ignores it, the overrun is counted', async () => {
  const signals: AbortSignal[] = []
  const { app, clock, calls } = await makeApp({
    apiEnabled: true,
    executors: { default: { maxConcurrency: 1 } },
    tasks: { hang: async (ctx: TaskContext) => { signals.push(ctx.signal); await never() } }
  })
  try {
    await app.scheduler.addJob({ id: 'hung', func: 'hang', trigger: 'interval', seconds: 100, start_date: new Date(T0 + 1000).toISOString(), timeout: 2 })
    // Waits for the only slot, well within its grace.
    await app.scheduler.addJob({ id: 'next', func: 'record', trigger: 'date', run_date: new Date(T0 + 1500).toISOString(), misfire_grace_time: 30 })
    await clock.advance(2000)
    assert.equal(signals.length, 1)
    assert.equal(signals[0]?.aborted, false)
    assert.equal(calls.length, 0, 'the slot is still held by the hung task')
    await clock.advance(1000)
    assert.equal(signals[0]?.aborted, true)
    assert.equal((signals[0]?.reason as Error).name, 'TimeoutError')
    await app.scheduler.whenIdle()
    assert.deepEqual(calls.map((c) => c.id), ['next'], 'the freed slot ran the next job')
    const [run] = await app.scheduler.getJobRuns('hung')
    assert.equal(run?.status, 'error')
    assert.equal(run?.error?.name, 'TimeoutError')
    assert.match(run?.error?.message ?? '', /did not finish within its timeout of 2 s/)
    assert.equal(run?.duration_ms, 2000)
    assert.equal(app.scheduler.metrics.timeouts, 1)
    assert.equal(app.scheduler.metrics.overrunning, 1, 'the task ignored its signal and still runs')
    const metrics = (await app.inject({ method: 'GET', url: `${P}/metrics` })).body
    assert.match(metrics, /^apscheduler_task_timeouts_total 1$/m)
    assert.match(metrics, /^apscheduler_tasks_overrunning 1$/m)
    assert.match(metrics, /^apscheduler_job_runs_total\{outcome="error"\} 1$/m)
  } finally {
    await app.close()
  }
})

test('a task that heeds its signal stops at the timeout and is no longer counted as overrunning', async () => {
  const { app, clock } = await makeApp({
    jobDefaults: { timeout: 1.5 },
    tasks: {
      polite: async (ctx: TaskContext) => {
        await new Promise((_resolve, reject) => { ctx.signal.addEventListener('abort', () => { reject(ctx.signal.reason) }) })
      }
    }
  })
  try {
    const job = await app.scheduler.addJob({ id: 'p', func: 'polite', trigger: 'interval', seconds: 10 })
    assert.equal(job.timeout, 1.5, 'jobDefaults.timeout applies to a job that gives none')
    await clock.advance(10_000 + 1500)
    await app.scheduler.whenIdle()
    const [run] = await app.scheduler.getJobRuns('p')
    assert.equal(run?.error?.name, 'TimeoutError')
    assert.equal(app.scheduler.metrics.timeouts, 1)
    assert.equal(app.scheduler.metrics.overrunning, 0)
  } finally {
    await app.close()
  }
})

test('a waiting POST …/run of a hung task answers 500 with the TimeoutError at the timeout instead of never', async () => {
  const { app, clock } = await makeApp({ apiEnabled: true, tasks: { hang: never } })
  try {
    await app.scheduler.addJob({ id: 'h', func: 'hang', trigger: 'interval', hours: 1, timeout: 5 })
    const answer = app.inject({ method: 'POST', url: `${P}/jobs/h/run` })
    await clock.advance(5000)
    const res = await answer
    assert.equal(res.statusCode, 500)
    assert.match(res.json().message, /did not finish within its timeout of 5 s/)
  } finally {
    await app.close()
  }
})

test('timeout is validated (400 naming the field), shown, patchable, and null means no limit', async () => {
  const { app } = await makeApp({ apiEnabled: true, jobDefaults: { timeout: 60 }, tasks: { hang: never } })
  try {
    for (const bad of [0, -1, 'x', true, 1e12]) {
      const res = await app.inject({ method: 'POST', url: `${P}/jobs`, payload: { id: 'b', func: 'hang', trigger: 'interval', hours: 1, timeout: bad } })
      assert.equal(res.statusCode, 400, `${JSON.stringify(bad)}: ${res.body}`)
      assert.match(res.json().message, /timeout/)
    }
    let res = await app.inject({ method: 'POST', url: `${P}/jobs`, payload: { id: 'a', func: 'hang', trigger: 'interval', hours: 1, timeout: null } })
    assert.equal(res.json().timeout, null, 'null overrides the default: no limit')
    res = await app.inject({ method: 'PATCH', url: `${P}/jobs/a`, payload: { timeout: 0.5 } })
    assert.equal(res.statusCode, 200)
    assert.equal(res.json().timeout, 0.5)
    res = await app.inject({ method: 'PATCH', url: `${P}/jobs/a`, payload: { timeout: 0 } })
    assert.equal(res.statusCode, 400)
    assert.equal((await app.scheduler.getJob('a'))?.timeout, 0.5, 'a rejected patch changes nothing')
  } finally {
    await app.close()
  }
  for (const bad of [0, 'x', -5]) {
    const app2 = Fastify()
    await assert.rejects(async () => {
      await app2.register(scheduler, { jobDefaults: { timeout: bad as number } })
      await app2.ready()
    }, /option 'jobDefaults.timeout' must be a positive number of seconds/)
    await app2.close().catch(() => {})
  }
})

test('manual runs obey max_instances: 409 naming the limit, also when requests race; a run may start again once one finished', async () => {
  const gate = deferred()
  const { app } = await makeApp({ apiEnabled: true, tasks: { wait: async () => { await gate.promise } } })
  try {
    await app.scheduler.addJob({ id: 'one', func: 'wait', trigger: 'interval', hours: 1 })
    const answers = await Promise.all(Array.from({ length: 5 }, async () => await app.inject({ method: 'POST', url: `${P}/jobs/one/run?wait=false` })))
    assert.deepEqual(answers.map((r) => r.statusCode).sort(), [202, 409, 409, 409, 409])
    const refused = answers.find((r) => r.statusCode === 409)?.json()
    assert.equal(refused.message, 'Job one is already running 1 instance, its max_instances (1); try again when a run has finished')
    assert.equal(app.scheduler.metrics.manualRefused.max_instances, 4)
    const runs = await app.scheduler.getJobRuns('one')
    assert.equal(runs.length, 1, 'refused runs leave no record')

    await app.scheduler.modifyJob('one', { max_instances: 2 })
    assert.equal((await app.inject({ method: 'POST', url: `${P}/jobs/one/run?wait=false` })).statusCode, 202)
    assert.equal((await app.inject({ method: 'POST', url: `${P}/jobs/one/run?wait=false` })).statusCode, 409)

    gate.resolve()
    await app.scheduler.whenIdle()
    assert.equal((await app.inject({ method: 'POST', url: `${P}/jobs/one/run` })).statusCode, 200)
  } finally {
    gate.resolve()
    await app.close()
  }
})

test('manual runs are bounded: past the executor\'s manual queue, 429 with Retry-After', async () => {
  const gate = deferred()
  const { app } = await makeApp({ apiEnabled: true, executors: { default: { maxConcurrency: 2 } }, tasks: { wait: async () => { await gate.promise } } })
  try {
    await app.scheduler.addJob({ id: 'many', func: 'wait', trigger: 'interval', hours: 1, max_instances: 1000 })
    const statuses: number[] = []
    let retryAfter: unknown
    for (let i = 0; i < 30; i++) {
      const res = await app.inject({ method: 'POST', url: `${P}/jobs/many/run?wait=false` })
      statuses.push(res.statusCode)
      if (res.statusCode === 429) retryAfter = res.headers['retry-after']
    }
    // One slot of two may hold a manual run; ten more may wait for it; the rest are refused.
    assert.equal(statuses.filter((s) => s === 202).length, 11)
    assert.equal(statuses.filter((s) => s === 429).length, 19)
    assert.equal(retryAfter, '1')
    assert.equal(app.scheduler.metrics.manualRefused.queue_full, 19)
  } finally {
    gate.resolve()
    await app.close()
  }
})

test('manual runs never starve scheduled fires: a flood of them leaves a slot to the schedule', async () => {
  const gate = deferred()
  const { app, clock, calls } = await makeApp({ apiEnabled: true, executors: { default: { maxConcurrency: 2 } }, tasks: { wait: async () => { await gate.promise } } })
  try {
    await app.scheduler.addJob({ id: 'flooded', func: 'wait', trigger: 'interval', hours: 1, max_instances: 1000 })
    for (let i = 0; i < 200; i++) await app.inject({ method: 'POST', url: `${P}/jobs/flooded/run?wait=false` })
    await app.scheduler.addJob({ id: 'tick', func: 'record', trigger: 'interval', seconds: 1 })
    await clock.advance(5000)
    assert.equal(calls.filter((c) => c.id === 'tick').length, 5, 'every fire of the schedule ran')
  } finally {
    gate.resolve()
    await app.close()
  }
})

test('a scheduled fire that cannot start within its grace (every slot held) is recorded missed with an event, each time', async () => {
  const { app, clock } = await makeApp({ executors: { default: { maxConcurrency: 1 } }, shutdownTimeoutMs: 0, tasks: { hang: never } })
  const missed: Array<{ job_id: string }> = []
  app.scheduler.on('job_missed', (e: { job_id: string }) => missed.push(e))
  try {
    await app.scheduler.addJob({ id: 'blocker', func: 'hang', trigger: 'date', run_date: new Date(T0 + 500).toISOString() })
    await app.scheduler.addJob({ id: 'tick', func: 'record', trigger: 'interval', seconds: 1, misfire_grace_time: 1 })
    await clock.advance(6000)
    const runs = await app.scheduler.getJobRuns('tick')
    const times = runs.filter((r) => r.status === 'missed').map((r) => Date.parse(r.scheduled_at)).sort()
    // Fires at +1 s … +5 s were each recorded missed when their grace ended (+6 s is still within it).
    assert.deepEqual(times, [1, 2, 3, 4, 5].map((s) => T0 + s * 1000))
    assert.equal(missed.filter((e) => e.job_id === 'tick').length, 5)
    assert.equal(app.scheduler.metrics.runs.missed, 5)
  } finally {
    await app.close()
  }
})
