/**
 * Wire format against Flask-APScheduler 1.13.1 as the reference: offsets kept as given, bodies
 * upstream ignores, PATCH bodies, null id and name, and the documented deliberate differences.
 */
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import scheduler, { ManualClock, type TaskContext } from '../src/index.js'

const T0 = Date.UTC(2030, 0, 1)
const P = '/scheduler'

async function build (): Promise<{ app: FastifyInstance, runs: string[] }> {
  const runs: string[] = []
  const app = Fastify()
  await app.register(scheduler, {
    apiEnabled: true,
    autoStart: false,
    clock: new ManualClock(T0),
    tasks: { hello: (ctx: TaskContext) => { runs.push(ctx.job.id) } }
  })
  await app.ready()
  return { app, runs }
}

type Send = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'PUT', url: string, body?: unknown, headers?: Record<string, string>) => Promise<LightMyRequestResponse>
const sender = (app: FastifyInstance): Send => async (method, url, body, headers) => await app.inject({
  method,
  url,
  ...(body === undefined ? {} : { payload: typeof body === 'string' ? body : JSON.stringify(body) }),
  headers: { ...(body !== undefined && typeof body !== 'string' ? { 'content-type': 'application/json' } : {}), ...headers }
})

function ok (res: LightMyRequestResponse, status = 200): Record<string, unknown> {
  assert.equal(res.statusCode, status, res.body)
  return res.body === '' ? {} : res.json()
}

function refused (res: LightMyRequestResponse, status: number, message: RegExp): void {
  assert.equal(res.statusCode, status, res.body)
  assert.match(res.json().message, message)
  assert.equal(res.json().error_message, res.json().message)
}

describe('offsets are kept as given', () => {
  test('run_date with +02:00 comes back with +02:00, and is the next_run_time of the date job', async () => {
    const { app } = await build()
    const send = sender(app)
    const job = ok(await send('POST', `${P}/jobs`, { id: 'd', func: 'hello', trigger: 'date', run_date: '2030-05-06T07:08:09+02:00' }))
    assert.equal(job.run_date, '2030-05-06T07:08:09+02:00')
    assert.equal(job.next_run_time, '2030-05-06T07:08:09+02:00')
    assert.equal(job.timezone, 'UTC')
    const again = ok(await send('GET', `${P}/jobs/d`))
    assert.equal(again.run_date, '2030-05-06T07:08:09+02:00')
    // Z is written as +00:00; fractions keep their 6 digits.
    const z = ok(await send('POST', `${P}/jobs`, { id: 'z', func: 'hello', run_date: '2030-05-06T07:08:09.250Z', timezone: 'Asia/Tokyo' }))
    assert.equal(z.run_date, '2030-05-06T07:08:09.250000+00:00')
    assert.equal(z.next_run_time, '2030-05-06T07:08:09.250000+00:00')
    await app.close()
  })

  test('start_date and end_date keep their offsets; dates without one are in the job timezone', async () => {
    const { app } = await build()
    const send = sender(app)
    const cron = ok(await send('POST', `${P}/jobs`, {
      id: 'c', func: 'hello', trigger: 'cron', hour: 3, timezone: 'Europe/Berlin',
      start_date: '2030-02-01T00:00:00-05:00', end_date: '2031-01-01T00:00:00Z'
    }))
    assert.equal(cron.start_date, '2030-02-01T00:00:00-05:00')
    assert.equal(cron.end_date, '2031-01-01T00:00:00+00:00')
    assert.equal(cron.next_run_time, '2030-02-02T03:00:00+01:00', 'a computed fire is in the job timezone (the start is 06:00 there)')
    const interval = ok(await send('POST', `${P}/jobs`, { id: 'i', func: 'hello', trigger: 'interval', hours: 1, start_date: '2030-03-01T12:00:00', end_date: '2030-04-01T12:00:00+09:00', timezone: 'America/New_York' }))
    assert.equal(interval.start_date, '2030-03-01T12:00:00-05:00', 'no offset given: wall time in the job timezone, written there')
    assert.equal(interval.end_date, '2030-04-01T12:00:00+09:00')
    // A PATCH of another field, or of the zone, keeps them: the instants and their offsets.
    const patched = ok(await send('PATCH', `${P}/jobs/c`, { minute: 30 }))
    assert.equal(patched.start_date, '2030-02-01T00:00:00-05:00')
    assert.equal(patched.end_date, '2031-01-01T00:00:00+00:00')
    const moved = ok(await send('PATCH', `${P}/jobs/i`, { timezone: 'Asia/Tokyo' }))
    assert.equal(moved.end_date, '2030-04-01T12:00:00+09:00')
    assert.equal(moved.start_date, '2030-03-01T12:00:00-05:00')
    await app.close()
  })

  test('a next_run_time given with an offset comes back with it until the job moves on', async () => {
    const { app } = await build()
    const send = sender(app)
    const job = ok(await send('POST', `${P}/jobs`, { id: 'n', func: 'hello', trigger: 'interval', minutes: 10, next_run_time: '2030-01-01T05:30:00+05:30' }))
    assert.equal(job.next_run_time, '2030-01-01T05:30:00+05:30')
    const patched = ok(await send('PATCH', `${P}/jobs/n`, { next_run_time: '2030-01-02T00:00:00-08:00' }))
    assert.equal(patched.next_run_time, '2030-01-02T00:00:00-08:00')
    // Paused and resumed, the next run is computed again: in the job timezone.
    ok(await send('POST', `${P}/jobs/n/pause`))
    const resumed = ok(await send('POST', `${P}/jobs/n/resume`))
    assert.match(String(resumed.next_run_time), /\+00:00$/)
    await app.close()
  })
})

describe('bodies upstream ignores are not refused', () => {
  test('job pause/resume/run ignore unknown fields and bodies that are not JSON; reason is still validated', async () => {
    const { app, runs } = await build()
    const send = sender(app)
    ok(await send('POST', `${P}/jobs`, { id: 'j', func: 'hello', trigger: 'interval', hours: 1 }))
    assert.equal(ok(await send('POST', `${P}/jobs/j/pause`, { foo: 1 })).paused, true)
    assert.equal(ok(await send('POST', `${P}/jobs/j/resume`, 'not json', { 'content-type': 'application/json' })).paused, false)
    assert.equal(ok(await send('POST', `${P}/jobs/j/pause`, '[1, 2]', { 'content-type': 'application/json' })).paused, true)
    assert.equal(ok(await send('POST', `${P}/jobs/j/resume`, '<x/>', { 'content-type': 'application/xml' })).paused, false)
    ok(await send('POST', `${P}/jobs/j/run`, '{"wait":', { 'content-type': 'application/json' }))
    assert.deepEqual(runs, ['j'])
    const paused = ok(await send('POST', `${P}/jobs/j/pause`, { reason: 'maintenance', extra: true }))
    assert.equal(paused.paused_reason, 'maintenance')
    const before = (await send('GET', `${P}/jobs/j`)).body
    refused(await send('POST', `${P}/jobs/j/pause`, { reason: 5 }), 400, /^reason: /)
    assert.equal((await send('GET', `${P}/jobs/j`)).body, before, 'a refused pause changes nothing')
    await app.close()
  })

  test('the same through the route for long ids', async () => {
    const { app } = await build()
    const send = sender(app)
    const id = 'x'.repeat(150)
    ok(await send('POST', `${P}/jobs`, { id, func: 'hello', trigger: 'interval', hours: 1 }))
    assert.equal(ok(await send('POST', `${P}/jobs/${id}/pause`, 'garbage', { 'content-type': 'application/json' })).paused, true)
    assert.equal(ok(await send('POST', `${P}/jobs/${id}/resume`, { foo: 1 })).paused, false)
    refused(await send('POST', `${P}/jobs/${id}/pause`, { reason: [] }), 400, /^reason: /)
    await app.close()
  })

  test('scheduler pause/resume/start/shutdown ignore them too; a shutdown with an unparsable body is done', async () => {
    const { app } = await build()
    const send = sender(app)
    ok(await send('POST', `${P}/start`, 'nonsense', { 'content-type': 'application/json' }), 204)
    assert.equal(app.scheduler.state, 'running')
    ok(await send('POST', `${P}/pause`, { foo: 1 }), 204)
    assert.equal(app.scheduler.state, 'paused')
    ok(await send('POST', `${P}/resume`, '{', { 'content-type': 'text/plain' }), 204)
    assert.equal(app.scheduler.state, 'running')
    refused(await send('POST', `${P}/shutdown`, { wait: 'no' }), 400, /^wait: must be true or false/)
    assert.equal(app.scheduler.state, 'running', 'a refused shutdown is not done')
    ok(await send('POST', `${P}/shutdown`, '{"wait": tru', { 'content-type': 'application/json' }), 204)
    assert.equal(app.scheduler.state, 'stopped')
    await app.close()
  })
})

describe('PATCH bodies', () => {
  test('application/merge-patch+json is accepted; no body at all is a 400; {} changes nothing', async () => {
    const { app } = await build()
    const send = sender(app)
    ok(await send('POST', `${P}/jobs`, { id: 'p', func: 'hello', trigger: 'cron', hour: 4 }))
    const before = (await send('GET', `${P}/jobs/p`)).body
    refused(await send('PATCH', `${P}/jobs/p`), 400, /^body: a JSON object with the fields to change is required/)
    refused(await send('PATCH', `${P}/jobs/p`, '', { 'content-type': 'application/json' }), 400, /^body: /)
    assert.equal((await send('GET', `${P}/jobs/p`)).body, before)
    assert.equal(JSON.stringify(ok(await send('PATCH', `${P}/jobs/p`, {}))), before, '{} is a no-op')
    const merged = ok(await send('PATCH', `${P}/jobs/p`, JSON.stringify({ name: 'renamed' }), { 'content-type': 'application/merge-patch+json' }))
    assert.equal(merged.name, 'renamed')
    assert.equal(merged.hour, '4')
    // Only PATCH speaks merge-patch.
    refused(await send('POST', `${P}/jobs`, JSON.stringify({ func: 'hello' }), { 'content-type': 'application/merge-patch+json' }), 415, /Unsupported Media Type/)
    await app.close()
  })
})

describe('null id and name', () => {
  test('POST /jobs with id: null generates an id; name: null means the default name (the id)', async () => {
    const { app } = await build()
    const send = sender(app)
    const job = ok(await send('POST', `${P}/jobs`, { id: null, name: null, func: 'hello', trigger: 'interval', hours: 1 }))
    assert.match(String(job.id), /^[0-9a-f]{32}$/)
    assert.equal(job.name, job.id)
    const named = ok(await send('POST', `${P}/jobs`, { id: 'given', name: null, func: 'hello' }))
    assert.equal(named.name, 'given')
    await app.close()
  })
})

describe('deliberate differences from upstream (README decisions)', () => {
  test('charset on JSON, no Content-Type on 204, P/ like P, PATCH keeps the timezone, interval needs units, unknown method 404', async () => {
    const { app } = await build()
    const send = sender(app)
    const info = await send('GET', P)
    assert.equal(info.headers['content-type'], 'application/json; charset=utf-8')
    assert.equal((await send('GET', `${P}/`)).body, info.body)
    ok(await send('POST', `${P}/jobs`, { id: 't', func: 'hello', trigger: 'cron', hour: 1, timezone: 'Europe/Berlin' }))
    const patched = ok(await send('PATCH', `${P}/jobs/t`, { trigger: 'interval', hours: 2 }))
    assert.equal(patched.timezone, 'Europe/Berlin')
    refused(await send('POST', `${P}/jobs`, { func: 'hello', trigger: 'interval' }), 400, /^seconds: the interval must be longer than zero/)
    const deleted = await send('DELETE', `${P}/jobs/t`)
    assert.equal(deleted.statusCode, 204)
    assert.equal(deleted.headers['content-type'], undefined)
    assert.equal((await send('PUT', `${P}/jobs/t`, {})).statusCode, 404)
    await app.close()
  })
})
