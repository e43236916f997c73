import { test } from 'node:test'
import assert from 'node:assert/strict'
import Fastify, { type FastifyInstance, type InjectOptions } from 'fastify'
import scheduler, { ManualClock, type SchedulerPluginOptions } from '../src/index.js'

const T0 = Date.UTC(2030, 0, 1)
const P = '/scheduler'
const LONG = encodeURIComponent(`${'ü'.repeat(150)}`)
const EVIL = 'https://evil.example'

/** Every state-changing route (the long-id fallback included). */
const WRITES: Array<[InjectOptions['method'], string, string?]> = [
  ['POST', `${P}/pause`],
  ['POST', `${P}/resume`],
  ['POST', `${P}/start`],
  ['POST', `${P}/shutdown`, '{"wait":false}'],
  ['POST', `${P}/jobs`, '{"id":"planted","func":"hello","trigger":"interval","seconds":1}'],
  ['PATCH', `${P}/jobs/j`, '{"name":"x"}'],
  ['POST', `${P}/jobs/j/pause`, '{"reason":"r"}'],
  ['POST', `${P}/jobs/j/resume`],
  ['POST', `${P}/jobs/j/run`],
  ['DELETE', `${P}/jobs/j`],
  ['DELETE', `${P}/jobs/${LONG}`]
]

async function build (opts: SchedulerPluginOptions = {}): Promise<{ app: FastifyInstance, ran: string[] }> {
  const ran: string[] = []
  const app = Fastify()
  await app.register(scheduler, {
    apiEnabled: true, clock: new ManualClock(T0), tasks: { hello: (ctx) => { ran.push(ctx.job.id) } }, ...opts
  })
  await app.ready()
  await app.scheduler.addJob({ id: 'j', func: 'hello', trigger: 'interval', hours: 1 })
  return { app, ran }
}

async function assertUntouched (app: FastifyInstance, ran: string[]): Promise<void> {
  assert.equal(app.scheduler.state, 'running')
  const jobs = await app.scheduler.getJobs()
  assert.deepEqual(jobs.map((j) => [j.id, j.name, j.paused]), [['j', 'j', false]])
  assert.deepEqual(ran, [])
}

for (const [label, headers] of [
  ['Origin of another site', { origin: EVIL }],
  ['Origin of another site and Sec-Fetch-Site: cross-site', { origin: EVIL, 'sec-fetch-site': 'cross-site' }],
  ['Sec-Fetch-Site: cross-site without Origin', { 'sec-fetch-site': 'cross-site' }],
  ['Sec-Fetch-Site: same-site (a sibling subdomain)', { origin: 'https://other.localhost', 'sec-fetch-site': 'same-site' }],
  ['Origin: null (sandboxed document)', { origin: 'null' }],
  ['Origin on this host name but another port', { origin: 'http://localhost:8080' }],
  ['Origin on this host and port but https is not this host', { origin: 'https://localhost' }]
] as const) {
  test(`${label}: every state-changing route answers 403 naming the reason, and nothing changes`, async () => {
    const { app, ran } = await build()
    try {
      for (const [method, url, body] of WRITES) {
        for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
          const res = await app.inject({ method, url, headers: { ...headers, 'content-type': type }, ...(body === undefined ? {} : { payload: body }) })
          assert.equal(res.statusCode, 403, `${method} ${url} (${type}): ${res.body}`)
          const json = res.json()
          assert.equal(json.error, 'Forbidden')
          assert.match(json.message, /^Cross-site request refused: /)
          assert.equal(json.error_message, json.message)
          if ('origin' in headers) assert.ok(json.message.includes(`'${headers.origin}'`), json.message)
          else assert.match(json.message, /Sec-Fetch-Site is 'cross-site'/)
        }
      }
      await app.scheduler.whenIdle()
      await assertUntouched(app, ran)
    } finally {
      await app.close()
    }
  })
}

test('reads are not refused cross-site (a browser keeps the response from the other page anyway)', async () => {
  const { app } = await build()
  try {
    for (const url of [P, `${P}/jobs`, `${P}/jobs/j`, `${P}/health`, `${P}/metrics`]) {
      const res = await app.inject({ method: 'GET', url, headers: { origin: EVIL, 'sec-fetch-site': 'cross-site' } })
      assert.equal(res.statusCode, 200, url)
    }
  } finally {
    await app.close()
  }
})

test('curl and scripts (no Origin, no Sec-Fetch-Site) and same-origin pages keep working', async () => {
  const { app, ran } = await build()
  try {
    // curl -d sends form-urlencoded; generated clients send JSON; neither sends Origin.
    let res = await app.inject({ method: 'POST', url: `${P}/jobs`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: '{"id":"c","func":"hello","trigger":"interval","hours":1}' })
    assert.equal(res.statusCode, 200, res.body)
    // A page of this site (the dashboard at P/ui): the browser sends Origin = this host, and Sec-Fetch-Site.
    res = await app.inject({ method: 'POST', url: `${P}/jobs/c/pause`, headers: { origin: 'http://localhost', 'sec-fetch-site': 'same-origin', 'content-type': 'application/json' }, payload: '{"reason":"ui"}' })
    assert.equal(res.statusCode, 200, res.body)
    assert.equal(res.json().paused_reason, 'ui')
    // An older browser without Fetch Metadata: Origin alone, same host (default port written or not).
    res = await app.inject({ method: 'POST', url: `${P}/jobs/c/resume`, headers: { origin: 'http://localhost:80' } })
    assert.equal(res.statusCode, 200, res.body)
    // Typed into the address bar / a bookmark: Sec-Fetch-Site none.
    res = await app.inject({ method: 'POST', url: `${P}/jobs/c/run`, headers: { 'sec-fetch-site': 'none' } })
    assert.equal(res.statusCode, 200, res.body)
    assert.deepEqual(ran, ['c'])
    // Behind a proxy that rewrites Host, Sec-Fetch-Site still says same-origin.
    res = await app.inject({ method: 'DELETE', url: `${P}/jobs/c`, headers: { origin: 'https://public.example', 'sec-fetch-site': 'same-origin', host: 'internal:3000' } })
    assert.equal(res.statusCode, 204, res.body)
  } finally {
    await app.close()
  }
})

test('allowedOrigins lets a dashboard served elsewhere change state, and no other site', async () => {
  const { app } = await build({ allowedOrigins: ['https://Dash.Example.com:8443/', 'http://127.0.0.1:5173'] })
  try {
    let res = await app.inject({ method: 'POST', url: `${P}/jobs/j/pause`, headers: { origin: 'https://dash.example.com:8443', 'sec-fetch-site': 'cross-site' } })
    assert.equal(res.statusCode, 200, res.body)
    res = await app.inject({ method: 'POST', url: `${P}/jobs/j/resume`, headers: { origin: 'http://127.0.0.1:5173' } })
    assert.equal(res.statusCode, 200, res.body)
    res = await app.inject({ method: 'POST', url: `${P}/jobs/j/pause`, headers: { origin: 'https://dash.example.com', 'sec-fetch-site': 'cross-site' } })
    assert.equal(res.statusCode, 403, res.body)
  } finally {
    await app.close()
  }
})

test('with auth on, a cross-site request is refused before the credentials are even checked', async () => {
  let asked = 0
  const { app, ran } = await build({ auth: { authenticate: () => { asked++; return true } } })
  try {
    const res = await app.inject({
      method: 'POST', url: `${P}/shutdown`, headers: { origin: EVIL, authorization: `Basic ${Buffer.from('a:b').toString('base64')}`, 'content-type': 'text/plain' }, payload: '{}'
    })
    assert.equal(res.statusCode, 403)
    assert.equal(asked, 0)
    await assertUntouched(app, ran)
  } finally {
    await app.close()
  }
})

test('allowedOrigins is validated at register time with a message naming the entry', async () => {
  const cases: Array<[unknown, RegExp]> = [
    ['https://dash.example.com', /option 'allowedOrigins' must be an array/],
    [['https://dash.example.com/app'], /option 'allowedOrigins\[0\]' must be an origin only/],
    [['ok.example', 'x'], /option 'allowedOrigins\[0\]' must be an origin like/],
    [['https://a.example', 'ftp://files.example'], /option 'allowedOrigins\[1\]' must be an http or https origin/],
    [['https://a.example?x=1'], /option 'allowedOrigins\[0\]' must be an origin only/],
    [['https://user@a.example'], /option 'allowedOrigins\[0\]' must be an origin only/],
    [[42], /option 'allowedOrigins\[0\]' must be an origin string/],
    [['*'], /option 'allowedOrigins\[0\]' must be an origin like/]
  ]
  for (const [allowedOrigins, message] of cases) {
    const app = Fastify()
    await assert.rejects(async () => {
      await app.register(scheduler, { apiEnabled: true, allowedOrigins: allowedOrigins as string[] })
      await app.ready()
    }, message, JSON.stringify(allowedOrigins))
    await app.close().catch(() => {})
  }
})
