import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import Fastify, { type FastifyInstance, type InjectOptions, type LightMyRequestResponse } from 'fastify'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import scheduler, { ManualClock, type SchedulerPluginOptions } from '../src/index.js'

const T0 = Date.UTC(2030, 0, 1)
const P = '/scheduler'
const HEADER = 'Basic realm="Authentication Required"'
const basic = (user: string, pass: string): string => `Basic ${Buffer.from(`${user}:${pass}`, 'utf8').toString('base64')}`
const LONG = encodeURIComponent(`${'ü'.repeat(180)}/x`)

/** Every scheduler route, plus an unknown one under the prefix and the long-id fallback. */
const ROUTES: Array<[InjectOptions['method'], string, unknown?]> = [
  ['GET', P],
  ['POST', `${P}/pause`],
  ['POST', `${P}/resume`],
  ['POST', `${P}/start`],
  ['POST', `${P}/shutdown`, { wait: false }],
  ['POST', `${P}/jobs`, { id: 'new', func: 'hello' }],
  ['GET', `${P}/jobs`],
  ['GET', `${P}/jobs/j`],
  ['PATCH', `${P}/jobs/j`, { name: 'x' }],
  ['POST', `${P}/jobs/j/pause`, { reason: 'r' }],
  ['POST', `${P}/jobs/j/resume`],
  ['POST', `${P}/jobs/j/run`],
  ['GET', `${P}/jobs/j/runs`],
  ['GET', `${P}/jobs/j/next?count=2`],
  ['GET', `${P}/health`],
  ['GET', `${P}/metrics`],
  ['DELETE', `${P}/jobs/j`],
  ['GET', `${P}/jobs/${LONG}`],
  ['GET', `${P}/no-such-route`],
  ['POST', `${P}/jobs`, 'x'.repeat(2_000_000)]
]

async function build (opts: SchedulerPluginOptions = {}): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(swagger, { openapi: { info: { title: 'host', version: '1.0.0' } } })
  await app.register(swaggerUi, { routePrefix: '/docs' })
  app.get('/hello', async () => ({ hello: 'world' }))
  await app.register(scheduler, { apiEnabled: true, autoStart: false, clock: new ManualClock(T0), tasks: { hello: () => {} }, ...opts })
  await app.ready()
  await app.scheduler.addJob({ id: 'j', func: 'hello', trigger: 'interval', hours: 1 })
  return app
}

const send = async (app: FastifyInstance, [method, url, payload]: [InjectOptions['method'], string, unknown?], authorization?: string): Promise<LightMyRequestResponse> =>
  await app.inject({
    method,
    url,
    ...(payload === undefined ? {} : { payload: payload as string }),
    headers: authorization === undefined ? {} : { authorization }
  })

function assert401 (res: LightMyRequestResponse, what: string): void {
  assert.equal(res.statusCode, 401, `${what}: ${res.body}`)
  assert.equal(res.headers['www-authenticate'], HEADER, what)
  const body = res.json()
  assert.deepEqual(Object.keys(body).sort(), ['error', 'error_message', 'message', 'statusCode'], what)
  assert.equal(body.statusCode, 401)
  assert.equal(body.error, 'Unauthorized')
  assert.equal(body.error_message, body.message)
}

async function assertHostOpen (app: FastifyInstance): Promise<void> {
  assert.deepEqual((await app.inject('/hello')).json(), { hello: 'world' })
  const docs = await app.inject('/docs')
  assert.ok(docs.statusCode < 400, `host /docs is open (${docs.statusCode})`)
  assert.equal((await app.inject('/docs/json')).statusCode, 200)
  assert.equal((await app.inject('/docs/static/swagger-ui.css')).statusCode, 200)
}

describe('REST API: HTTP Basic auth', () => {
  test('the auth option: 401 with the exact header and a JSON body on every scheduler route, without or with wrong credentials', async () => {
    const seen: Array<{ username: string, password: string, url: string }> = []
    const app = await build({
      auth: {
        authenticate: async ({ username, password }, request) => {
          seen.push({ username, password, url: (request as { url: string }).url })
          return username === 'admin' && password === 'pässwörd'
        }
      }
    })
    for (const route of ROUTES) {
      const what = `${route[0]} ${route[1].slice(0, 60)}`
      assert401(await send(app, route), `${what} without credentials`)
      assert401(await send(app, route, basic('admin', 'wrong')), `${what} with a wrong password`)
      assert401(await send(app, route, basic('eve', 'pässwörd')), `${what} with a wrong user`)
      assert401(await send(app, route, 'Bearer abc'), `${what} with another scheme`)
    }
    assert.deepEqual(seen[0], { username: 'admin', password: 'wrong', url: P }, 'the callback gets UTF-8 credentials and the request')
    await assertHostOpen(app)

    const ok = basic('admin', 'pässwörd')
    for (const route of ROUTES) {
      const res = await send(app, route, ok)
      assert.notEqual(res.statusCode, 401, `${route[0]} ${route[1].slice(0, 60)} with the right credentials`)
    }
    assert.equal((await send(app, ['GET', P], ok)).statusCode, 200)
    assert.equal((await send(app, ['GET', `${P}/jobs/new`], ok)).statusCode, 200)
    await app.close()
  })

  test('fastify.scheduler.authenticate(fn) turns auth on at request time, and the later callback wins', async () => {
    const app = await build()
    assert.equal((await app.inject(P)).statusCode, 200, 'no authenticator: open')
    app.scheduler.authenticate(({ username, password }) => username === 'a' && password === 'a')
    assert401(await app.inject(P), 'after authenticate(fn)')
    assert.equal((await app.inject({ url: P, headers: { authorization: basic('a', 'a') } })).statusCode, 200)
    app.scheduler.authenticate(async ({ username }) => username === 'b')
    assert401(await app.inject({ url: P, headers: { authorization: basic('a', 'a') } }), 'the earlier callback no longer applies')
    assert.equal((await app.inject({ url: `${P}/jobs`, headers: { authorization: basic('b', '') } })).statusCode, 200)
    await assertHostOpen(app)
    await app.close()
  })

  test('authenticate(fn) replaces the auth option; only a literal true lets a request in; a throwing callback is a 500', async () => {
    const app = await build({ auth: { authenticate: ({ username }) => username === 'option' } })
    assert.equal((await app.inject({ url: P, headers: { authorization: basic('option', 'x') } })).statusCode, 200)
    app.scheduler.authenticate(({ username }) => username === 'later')
    assert401(await app.inject({ url: P, headers: { authorization: basic('option', 'x') } }), 'the option was replaced')
    assert.equal((await app.inject({ url: P, headers: { authorization: basic('later', 'x') } })).statusCode, 200)

    app.scheduler.authenticate((() => 'yes') as unknown as () => boolean)
    assert401(await app.inject({ url: P, headers: { authorization: basic('any', 'x') } }), 'a truthy non-boolean is a refusal')

    app.scheduler.authenticate(() => { throw new Error('directory down') })
    const res = await app.inject({ url: P, headers: { authorization: basic('any', 'x') } })
    assert.equal(res.statusCode, 500)
    assert.equal(res.json().error_message, res.json().message)
    assert.doesNotMatch(res.body, /directory down/, 'the callback error is logged, not sent')
    await app.close()
  })
})
