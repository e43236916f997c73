import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import Fastify, { type FastifyInstance, type InjectOptions, type LightMyRequestResponse } from 'fastify'
import { Compile } from 'typebox/compile'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import scheduler, { ManualClock, SqliteStore, type SchedulerPluginOptions, type TaskContext } from '../src/index.js'
import * as S from '../src/api/schemas.js'

const T0 = Date.UTC(2030, 0, 1)
const P = '/scheduler'
const checkJob = Compile(S.Job)
const checkRun = Compile(S.Run)
const checkError = Compile(S.ErrorBody)
const checkInfo = Compile(S.SchedulerInfo)

async function build (opts: SchedulerPluginOptions = {}): Promise<{ app: FastifyInstance, clock: ManualClock, calls: string[] }> {
  const clock = new ManualClock(T0)
  const calls: string[] = []
  const app = Fastify()
  await app.register(scheduler, {
    apiEnabled: true,
    autoStart: false,
    clock,
    tasks: {
      hello: (ctx: TaskContext) => { calls.push(ctx.job.id) },
      fail: () => { throw new TypeError('the task broke') }
    },
    ...opts
  })
  await app.ready()
  return { app, clock, calls }
}

type Req = (method: InjectOptions['method'], url: string, payload?: unknown, headers?: Record<string, string>) => Promise<LightMyRequestResponse>
const requester = (app: FastifyInstance): Req => async (method, url, payload, headers) =>
  await app.inject({ method, url, ...(payload === undefined ? {} : { payload: payload as string }), ...(headers === undefined ? {} : { headers }) })

const enc = (id: string): string => `${P}/jobs/${encodeURIComponent(id)}`

/** Asserts the JSON error body: status, exact message, error_message === message. */
function assertError (res: LightMyRequestResponse, status: number, message?: string | RegExp): string {
  assert.equal(res.statusCode, status, res.body)
  assert.match(String(res.headers['content-type']), /^application\/json/)
  const body = res.json()
  assert.ok(checkError.Check(body), `error body shape: ${res.body}`)
  assert.equal(body.statusCode, status)
  assert.equal(body.error_message, body.message)
  if (typeof message === 'string') assert.equal(body.message, message)
  else if (message !== undefined) assert.match(body.message, message)
  return body.message as string
}

function assertJob (res: LightMyRequestResponse, status = 200): Record<string, unknown> {
  assert.equal(res.statusCode, status, res.body)
  const job = res.json()
  assert.ok(checkJob.Check(job), `job matches the documented schema: ${res.body}`)
  return job
}

describe('REST API: scheduler routes', () => {
  test('GET P: info with the number of jobs; running stays true while paused', async () => {
    const { app } = await build({ allowedHosts: ['*'] })
    const req = requester(app)
    let res = await req('GET', P)
    assert.equal(res.statusCode, 200)
    const info = res.json()
    assert.ok(checkInfo.Check(info))
    assert.deepEqual({ ...info, current_host: 'h', node_id: 'n' }, {
      current_host: 'h', allowed_hosts: ['*'], running: false, state: 'stopped', node_id: 'n', timezone: 'UTC', jobs: 0
    })
    assert.equal(info.node_id, app.scheduler.nodeId)
    await req('POST', `${P}/jobs`, { id: 'a', func: 'hello', trigger: 'interval', hours: 1 })
    await req('POST', `${P}/jobs`, { id: 'b', func: 'hello', trigger: 'interval', hours: 1 })
    assert.equal((await req('GET', `${P}/`)).json().jobs, 2, 'the trailing-slash form works too')

    assertError(await req('POST', `${P}/pause`), 500, 'Scheduler is not running')
    assertError(await req('POST', `${P}/resume`), 500, 'Scheduler is not running')
    assertError(await req('POST', `${P}/shutdown`), 400, 'Scheduler is not running')
    res = await req('POST', `${P}/start`)
    assert.equal(res.statusCode, 204)
    assert.equal(res.body, '')
    assertError(await req('POST', `${P}/start`), 400, 'Scheduler is already running')
    assert.equal((await req('POST', `${P}/pause`)).statusCode, 204)
    assert.equal((await req('POST', `${P}/pause`)).statusCode, 204, 'idempotent')
    res = await req('GET', P)
    assert.equal(res.json().running, true)
    assert.equal(res.json().state, 'paused')
    assert.equal((await req('POST', `${P}/resume`)).statusCode, 204)
    assert.equal((await req('POST', `${P}/resume`)).statusCode, 204, 'idempotent')
    assert.equal((await req('GET', P)).json().state, 'running')

    assertError(await req('POST', `${P}/shutdown`, { wait: 'no' }), 400, 'wait: must be true or false')
    assert.equal((await req('POST', `${P}/shutdown`, { wait: false, now: true })).statusCode, 204, 'unknown fields are ignored, as upstream')
    assert.equal((await req('GET', P)).json().state, 'stopped')
    assert.equal((await req('POST', `${P}/start`)).statusCode, 204)
    assert.equal((await req('GET', P)).json().jobs, 2, 'memory-store jobs survive shutdown and start')
    assert.equal((await req('POST', `${P}/shutdown`)).statusCode, 204, 'a body is optional')
    await app.close()
  })

  test('POST P/start on a host outside allowedHosts is refused: that process serves the API only', async () => {
    const { app } = await build({ allowedHosts: ['some-other-host'] })
    const req = requester(app)
    assertError(await req('POST', `${P}/start`), 400, /^Host .* is not in allowed_hosts; this process does not run jobs$/)
    const info = (await req('GET', P)).json()
    assert.deepEqual([info.state, info.allowed_hosts], ['stopped', ['some-other-host']])
    await app.close()
  })

  test('GET P/health: 200 ok, 503 with the overdue job ids', async () => {
    const { app, clock } = await build()
    const req = requester(app)
    let res = await req('GET', `${P}/health`)
    assert.equal(res.statusCode, 200)
    assert.deepEqual(res.json(), { status: 'ok', overdue: [] })
    await app.scheduler.start()
    await req('POST', `${P}/jobs`, { id: 'late', func: 'hello', trigger: 'interval', seconds: 10, misfire_grace_time: 5 })
    clock.jump(60_000) // time passes without the timer loop running
    res = await req('GET', `${P}/health`)
    assert.equal(res.statusCode, 503)
    assert.deepEqual(res.json(), { status: 'overdue', overdue: ['late'] })
    await app.close()
  })

  test('GET P/metrics: Prometheus text', async () => {
    const { app } = await build()
    const req = requester(app)
    await req('POST', `${P}/jobs`, { id: 'm', func: 'hello', trigger: 'interval', hours: 1 })
    await req('POST', `${P}/jobs/m/run`)
    const res = await req('GET', `${P}/metrics`)
    assert.equal(res.statusCode, 200)
    assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/)
    assert.match(res.body, /^apscheduler_job_runs_total\{outcome="success"\} 1$/m)
    assert.match(res.body, /apscheduler_fire_lag_seconds_bucket/)
    await app.close()
  })
})

describe('REST API: jobs', () => {
  test('add → 200 job, 409 on a duplicate id, get, 404, delete → 204 empty', async () => {
    const { app } = await build()
    const req = requester(app)
    const job = assertJob(await req('POST', `${P}/jobs`, { id: 'j1', func: 'hello', trigger: 'interval', minutes: 5, args: [1, 'two'], kwargs: { k: [true, null] } }))
    assert.deepEqual(job, {
      id: 'j1',
      name: 'j1',
      func: 'hello',
      args: [1, 'two'],
      kwargs: { k: [true, null] },
      trigger: 'interval',
      start_date: '2030-01-01T00:05:00+00:00',
      minutes: 5,
      timezone: 'UTC',
      jitter: null,
      misfire_grace_time: 1,
      coalesce: true,
      max_instances: 1,
      timeout: null,
      next_run_time: '2030-01-01T00:05:00+00:00',
      paused: false,
      paused_reason: null,
      source: 'api',
      jobstore: 'default',
      executor: 'default'
    })
    assertError(await req('POST', `${P}/jobs`, { id: 'j1', func: 'hello' }), 409, 'Job j1 already exists.')
    const got = await req('GET', `${P}/jobs/j1`)
    assert.equal(got.statusCode, 200)
    assert.equal(got.body, JSON.stringify(job), 'GET returns the same bytes as POST did')
    assertError(await req('GET', `${P}/jobs/nope`), 404, 'Job nope not found')
    const del = await req('DELETE', `${P}/jobs/j1`)
    assert.equal(del.statusCode, 204)
    assert.equal(del.body, '')
    assertError(await req('DELETE', `${P}/jobs/j1`), 404, 'Job j1 not found')
    for (const [method, suffix] of [['PATCH', ''], ['POST', '/pause'], ['POST', '/resume'], ['POST', '/run'], ['GET', '/runs'], ['GET', '/next']] as const) {
      assertError(await req(method, `${P}/jobs/j1${suffix}`, method === 'PATCH' ? { name: 'x' } : undefined), 404, 'Job j1 not found')
    }
    const replaced = assertJob(await req('POST', `${P}/jobs`, { id: 'j2', func: 'hello', trigger: 'interval', hours: 1 }))
    const again = assertJob(await req('POST', `${P}/jobs`, { id: 'j2', func: 'hello', trigger: 'interval', hours: 2, replace_existing: true }))
    assert.equal(replaced.hours, 1)
    assert.equal(again.hours, 2)
    await app.close()
  })

  test('job JSON: dates round-trip byte for byte, fractions as 6 digits, interval and cron output forms', async () => {
    const { app } = await build()
    const req = requester(app)
    let job = assertJob(await req('POST', `${P}/jobs`, { id: 'd', func: 'hello', trigger: 'date', run_date: '2027-11-24T00:00:00+00:00' }))
    assert.equal(job.run_date, '2027-11-24T00:00:00+00:00')
    assert.equal(job.next_run_time, '2030-01-01T00:00:00+00:00', 'a past date fires once, now')
    job = assertJob(await req('POST', `${P}/jobs`, { id: 'f', func: 'hello', trigger: 'date', run_date: '2030-05-06T07:08:09.25', timezone: 'Europe/Berlin' }))
    assert.equal(job.run_date, '2030-05-06T07:08:09.250000+02:00')
    assert.equal(job.next_run_time, '2030-05-06T07:08:09.250000+02:00')
    assert.equal(job.timezone, 'Europe/Berlin')

    job = assertJob(await req('POST', `${P}/jobs`, { id: 'i', func: 'hello', trigger: 'interval', days: 8 }))
    assert.equal(job.weeks, 1)
    assert.equal(job.days, 1)
    for (const k of ['hours', 'minutes', 'seconds', 'end_date']) assert.ok(!(k in job), `${k} left out`)

    job = assertJob(await req('POST', `${P}/jobs`, { id: 'c', func: 'hello', trigger: 'cron', hour: 3, day_of_week: 'mon-fri' }))
    assert.equal(job.hour, '3')
    assert.equal(job.day_of_week, 'mon-fri')
    for (const k of ['year', 'month', 'day', 'week', 'minute', 'second', 'crontab', 'start_date']) assert.ok(!(k in job), `default-filled ${k} left out`)
    assert.equal(job.source, 'api')

    job = assertJob(await req('POST', `${P}/jobs`, { id: 'legacy', func: 'hello', trigger: { type: 'cron', minute: '*/5' } }))
    assert.equal(job.trigger, 'cron')
    assert.equal(job.minute, '*/5')

    job = assertJob(await req('POST', `${P}/jobs`, { id: 'tab', func: 'hello', trigger: 'cron', crontab: '0 9 * * 1' }))
    assert.equal(job.crontab, '0 9 * * 1')

    app.scheduler.task('code', () => {})
    await app.scheduler.addJob({ id: 'from-code', func: 'code', trigger: 'interval', hours: 1 })
    assert.equal(assertJob(await req('GET', `${P}/jobs/from-code`)).source, 'code')

    job = assertJob(await req('POST', `${P}/jobs`, { id: 'paused-at-add', func: 'hello', trigger: 'interval', hours: 1, next_run_time: null }))
    assert.equal(job.paused, true)
    assert.equal(job.next_run_time, null)
    await app.close()
  })

  test('GET P/jobs: by next run with paused last, filters, limit/offset, X-Total-Count', async () => {
    const { app } = await build()
    const req = requester(app)
    await req('POST', `${P}/jobs`, { id: 'late', func: 'hello', trigger: 'interval', hours: 3 })
    await req('POST', `${P}/jobs`, { id: 'early', func: 'hello', trigger: 'interval', hours: 1 })
    await req('POST', `${P}/jobs`, { id: 'mid', func: 'fail', trigger: 'interval', hours: 2 })
    await req('POST', `${P}/jobs/early/pause`)
    let res = await req('GET', `${P}/jobs`)
    assert.equal(res.statusCode, 200)
    assert.equal(res.headers['x-total-count'], '3')
    assert.deepEqual(res.json().map((j: { id: string }) => j.id), ['mid', 'late', 'early'])
    res = await req('GET', `${P}/jobs?limit=1&offset=1`)
    assert.equal(res.headers['x-total-count'], '3')
    assert.deepEqual(res.json().map((j: { id: string }) => j.id), ['late'])
    res = await req('GET', `${P}/jobs?state=paused`)
    assert.deepEqual(res.json().map((j: { id: string }) => j.id), ['early'])
    assert.equal(res.headers['x-total-count'], '1')
    res = await req('GET', `${P}/jobs?state=scheduled&func=fail`)
    assert.deepEqual(res.json().map((j: { id: string }) => j.id), ['mid'])
    res = await req('GET', `${P}/jobs?func=none`)
    assert.deepEqual(res.json(), [])
    assert.equal(res.headers['x-total-count'], '0')
    res = await req('GET', `${P}/jobs?q=MI`)
    assert.deepEqual(res.json().map((j: { id: string }) => j.id), ['mid'], 'q: case-insensitive prefix of id or name')
    assert.equal(res.headers['x-total-count'], '1')
    res = await req('GET', `${P}/jobs?q=a&state=scheduled`)
    assert.deepEqual(res.json(), [])
    assert.equal((await req('GET', `${P}/jobs?cachebuster=1`)).statusCode, 200, 'unknown query parameters are ignored')
    assertError(await req('GET', `${P}/jobs?limit=-1`), 400, 'limit: must be an integer >= 0')
    assertError(await req('GET', `${P}/jobs?limit=1.5`), 400, 'limit: must be an integer >= 0')
    assertError(await req('GET', `${P}/jobs?limit=ten`), 400, 'limit: must be an integer >= 0')
    assertError(await req('GET', `${P}/jobs?offset=x`), 400, 'offset: must be an integer >= 0')
    assertError(await req('GET', `${P}/jobs?state=running`), 400, "state: must be one of 'scheduled', 'paused'")
    assertError(await req('GET', `${P}/jobs?limit=1&limit=2`), 400, 'limit: must be given once')
    await app.close()
  })

  test('pause with a reason, resume clears it; a paused job can be run by hand and stays paused', async () => {
    const { app, calls } = await build()
    const req = requester(app)
    const added = assertJob(await req('POST', `${P}/jobs`, { id: 'p', func: 'hello', trigger: 'interval', hours: 1 }))
    let job = assertJob(await req('POST', `${P}/jobs/p/pause`, { reason: 'maintenance window' }))
    assert.equal(job.paused, true)
    assert.equal(job.next_run_time, null)
    assert.equal(job.paused_reason, 'maintenance window')
    assert.equal(assertJob(await req('GET', `${P}/jobs/p`)).paused_reason, 'maintenance window')

    job = assertJob(await req('POST', `${P}/jobs/p/run`))
    assert.deepEqual(calls, ['p'])
    assert.equal(job.paused, true, 'still paused after a manual run')
    assert.equal(job.paused_reason, 'maintenance window')

    job = assertJob(await req('POST', `${P}/jobs/p/resume`))
    assert.equal(job.paused, false)
    assert.equal(job.paused_reason, null)
    assert.equal(job.next_run_time, added.next_run_time)

    job = assertJob(await req('POST', `${P}/jobs/p/pause`))
    assert.equal(job.paused_reason, null, 'the reason is optional')
    job = assertJob(await req('POST', `${P}/jobs/p/pause`, '', { 'content-type': 'application/json' }))
    assert.equal(job.paused, true, 'an empty JSON body is no body')
    assertError(await req('POST', `${P}/jobs/p/pause`, { reason: 5 }), 400, 'reason: must be a string of at most 1024 characters or null')
    assertError(await req('POST', `${P}/jobs/p/pause`, { reason: 'x'.repeat(1025) }), 400, /^reason: /)
    assert.equal(assertJob(await req('POST', `${P}/jobs/p/pause`, { why: 'x' })).paused, true, 'unknown fields are ignored, as upstream')
    await app.close()
  })

  test('run: 200 job after the run, recorded as manual, schedule untouched; 500 with the task error; 202 with wait=false', async () => {
    const { app, calls, clock } = await build()
    const req = requester(app)
    const added = assertJob(await req('POST', `${P}/jobs`, { id: 'r', func: 'hello', trigger: 'interval', hours: 1 }))
    const job = assertJob(await req('POST', `${P}/jobs/r/run`))
    assert.deepEqual(calls, ['r'])
    assert.equal(job.next_run_time, added.next_run_time, 'a manual run does not shift the schedule')
    clock.jump(1000)

    let res = await req('POST', `${P}/jobs/r/run?wait=false`)
    assert.equal(res.statusCode, 202)
    const { run_id: runId } = res.json()
    assert.equal(typeof runId, 'string')
    assert.deepEqual(Object.keys(res.json()), ['run_id'])
    await app.scheduler.whenIdle()

    res = await req('GET', `${P}/jobs/r/runs`)
    assert.equal(res.statusCode, 200)
    const runs = res.json()
    assert.equal(runs.length, 2)
    assert.ok(runs.every((r: unknown) => checkRun.Check(r)), res.body)
    assert.equal(runs[0].run_id, runId, 'newest first')
    assert.ok(runs.every((r: { trigger: string, status: string }) => r.trigger === 'manual' && r.status === 'success'))
    assert.equal((await req('GET', `${P}/jobs/r/runs?limit=1`)).json().length, 1)
    assertError(await req('GET', `${P}/jobs/r/runs?limit=0`), 400, 'limit: must be an integer >= 1')
    assertError(await req('POST', `${P}/jobs/r/run?wait=maybe`), 400, 'wait: must be true or false')
    assert.equal(assertJob(await req('GET', `${P}/jobs/r`)).next_run_time, added.next_run_time)

    await req('POST', `${P}/jobs`, { id: 'bad', func: 'fail', trigger: 'interval', hours: 1 })
    assertError(await req('POST', `${P}/jobs/bad/run`), 500, 'the task broke')
    const [failed] = (await req('GET', `${P}/jobs/bad/runs`)).json()
    assert.equal(failed.status, 'error')
    assert.equal(failed.error.name, 'TypeError')
    assert.equal(failed.error.message, 'the task broke')
    await app.close()
  })

  test('GET P/jobs/:id/next: a bare array of ISO strings, count 1..100, default 5', async () => {
    const { app } = await build()
    const req = requester(app)
    await req('POST', `${P}/jobs`, { id: 'n', func: 'hello', trigger: 'cron', hour: '*/6', timezone: 'America/New_York' })
    let res = await req('GET', `${P}/jobs/n/next?count=3`)
    assert.equal(res.statusCode, 200)
    assert.deepEqual(res.json(), ['2030-01-01T00:00:00-05:00', '2030-01-01T06:00:00-05:00', '2030-01-01T12:00:00-05:00'])
    res = await req('GET', `${P}/jobs/n/next`)
    assert.equal(res.json().length, 5)
    assert.equal((await req('GET', `${P}/jobs/n/next?count=100`)).json().length, 100)
    for (const bad of ['0', '101', 'abc', '2.5', '']) {
      assertError(await req('GET', `${P}/jobs/n/next?count=${bad}`), 400, 'count: must be an integer from 1 to 100')
    }
    await app.close()
  })

  test('PATCH: validated whole, applied atomically; trigger fields merge into the current trigger', async () => {
    const { app } = await build()
    const req = requester(app)
    const added = assertJob(await req('POST', `${P}/jobs`, { id: 'x', func: 'hello', trigger: 'cron', hour: 3, minute: 15 }))
    let job = assertJob(await req('PATCH', `${P}/jobs/x`, { name: 'renamed', hour: 4, max_instances: 2 }))
    assert.equal(job.name, 'renamed')
    assert.equal(job.hour, '4')
    assert.equal(job.minute, '15', 'merged into the current trigger')
    assert.equal(job.max_instances, 2)
    assert.equal(job.next_run_time, '2030-01-01T04:15:00+00:00')
    const before = (await req('GET', `${P}/jobs/x`)).body
    const bad: Array<[unknown, string]> = [
      [{ name: 'ok', max_instances: 0 }, 'max_instances'],
      [{ name: 'ok', coalesce: 'yes' }, 'coalesce'],
      [{ name: 'ok', bogus: 1 }, 'bogus'],
      [{ name: 'ok', func: 'os:system' }, 'func'],
      [{ name: 'ok', id: 'other' }, 'id'],
      [{ name: 'ok', jobstore: 'other' }, 'jobstore'],
      [{ name: 'ok', hour: 25 }, 'hour'],
      [{ name: 'ok', seconds: 5 }, 'seconds'],
      [{ name: 'ok', timezone: 'Mars/Olympus' }, 'timezone'],
      [{ name: 'ok', trigger: 'cron', day: 31, month: 2 }, 'trigger'],
      [{ name: 'ok', kwargs: 'x' }, 'kwargs'],
      [[1, 2], '']
    ]
    for (const [patch, field] of bad) {
      const message = assertError(await req('PATCH', `${P}/jobs/x`, patch), 400)
      if (field !== '') assert.ok(message.startsWith(`${field}: `) || message.startsWith(`trigger.${field}: `), `${JSON.stringify(patch)} → ${message}`)
    }
    assert.equal((await req('GET', `${P}/jobs/x`)).body, before, 'rejected patches changed nothing')
    job = assertJob(await req('PATCH', `${P}/jobs/x`, { trigger: 'interval', hours: 2 }))
    assert.equal(job.trigger, 'interval')
    assert.equal(job.hours, 2)
    assert.ok(!('hour' in job))
    assert.notEqual(job.next_run_time, added.next_run_time)
    await app.close()
  })

  test('bad input of every kind → 400 naming the field, and the job store is unchanged', async () => {
    const { app } = await build()
    const req = requester(app)
    await req('POST', `${P}/jobs`, { id: 'keep', func: 'hello', trigger: 'interval', hours: 1 })
    const before = (await req('GET', `${P}/jobs`)).body
    const cases: Array<[unknown, string]> = [
      [{ id: 'b', func: 'hello', max_instances: '2' }, 'max_instances'],
      [{ id: 'b', func: 'hello', max_instances: 1.5 }, 'max_instances'],
      [{ id: 'b', func: 'hello', coalesce: 'true' }, 'coalesce'],
      [{ id: 'b', func: 'hello', misfire_grace_time: 0 }, 'misfire_grace_time'],
      [{ id: 'b', func: 'hello', misfire_grace_time: '5' }, 'misfire_grace_time'],
      [{ id: 'b', func: 'hello', name: 5 }, 'name'],
      [{ id: 'b', func: 'hello', unknown_field: 1 }, 'unknown_field'],
      [{ id: 'b', func: 'hello', trigger: 'date', hours: 1 }, 'hours'],
      [{ id: 'b', func: 'nope' }, 'func'],
      [{ id: 'b', func: 'os:system' }, 'func'],
      [{ id: 'b', func: 'builtins:eval' }, 'func'],
      [{ id: 'b' }, 'func'],
      [{ id: 'b', func: 'hello', args: 'not-an-array' }, 'args'],
      [{ id: 'b', func: 'hello', kwargs: [1] }, 'kwargs'],
      [{ id: 'b', func: 'hello', timezone: 'Mars/Olympus' }, 'timezone'],
      [{ id: 'b', func: 'hello', timezone: 5 }, 'timezone'],
      [{ id: 'b', func: 'hello', trigger: 'weekly' }, 'trigger'],
      [{ id: 'b', func: 'hello', trigger: { type: 'weekly' } }, 'trigger.type'],
      [{ id: 'b', func: 'hello', trigger: 'interval' }, 'seconds'],
      [{ id: 'b', func: 'hello', trigger: 'interval', seconds: -1 }, 'seconds'],
      [{ id: 'b', func: 'hello', trigger: 'interval', seconds: '10' }, 'seconds'],
      [{ id: 'b', func: 'hello', trigger: 'cron', hour: 25 }, 'hour'],
      [{ id: 'b', func: 'hello', trigger: 'cron', day: 31, month: 2 }, 'trigger'],
      [{ id: 'b', func: 'hello', trigger: 'cron', hour: true }, 'hour'],
      [{ id: 'b', func: 'hello', trigger: 'date', run_date: 'tomorrow' }, 'run_date'],
      [{ id: 'b', func: 'hello', trigger: 'date', run_date: '2030-02-30T00:00:00' }, 'run_date'],
      [{ id: 'b', func: 'hello', trigger: 'date', run_date: '2027-03-28T02:30:00', timezone: 'Europe/Berlin' }, 'run_date'],
      [{ id: 'b', func: 'hello', trigger: 'interval', hours: 1, jitter: -1 }, 'jitter'],
      [{ id: 'b', func: 'hello', next_run_time: 'soon' }, 'next_run_time'],
      [{ id: 'b', func: 'hello', jobstore: 'elsewhere' }, 'jobstore'],
      [{ id: 'b', func: 'hello', executor: 'elsewhere' }, 'executor'],
      [{ id: 'b', func: 'hello', replace_existing: 'yes' }, 'replace_existing'],
      [{ id: '', func: 'hello' }, 'id'],
      [{ id: 'x'.repeat(192), func: 'hello' }, 'id'],
      [{ id: 7, func: 'hello' }, 'id']
    ]
    for (const [body, field] of cases) {
      const message = assertError(await req('POST', `${P}/jobs`, body), 400)
      assert.ok(message.startsWith(`${field}: `), `${JSON.stringify(body)} → ${message}`)
    }
    const raw: Array<[string, RegExp, Record<string, string>?]> = [
      ['[1, 2]', /^a job must be a JSON object$/],
      ['"hello"', /^a job must be a JSON object$/],
      ['null', /^a job must be a JSON object$/],
      ['', /^a job must be a JSON object$/],
      ['{"id":"b","func":"hello","args":[1,}', /^body: is not valid JSON/],
      ['{"id":"b","func":"hello","args":[NaN]}', /^body: is not valid JSON/],
      ["{'id':'b'}", /^body: is not valid JSON/],
      ['{"id":"b","func":"hello","kwargs":{"__proto__":{"polluted":true}}}', /^__proto__: /],
      ['{"__proto__":{"polluted":true},"id":"b","func":"hello"}', /^__proto__: /],
      ['{"id":"b","func":"hello","kwargs":{"constructor":{"prototype":{"polluted":true}}}}', /^constructor\.prototype: /]
    ]
    for (const [payload, message] of raw) {
      assertError(await req('POST', `${P}/jobs`, payload, { 'content-type': 'application/json' }), 400, message)
    }
    assert.equal(({} as Record<string, unknown>).polluted, undefined)
    const huge = JSON.stringify({ id: 'b', func: 'hello', name: 'x'.repeat(1_100_000) })
    assertError(await req('POST', `${P}/jobs`, huge, { 'content-type': 'application/json' }), 413, 'Request body is too large')
    assertError(await req('POST', `${P}/jobs`, '<job/>', { 'content-type': 'application/xml' }), 415, /^Unsupported Media Type/)
    assertError(await req('POST', `${P}/jobs`, '{}', { 'content-type': 'bad content type' }), 415)
    assert.equal((await req('GET', `${P}/jobs`)).body, before, 'nothing was added or changed')
    assertError(await req('GET', `${P}/no-such-route`), 404, 'Route GET:/scheduler/no-such-route not found')
    await app.close()
  })

  test('a JSON body is accepted without Content-Type, as text/plain and as curl -d sends it; the host keeps its own text/plain parser', async () => {
    const clock = new ManualClock(T0)
    const app = Fastify()
    const seen: Array<string | undefined> = []
    app.addHook('onRequest', async (request) => { seen.push(request.headers['content-type']) })
    app.post('/echo', async (request) => ({ type: typeof request.body, body: request.body }))
    await app.register(scheduler, { apiEnabled: true, autoStart: false, clock, tasks: { hello: () => {} } })
    await app.ready()
    let res = await app.inject({ method: 'POST', url: `${P}/jobs`, payload: '{"id":"none","func":"hello"}' })
    assertJob(res)
    assert.deepEqual(seen, [undefined], 'sent without Content-Type')
    res = await app.inject({ method: 'POST', url: `${P}/jobs`, payload: '{"id":"plain","func":"hello"}', headers: { 'content-type': 'text/plain; charset=utf-8' } })
    assertJob(res)
    res = await app.inject({ method: 'POST', url: `${P}/jobs`, payload: '{"id":"form","func":"hello"}', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    assertJob(res)
    assert.deepEqual((await app.scheduler.getJobs()).map((job) => job.id).sort(), ['form', 'none', 'plain'])
    res = await app.inject({ method: 'POST', url: '/echo', payload: '{"a":1}', headers: { 'content-type': 'text/plain' } })
    assert.deepEqual(res.json(), { type: 'string', body: '{"a":1}' }, 'the host app still parses text/plain as text')
    await app.close()
  })

  test('ids with /, %, spaces, unicode, ? and # and up to 191 UTF-16 units are addressable when URL-encoded', async () => {
    const { app, calls } = await build()
    const req = requester(app)
    const ids = ['a/b', 'a%2Fb', '100%', 'with space', 'ünï©ødé ✓', 'q?x=1#frag', 'x'.repeat(191), `${'😀'.repeat(95)}z`, 'ü'.repeat(191), 'a/b/pause']
    assert.equal(ids[7]?.length, 191)
    for (const id of ids) {
      const job = assertJob(await req('POST', `${P}/jobs`, { id, func: 'hello', trigger: 'interval', hours: 1 }))
      assert.equal(job.id, id)
    }
    for (const id of ids) {
      assert.equal(assertJob(await req('GET', enc(id))).id, id, `GET ${id}`)
      assert.equal(assertJob(await req('PATCH', enc(id), { name: `n-${id}` })).name, `n-${id}`)
      assert.equal(assertJob(await req('POST', `${enc(id)}/pause`, { reason: 'r' })).paused_reason, 'r')
      assert.equal(assertJob(await req('POST', `${enc(id)}/resume`)).paused, false)
      assert.equal(assertJob(await req('POST', `${enc(id)}/run`)).id, id)
      assert.equal((await req('POST', `${enc(id)}/run?wait=false`)).statusCode, 202)
      await app.scheduler.whenIdle()
      const runs = await req('GET', `${enc(id)}/runs?limit=5`)
      assert.equal(runs.statusCode, 200)
      assert.equal(runs.json()[0].job_id, id)
      assert.equal((await req('GET', `${enc(id)}/next?count=2`)).json().length, 2)
      assertError(await req('GET', `${enc(id)}/next?count=0`), 400, 'count: must be an integer from 1 to 100')
      assertError(await req('POST', `${enc(id)}/pause`, { reason: 1 }), 400, /^reason: /)
    }
    assert.equal(calls.length, ids.length * 2)
    for (const id of ids) {
      assert.equal((await req('DELETE', enc(id))).statusCode, 204, `DELETE ${id}`)
      assertError(await req('GET', enc(id)), 404, `Job ${id} not found`)
    }
    // An unencoded slash is not part of an id.
    assertError(await req('GET', `${P}/jobs/a/b`), 404, /^Route GET:/)
    assertError(await req('GET', `${P}/jobs/${'y'.repeat(150)}/nope`), 404, /^Route GET:/)
    await app.close()
  })

  test("apiPrefix '' serves the info route at GET / and leaves the host's routes and 404s alone", async () => {
    const clock = new ManualClock(T0)
    const app = Fastify()
    app.get('/hello', async () => ({ hello: 'world' }))
    await app.register(scheduler, { apiEnabled: true, apiPrefix: '', autoStart: false, clock, tasks: { hello: () => {} } })
    await app.ready()
    let res = await app.inject('/')
    assert.equal(res.statusCode, 200)
    assert.equal(res.json().jobs, 0)
    assertJob(await app.inject({ method: 'POST', url: '/jobs', payload: { id: 'a/b', func: 'hello', trigger: 'interval', hours: 1 } }))
    assert.equal(assertJob(await app.inject(`/jobs/a%2Fb`)).id, 'a/b')
    const long = `${'ü'.repeat(150)}/x`
    assertJob(await app.inject({ method: 'POST', url: '/jobs', payload: { id: long, func: 'hello' } }))
    assert.equal(assertJob(await app.inject(`/jobs/${encodeURIComponent(long)}`)).id, long, 'long ids work without a prefix too')
    res = await app.inject('/hello')
    assert.deepEqual(res.json(), { hello: 'world' })
    res = await app.inject('/unknown')
    assert.equal(res.statusCode, 404)
    assert.equal(res.json().error_message, undefined, "the host's own 404 handler answers")
    await app.close()
  })

  test('endpointPrefix prefixes every operationId, so two schedulers fit one app', async () => {
    const app = Fastify()
    const ids: string[] = []
    app.addHook('onRoute', (route) => {
      const id = (route.schema as { operationId?: string } | undefined)?.operationId
      if (id !== undefined && route.method !== 'HEAD') ids.push(id)
    })
    await app.register(scheduler, { apiEnabled: true, autoStart: false, clock: new ManualClock(T0) })
    await app.register(scheduler, { apiEnabled: true, autoStart: false, clock: new ManualClock(T0), apiPrefix: '/reports', endpointPrefix: 'reports_', decorator: 'reports' })
    await app.ready()
    const names = ['getSchedulerInfo', 'addJob', 'getJobs', 'getJob', 'updateJob', 'deleteJob', 'pauseJob', 'resumeJob', 'runJob', 'getJobRuns',
      'pauseScheduler', 'resumeScheduler', 'startScheduler', 'shutdownScheduler', 'getJobNextRunTimes', 'getHealth', 'getMetrics',
      'getTasks', 'previewJob', 'getLatestRuns']
    assert.deepEqual([...ids].sort(), [...names, ...names.map((n) => `reports_${n}`)].sort())
    assert.equal((await app.inject('/reports')).statusCode, 200)
    assert.equal((await app.inject('/scheduler')).statusCode, 200)
    await app.close()
  })
})

describe('REST API: conformance details', () => {
  /** Drives every route of SPEC §6 once under `prefix`, asserting each success status. */
  async function driveEveryRoute (app: FastifyInstance, prefix: string, headers: Record<string, string> = {}): Promise<void> {
    const call = async (method: InjectOptions['method'], path: string, payload?: unknown): Promise<LightMyRequestResponse> =>
      await app.inject({ method, url: `${prefix}${path}`, headers, ...(payload === undefined ? {} : { payload: payload as string }) })
    const job = `/jobs/${encodeURIComponent('a/b ü')}`
    let res = await call('GET', prefix === '' ? '/' : '')
    assert.equal(res.statusCode, 200, res.body)
    assert.ok(checkInfo.Check(res.json()))
    assertJob(await call('POST', '/jobs', { id: 'a/b ü', func: 'hello', trigger: 'interval', hours: 1 }))
    res = await call('GET', '/jobs')
    assert.equal(res.statusCode, 200)
    assert.equal(res.headers['x-total-count'], '1')
    assertJob(await call('GET', job))
    assert.equal(assertJob(await call('PATCH', job, { name: 'renamed' })).name, 'renamed')
    assert.equal(assertJob(await call('POST', `${job}/pause`, { reason: 'r' })).paused_reason, 'r')
    assert.equal(assertJob(await call('POST', `${job}/resume`)).paused, false)
    assertJob(await call('POST', `${job}/run`))
    assert.equal((await call('POST', `${job}/run?wait=false`)).statusCode, 202)
    await app.scheduler.whenIdle()
    res = await call('GET', `${job}/runs`)
    assert.equal(res.statusCode, 200)
    assert.equal(res.json().length, 2)
    res = await call('GET', `${job}/next?count=2`)
    assert.deepEqual(res.json(), ['2030-01-01T01:00:00+00:00', '2030-01-01T02:00:00+00:00'])
    for (const action of ['/start', '/pause', '/resume', '/shutdown']) {
      res = await call('POST', action)
      assert.equal(res.statusCode, 204, `${action}: ${res.body}`)
    }
    assert.equal((await call('GET', '/health')).statusCode, 200)
    res = await call('GET', '/metrics')
    assert.equal(res.statusCode, 200)
    assert.match(res.body, /^apscheduler_job_runs_total\{outcome="success"\} 2$/m)
    for (const line of [/^apscheduler_job_runs_total\{outcome="(error|missed|abandoned)"\} 0$/m, /^apscheduler_job_misfires_total 0$/m,
      /^apscheduler_lease_takeovers_total 0$/m, /^apscheduler_fire_lag_seconds_bucket\{le="\+Inf"\} \d+$/m, /^apscheduler_fire_lag_seconds_count \d+$/m]) {
      assert.match(res.body, line)
    }
    assert.equal((await call('DELETE', job)).statusCode, 204)
    assertError(await call('GET', job), 404, 'Job a/b ü not found')
  }

  test('every route works under a nested apiPrefix and under the empty prefix, where auth covers only the scheduler', async () => {
    const built = await build({ apiPrefix: '/api/v1/jobs-admin' })
    await driveEveryRoute(built.app, '/api/v1/jobs-admin')
    assert.equal((await built.app.inject(P)).statusCode, 404, 'the default prefix is not served as well')
    await built.app.close()

    const basic = `Basic ${Buffer.from('admin:pw').toString('base64')}`
    const app = Fastify()
    app.get('/hello', async () => ({ hello: 'world' }))
    await app.register(scheduler, {
      apiEnabled: true, apiPrefix: '', autoStart: false, clock: new ManualClock(T0), tasks: { hello: () => {} },
      auth: { authenticate: ({ username, password }) => username === 'admin' && password === 'pw' }
    })
    await app.ready()
    for (const url of ['/', '/jobs', '/jobs/x', '/jobs/x/runs', '/health', '/metrics']) {
      const res = await app.inject(url)
      assertError(res, 401)
      assert.equal(res.headers['www-authenticate'], 'Basic realm="Authentication Required"')
    }
    assert.deepEqual((await app.inject('/hello')).json(), { hello: 'world' }, "the host's routes stay open")
    const missing = await app.inject('/not-a-route')
    assert.equal(missing.statusCode, 404, "the host's 404 stays the host's")
    assert.equal(missing.headers['www-authenticate'], undefined)
    await driveEveryRoute(app, '', { authorization: basic })
    await app.close()
  })

  test('wrong types, non-JSON numbers, legacy triggers, module paths, bad zones, impossible cron and nonexistent dates → 400 naming the field; nothing stored', async () => {
    const { app } = await build()
    const req = requester(app)
    await req('POST', `${P}/jobs`, { id: 'keep', func: 'hello', trigger: 'interval', hours: 1 })
    const before = (await req('GET', `${P}/jobs`)).body
    const job = (extra: Record<string, unknown>): Record<string, unknown> => ({ id: 'b', func: 'hello', ...extra })
    const cases: Array<[unknown, string]> = [
      // wrong types
      [job({ args: { a: 1 } }), 'args'],
      [job({ kwargs: 5 }), 'kwargs'],
      [job({ trigger: 'interval', hours: 1, jitter: '5' }), 'jitter'],
      [job({ trigger: 'date', run_date: true }), 'run_date'],
      [job({ trigger: 'date', run_date: 1893456000000 }), 'run_date'],
      [job({ trigger: 'interval', hours: 1, start_date: 0 }), 'start_date'],
      [job({ trigger: { type: 'cron', hour: 1, end_date: 2000000000000 } }), 'end_date'],
      [job({ next_run_time: 1893456000000 }), 'next_run_time'],
      [job({ trigger: null }), 'trigger'],
      [job({ trigger: ['cron'] }), 'trigger'],
      [job({ executor: null }), 'executor'],
      [job({ coalesce: 1 }), 'coalesce'],
      // legacy trigger objects
      [job({ trigger: { hours: 1 } }), 'trigger.type'],
      [job({ trigger: { type: 'toString' } }), 'trigger.type'],
      [job({ trigger: { type: 'cron', foo: 1 } }), 'trigger.foo'],
      [job({ trigger: { type: 'date', hours: 1 } }), 'trigger.hours'],
      [job({ trigger: { type: 'interval', hours: 1 }, hours: 2 }), 'hours'],
      [job({ trigger: { type: 'cron', hour: 1, timezone: 'Bad/Zone' } }), 'timezone'],
      [job({ trigger: { type: 'cron', hour: 1, timezone: 'Europe/Berlin' }, timezone: 'UTC' }), 'timezone'],
      // module paths, code and prototype names as func
      [job({ func: './test/fixtures/task-module.ts:job1' }), 'func'],
      [job({ func: 'test/fixtures/task-module.ts' }), 'func'],
      [job({ func: '/etc/passwd' }), 'func'],
      [job({ func: 'node:child_process:execSync' }), 'func'],
      [job({ func: 'file:///tmp/evil.mjs' }), 'func'],
      [job({ func: 'child_process.exec' }), 'func'],
      [job({ func: 'toString' }), 'func'],
      [job({ func: 'constructor' }), 'func'],
      [job({ func: '__proto__' }), 'func'],
      [job({ func: '' }), 'func'],
      [job({ func: ['hello'] }), 'func'],
      // bad time zones
      [job({ timezone: '' }), 'timezone'],
      [job({ timezone: 'Europe/Nowhere' }), 'timezone'],
      [job({ timezone: '+05:00' }), 'timezone'],
      [job({ timezone: { name: 'UTC' } }), 'timezone'],
      // impossible cron
      [job({ trigger: 'cron', hour: '5-3' }), 'hour'],
      [job({ trigger: 'cron', minute: '*/0' }), 'minute'],
      [job({ trigger: 'cron', second: 60 }), 'second'],
      [job({ trigger: 'cron', day: 0 }), 'day'],
      [job({ trigger: 'cron', week: 54 }), 'week'],
      [job({ trigger: 'cron', month: 'smarch' }), 'month'],
      [job({ trigger: 'cron', day_of_week: 'funday' }), 'day_of_week'],
      [job({ trigger: 'cron', hour: 1.5 }), 'hour'],
      [job({ trigger: 'cron', year: 2020 }), 'trigger'],
      [job({ trigger: 'cron', day: 31, month: 'apr,jun,sep,nov' }), 'trigger'],
      [job({ trigger: 'cron', hour: 5, end_date: '2030-01-01T01:00:00' }), 'trigger'],
      [job({ trigger: 'cron', crontab: '* * *' }), 'crontab'],
      [job({ trigger: 'cron', crontab: '0 0 30 2 *' }), 'trigger'],
      [job({ trigger: 'cron', crontab: '0 0 * * *', hour: 1 }), 'crontab'],
      [job({ trigger: 'interval', hours: 1, end_date: '2029-01-01' }), 'end_date'],
      // dates that do not exist
      [job({ trigger: 'interval', hours: 1, start_date: '2031-02-29T00:00:00' }), 'start_date'],
      [job({ trigger: 'interval', hours: 1, end_date: '2031-13-01' }), 'end_date'],
      [job({ trigger: 'date', run_date: '2031-01-01T24:00:00' }), 'run_date'],
      [job({ trigger: 'date', run_date: '2031-06-31' }), 'run_date'],
      [job({ trigger: 'date', run_date: '2031-01-01T10:61:00' }), 'run_date'],
      [job({ trigger: 'date', run_date: '0000-01-01' }), 'run_date'],
      [job({ trigger: 'date', run_date: '2031-01-01T00:00:00+24:00' }), 'run_date'],
      [job({ trigger: 'date', run_date: '9999-12-31T23:00:00+00:00', timezone: 'Asia/Tokyo' }), 'run_date'],
      [job({ trigger: 'date', run_date: '2031-03-09T02:30:00', timezone: 'America/New_York' }), 'run_date'],
      [job({ next_run_time: '2030-03-31T02:30:00', timezone: 'Europe/Berlin' }), 'next_run_time'],
      [job({ trigger: 'cron', hour: 1, start_date: '2030-03-31T02:00:00', timezone: 'Europe/Berlin' }), 'start_date']
    ]
    for (const [body, field] of cases) {
      const message = assertError(await req('POST', `${P}/jobs`, body), 400)
      assert.ok(message.startsWith(`${field}: `), `${JSON.stringify(body)} → ${message}`)
    }
    const json = { 'content-type': 'application/json' }
    const raw: Array<[string, RegExp]> = [
      ['{"id":"b","func":"hello","args":[1e400]}', /^args\[0\]: must be a finite number/],
      ['{"id":"b","func":"hello","kwargs":{"n":-1e999}}', /^kwargs\.n: must be a finite number/],
      ['{"id":"b","func":"hello","max_instances":1e400}', /^max_instances: /],
      ['{"id":"b","func":"hello","trigger":"interval","hours":1e400}', /^hours: /],
      ['{"id":"b","func":"hello","trigger":"cron","hour":1e400}', /^hour: /],
      ['{"id":"b","func":"hello","trigger":"interval","weeks":1e300}', /^weeks: the interval is too long/],
      [`{"id":"b","func":"hello","kwargs":{"a":${'['.repeat(100)}${']'.repeat(100)}}}`, /^kwargs\.a(\[0\])+: is nested too deeply$/],
      [`{"id":"b","func":"hello","args":${'['.repeat(200_000)}${']'.repeat(200_000)}}`, /^body: is not valid JSON/],
      ['{"id":"\\ud800x","func":"hello"}', /^id: must be valid Unicode text/],
      ['{"id":"b","func":"hello","trigger":{"type":"cron","__proto__":{"hour":1}}}', /^__proto__: /]
    ]
    for (const [payload, message] of raw) assertError(await req('POST', `${P}/jobs`, payload, json), 400, message)
    assert.equal((await req('GET', `${P}/jobs`)).body, before, 'nothing was added or changed')
    await app.close()
  })

  test('PATCH refuses every kind of bad input and leaves the job byte for byte as it was', async () => {
    const { app } = await build()
    const req = requester(app)
    assertJob(await req('POST', `${P}/jobs`, { id: 'x', func: 'hello', trigger: 'cron', hour: 3, timezone: 'Europe/Berlin' }))
    const before = (await req('GET', `${P}/jobs/x`)).body
    const bad: Array<[unknown, string]> = [
      [{ args: { a: 1 } }, 'args'],
      [{ func: './test/fixtures/task-module.ts:job1' }, 'func'],
      [{ func: 'node:child_process:execSync' }, 'func'],
      [{ name: null }, 'name'],
      [{ trigger: { type: 'cron', foo: 1 } }, 'trigger.foo'],
      [{ trigger: { type: 'weekly' } }, 'trigger.type'],
      [{ trigger: 'interval' }, 'seconds'],
      [{ timezone: 'Europe/Nowhere' }, 'timezone'],
      [{ hour: '5-3' }, 'hour'],
      [{ crontab: '0 0 30 2 *' }, 'trigger'],
      [{ start_date: '2031-02-29' }, 'start_date'],
      [{ start_date: 0 }, 'start_date'],
      [{ next_run_time: '2030-03-31T02:30:00' }, 'next_run_time'],
      [{ next_run_time: 1893456000000 }, 'next_run_time'],
      [{ trigger: 'date', run_date: '2030-03-31T02:30:00' }, 'run_date'],
      [{ end_date: '2030-01-01T00:00:00' }, 'trigger'],
      [{ paused: true }, 'paused'],
      [{ replace_existing: true }, 'replace_existing']
    ]
    for (const [patch, field] of bad) {
      const message = assertError(await req('PATCH', `${P}/jobs/x`, patch), 400)
      assert.ok(message.startsWith(`${field}: `), `${JSON.stringify(patch)} → ${message}`)
    }
    const json = { 'content-type': 'application/json' }
    assertError(await req('PATCH', `${P}/jobs/x`, '{"args":[1e400]}', json), 400, /^args\[0\]: must be a finite number/)
    assertError(await req('PATCH', `${P}/jobs/x`, '{"kwargs":{"__proto__":{"polluted":true}}}', json), 400, /^__proto__: /)
    assertError(await req('PATCH', `${P}/jobs/x`, '{"name":', json), 400, /^body: is not valid JSON/)
    assertError(await req('PATCH', `${P}/jobs/x`, '"name"', json), 400, 'a job must be a JSON object')
    assertError(await req('PATCH', `${P}/jobs/x`, JSON.stringify({ name: 'x'.repeat(1_100_000) }), json), 413, 'Request body is too large')
    assertError(await req('PATCH', `${P}/jobs/x`, '<name/>', { 'content-type': 'application/xml' }), 415)
    assert.equal((await req('GET', `${P}/jobs/x`)).body, before, 'rejected patches changed nothing')
    assert.equal(({} as Record<string, unknown>).polluted, undefined)
    await app.close()
  })

  test('a rejected pause, resume, shutdown or replace changes nothing', async () => {
    const { app, clock } = await build()
    const req = requester(app)
    assertJob(await req('POST', `${P}/jobs`, { id: 'j', func: 'hello', trigger: 'interval', hours: 1 }))
    const before = (await req('GET', `${P}/jobs/j`)).body
    assertError(await req('POST', `${P}/jobs/j/pause`, { reason: ['r'] }), 400, /^reason: /)
    assertError(await req('POST', `${P}/jobs/j/pause`, { reason: { text: 'r' } }), 400, /^reason: /)
    assertError(await req('POST', `${P}/jobs/j/pause`, JSON.stringify({ reason: 'x'.repeat(1_100_000) }), { 'content-type': 'application/json' }), 413)
    assertError(await req('POST', `${P}/jobs`, { id: 'j', func: 'hello', trigger: 'interval', hours: -1, replace_existing: true }), 400, /^hours: /)
    assertError(await req('POST', `${P}/jobs`, { id: 'j', func: 'nope', replace_existing: true }), 400, /^func: /)
    assert.equal((await req('GET', `${P}/jobs/j`)).body, before)

    await app.scheduler.start()
    assertError(await req('POST', `${P}/shutdown`, { wait: 'yes' }), 400, 'wait: must be true or false')
    assertError(await req('POST', `${P}/shutdown`, { wait: null }), 400, 'wait: must be true or false')
    assert.equal(app.scheduler.state, 'running')
    await app.scheduler.shutdown()

    // An interval whose end_date passed while it was paused has nothing left to resume to.
    assertJob(await req('POST', `${P}/jobs`, { id: 'ends', func: 'hello', trigger: 'interval', hours: 1, end_date: '2030-01-01T03:00:00+00:00' }))
    assertJob(await req('POST', `${P}/jobs/ends/pause`, { reason: 'hold' }))
    clock.jump(6 * 3600_000)
    const paused = (await req('GET', `${P}/jobs/ends`)).body
    assertError(await req('POST', `${P}/jobs/ends/resume`), 400, /^trigger: never fires/)
    assert.equal((await req('GET', `${P}/jobs/ends`)).body, paused, 'still paused, with its reason')
    await app.close()
  })

  test('every date the API writes can be sent back and comes out byte for byte the same', async () => {
    const { app } = await build()
    const req = requester(app)
    const inputs: Array<Record<string, unknown>> = [
      { id: 'date-berlin', trigger: 'date', run_date: '2030-05-06T07:08:09.250000+02:00', timezone: 'Europe/Berlin' },
      { id: 'date-naive', trigger: 'date', run_date: '2030-11-03T01:30:00', timezone: 'America/New_York' },
      { id: 'date-only', trigger: 'date', run_date: '2031-07-01', timezone: 'Australia/Lord_Howe' },
      { id: 'iv-ny', trigger: 'interval', hours: 1.5, start_date: '2031-07-04T09:00:00-04:00', end_date: '2031-12-25T09:00:00.500000-05:00', timezone: 'America/New_York', jitter: 3 },
      { id: 'cron-ktm', trigger: 'cron', hour: 5, start_date: '1900-01-01T00:00:00+05:41:16', timezone: 'Asia/Kathmandu' },
      { id: 'cron-end', trigger: 'cron', minute: '*/10', end_date: '2030-06-01T00:00:00.001000+05:45', timezone: 'Asia/Kathmandu' },
      { id: 'next', trigger: 'interval', days: 8, next_run_time: '2031-01-01T00:00:00.999000+00:00' },
      { id: 'paused', trigger: 'cron', crontab: '0 9 * * 1-5', next_run_time: null, timezone: 'Europe/Berlin' }
    ]
    const wire = (job: Record<string, unknown>): Record<string, unknown> => {
      const { id: _id, name: _name, paused: _p, paused_reason: _r, source: _s, ...rest } = job
      if (rest.trigger === 'date') delete rest.jitter
      return rest
    }
    for (const input of inputs) {
      const first = assertJob(await req('POST', `${P}/jobs`, { func: 'hello', ...input }))
      for (const field of ['run_date', 'start_date', 'end_date', 'next_run_time']) {
        if (typeof input[field] === 'string' && /[+-]\d\d:\d\d(:\d\d)?$/.test(input[field] as string)) {
          assert.equal(first[field], input[field], `${String(input.id)}: ${field} as sent`)
        }
      }
      const copy = assertJob(await req('POST', `${P}/jobs`, { id: `copy-${String(input.id)}`, ...wire(first) }))
      assert.equal(JSON.stringify(wire(copy)), JSON.stringify(wire(first)), `${String(input.id)} round-trips`)
      const { jobstore: _store, ...patch } = wire(first)
      const patched = assertJob(await req('PATCH', `${P}/jobs/copy-${String(input.id)}`, patch))
      assert.equal(JSON.stringify(wire(patched)), JSON.stringify(wire(first)), `${String(input.id)} patched with itself`)
    }
    const naive = assertJob(await req('GET', `${P}/jobs/date-naive`))
    assert.equal(naive.run_date, '2030-11-03T01:30:00-04:00', 'an ambiguous wall time is its first occurrence')
    assert.equal(assertJob(await req('GET', `${P}/jobs/date-only`)).run_date, '2031-07-01T00:00:00+10:30', 'date only = midnight in the zone')
    await app.close()
  })

  test('job JSON: intervals as their non-zero parts, legacy triggers of every type, generated ids, canonical zone names', async () => {
    const { app } = await build()
    const req = requester(app)
    const parts = async (given: Record<string, number>): Promise<Record<string, unknown>> => {
      const job = assertJob(await req('POST', `${P}/jobs`, { func: 'hello', trigger: 'interval', ...given }))
      return Object.fromEntries(['weeks', 'days', 'hours', 'minutes', 'seconds'].filter((k) => k in job).map((k) => [k, job[k]]))
    }
    assert.deepEqual(await parts({ hours: 1.5 }), { hours: 1, minutes: 30 })
    assert.deepEqual(await parts({ seconds: 90 }), { minutes: 1, seconds: 30 })
    assert.deepEqual(await parts({ seconds: 0.25 }), { seconds: 0.25 })
    assert.deepEqual(await parts({ days: 14 }), { weeks: 2 })
    assert.deepEqual(await parts({ minutes: 1440 }), { days: 1 })
    assert.deepEqual(await parts({ weeks: 0, days: 0, hours: 2, minutes: 0, seconds: 0 }), { hours: 2 })
    assert.deepEqual(await parts({ weeks: 1, days: 1, hours: 1, minutes: 1, seconds: 1.5 }), { weeks: 1, days: 1, hours: 1, minutes: 1, seconds: 1.5 })

    let job = assertJob(await req('POST', `${P}/jobs`, { id: 'li', func: 'hello', trigger: { type: 'interval', hours: 2, timezone: 'Europe/Berlin' } }))
    assert.deepEqual([job.trigger, job.hours, job.timezone, job.start_date], ['interval', 2, 'Europe/Berlin', '2030-01-01T03:00:00+01:00'])
    job = assertJob(await req('POST', `${P}/jobs`, { id: 'ld', func: 'hello', trigger: { type: 'date', run_date: '2031-01-01T12:00:00' }, timezone: 'Asia/Tokyo' }))
    assert.deepEqual([job.trigger, job.run_date], ['date', '2031-01-01T12:00:00+09:00'])
    job = assertJob(await req('POST', `${P}/jobs`, { id: 'lc', func: 'hello', trigger: { type: 'cron', crontab: '30 8 * * 0', timezone: 'UTC' }, timezone: 'UTC' }))
    assert.deepEqual([job.trigger, job.crontab, job.next_run_time], ['cron', '30 8 * * 0', '2030-01-06T08:30:00+00:00'])

    job = assertJob(await req('POST', `${P}/jobs`, { func: 'hello' }))
    assert.match(String(job.id), /^[0-9a-f]{32}$/, 'an id is generated when absent')
    assert.equal(job.name, job.id, 'name defaults to the id')
    assert.deepEqual([job.trigger, job.next_run_time], ['date', '2030-01-01T00:00:00+00:00'], 'no trigger = date, now')

    job = assertJob(await req('POST', `${P}/jobs`, { id: 'tz', func: 'hello', trigger: 'cron', hour: 6, timezone: 'europe/berlin' }))
    assert.equal(job.timezone, 'Europe/Berlin', 'a zone name in another case is written the IANA way')
    assert.equal(job.next_run_time, '2030-01-01T06:00:00+01:00')
    assert.equal(assertJob(await req('PATCH', `${P}/jobs/tz`, { timezone: 'utc' })).timezone, 'UTC')
    await app.close()
  })

  test('PATCH: a crontab replaces the cron fields and cron fields replace a crontab', async () => {
    const { app } = await build()
    const req = requester(app)
    assertJob(await req('POST', `${P}/jobs`, { id: 'c', func: 'hello', trigger: 'cron', hour: 5, minute: 30 }))
    let job = assertJob(await req('PATCH', `${P}/jobs/c`, { crontab: '*/5 * * * *' }))
    assert.equal(job.crontab, '*/5 * * * *')
    assert.ok(!('hour' in job) && !('minute' in job), JSON.stringify(job))
    assert.equal(job.next_run_time, '2030-01-01T00:00:00+00:00')
    job = assertJob(await req('PATCH', `${P}/jobs/c`, { hour: 7 }))
    assert.equal(job.hour, '7')
    assert.ok(!('crontab' in job))
    assert.equal(job.next_run_time, '2030-01-01T07:00:00+00:00')
    assertError(await req('PATCH', `${P}/jobs/c`, { hour: 8, crontab: '0 8 * * *' }), 400, /^crontab: cannot be combined with hour/)
    await app.close()
  })

  test('runs?limit larger than any history is "all" on SQLite too; a task error is a 500 whatever status it carries', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'apsched-api-'))
    try {
      const { app } = await build({
        store: new SqliteStore({ path: join(dir, 'jobs.sqlite') }),
        tasks: { hello: () => {}, notFound: () => { throw Object.assign(new Error('lookup failed'), { statusCode: 404 }) } }
      })
      const req = requester(app)
      assertJob(await req('POST', `${P}/jobs`, { id: 'r', func: 'hello', trigger: 'interval', hours: 1 }))
      assertJob(await req('POST', `${P}/jobs/r/run`))
      for (const limit of ['100000000000000000000', '9007199254740993', '2147483648']) {
        const res = await req('GET', `${P}/jobs/r/runs?limit=${limit}`)
        assert.equal(res.statusCode, 200, res.body)
        assert.equal(res.json().length, 1)
      }
      assertJob(await req('POST', `${P}/jobs`, { id: 'nf', func: 'notFound', trigger: 'interval', hours: 1 }))
      assertError(await req('POST', `${P}/jobs/nf/run`), 500, 'lookup failed')
      assert.equal(assertJob(await req('GET', `${P}/jobs/nf`)).id, 'nf')
      await app.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
