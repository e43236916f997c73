// The dashboard's server side: the `ui` option, its files, and the read-only routes it uses.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import Fastify from 'fastify'
import scheduler, { ManualClock, MemoryStore } from '../src/index.js'
import { makeApp, T0 } from './helpers.js'

test('ui follows apiEnabled, is validated up front, and ui: false leaves the routes out', async () => {
  const off = Fastify()
  await off.register(scheduler, { autoStart: false })
  assert.equal((await off.inject('/scheduler/ui')).statusCode, 404, 'no API, no dashboard')
  await off.close()

  await assert.rejects(async () => { const a = Fastify(); await a.register(scheduler, { ui: true }); await a.ready() },
    /option 'ui' needs apiEnabled: true/)
  await assert.rejects(async () => { const a = Fastify(); await a.register(scheduler, { apiEnabled: true, ui: 'yes' as unknown as boolean }); await a.ready() },
    /option 'ui' must be true or false/)

  const { app } = await makeApp({ apiEnabled: true, ui: false })
  assert.equal((await app.inject('/scheduler/ui')).statusCode, 404)
  assert.equal((await app.inject('/scheduler/tasks')).statusCode, 200, 'the API routes stay')
  await app.close()
})

test('the page and its files are served under <apiPrefix>/ui with a same-origin-only CSP', async () => {
  const { app } = await makeApp({ apiEnabled: true, apiPrefix: '/ops/jobs' })
  const page = await app.inject('/ops/jobs/ui')
  assert.equal(page.statusCode, 200)
  assert.match(page.headers['content-type'] as string, /^text\/html/)
  assert.match(page.body, /data-api="\/ops\/jobs"/)
  assert.match(page.body, /src="\/ops\/jobs\/ui\/app\.js"/)
  assert.doesNotMatch(page.body, /https?:\/\//, 'nothing loaded from another site')
  const csp = page.headers['content-security-policy'] as string
  assert.match(csp, /default-src 'none'/)
  assert.match(csp, /script-src 'self' 'sha256-[A-Za-z0-9+/=]+'/)
  assert.match(csp, /connect-src 'self'/)
  assert.equal((await app.inject('/ops/jobs/ui/')).statusCode, 200)

  for (const file of ['app.js', 'api.js', 'format.js', 'list.js', 'job.js', 'form.js', 'lib.js', 'style.css', 'icon.svg',
    'vendor/preact.mjs', 'vendor/hooks.mjs', 'vendor/htm.mjs', 'vendor/cronstrue.min.js']) {
    const res = await app.inject(`/ops/jobs/ui/${file}`)
    assert.equal(res.statusCode, 200, file)
    assert.ok(res.body.length > 0, file)
    const again = await app.inject({ url: `/ops/jobs/ui/${file}`, headers: { 'if-none-match': res.headers.etag as string } })
    assert.equal(again.statusCode, 304, `${file} revalidates with its ETag`)
  }
  assert.match((await app.inject('/ops/jobs/ui/app.js')).headers['content-type'] as string, /^text\/javascript/)
  for (const bad of ['nope.js', '../package.json', '..%2Fpackage.json', 'vendor/../../package.json', 'index.html']) {
    assert.equal((await app.inject(`/ops/jobs/ui/${bad}`)).statusCode, 404, bad)
  }
  await app.close()
})

test('with the empty apiPrefix the dashboard is at /ui; inside a host prefix it follows it', async () => {
  const { app } = await makeApp({ apiEnabled: true, apiPrefix: '' })
  const page = await app.inject('/ui')
  assert.equal(page.statusCode, 200)
  assert.match(page.body, /data-api=""/)
  assert.match(page.body, /src="\/ui\/app\.js"/)
  assert.equal((await app.inject('/ui/lib.js')).statusCode, 200)
  await app.close()

  const host = Fastify()
  await host.register(async (admin) => { await admin.register(scheduler, { apiEnabled: true, autoStart: false }) }, { prefix: '/admin' })
  const nested = await host.inject('/admin/scheduler/ui')
  assert.equal(nested.statusCode, 200)
  assert.match(nested.body, /data-api="\/admin\/scheduler"/)
  assert.equal((await host.inject('/admin/scheduler/ui/vendor/htm.mjs')).statusCode, 200)
  await host.close()
})

test('the dashboard is behind the same Basic auth as the API', async () => {
  const { app } = await makeApp({ apiEnabled: true, auth: { authenticate: ({ username, password }) => username === 'admin' && password === 'pw' } })
  for (const url of ['/scheduler/ui', '/scheduler/ui/app.js', '/scheduler/ui/vendor/preact.mjs', '/scheduler/tasks']) {
    const res = await app.inject(url)
    assert.equal(res.statusCode, 401, url)
    assert.equal(res.headers['www-authenticate'], 'Basic realm="Authentication Required"')
  }
  const authorization = `Basic ${Buffer.from('admin:pw').toString('base64')}`
  assert.equal((await app.inject({ url: '/scheduler/ui', headers: { authorization } })).statusCode, 200)
  await app.close()
})

test('GET P/tasks lists the registered task names, sorted', async () => {
  const { app } = await makeApp({ apiEnabled: true, tasks: { zeta: () => {}, alpha: () => {} } })
  const res = await app.inject('/scheduler/tasks')
  assert.equal(res.statusCode, 200)
  assert.deepEqual(res.json(), ['alpha', 'fail', 'record', 'zeta'])
  await app.close()
})

test('POST P/preview validates like POST P/jobs, stores nothing, and returns the next fire times', async () => {
  const { app } = await makeApp({ apiEnabled: true, autoStart: false })
  const ok = await app.inject({ method: 'POST', url: '/scheduler/preview?count=3', payload: { func: 'record', trigger: 'cron', hour: '9', day_of_week: 'mon-fri', timezone: 'Europe/Berlin' } })
  assert.equal(ok.statusCode, 200)
  const body = ok.json() as { job: Record<string, unknown>, next_run_times: string[] }
  // T0 is Tuesday 2030-01-01 00:00 UTC.
  assert.deepEqual(body.next_run_times, ['2030-01-01T09:00:00+01:00', '2030-01-02T09:00:00+01:00', '2030-01-03T09:00:00+01:00'])
  assert.equal(body.job.timezone, 'Europe/Berlin')
  assert.equal(body.job.next_run_time, '2030-01-01T09:00:00+01:00')
  assert.equal((await app.inject({ method: 'POST', url: '/scheduler/preview', payload: { func: 'record', trigger: 'interval', minutes: 5 } })).json().next_run_times.length, 10, 'ten by default')

  const paused = await app.inject({ method: 'POST', url: '/scheduler/preview?count=2', payload: { func: 'record', trigger: 'interval', seconds: 30, next_run_time: null } })
  assert.deepEqual(paused.json().next_run_times, ['2030-01-01T00:00:30+00:00', '2030-01-01T00:01:00+00:00'], 'a paused definition shows the times it would fire once resumed')

  for (const [payload, message] of [
    [{ func: 'record', trigger: 'cron', hour: '25' }, "hour: '25' is out of range 0-23"],
    [{ func: 'nope', trigger: 'interval', seconds: 1 }, /^func: /],
    [{ func: 'record', trigger: 'interval' }, /interval/],
    [{ func: 'record', trigger: 'date', run_date: 12 }, /^run_date: /],
    [{ func: 'record', trigger: 'cron', crontab: '61 * * * *' }, /^crontab: /]
  ] as const) {
    const res = await app.inject({ method: 'POST', url: '/scheduler/preview', payload })
    assert.equal(res.statusCode, 400, JSON.stringify(payload))
    if (typeof message === 'string') assert.equal(res.json().message, message)
    else assert.match(res.json().message, message)
  }
  assert.equal((await app.inject({ method: 'POST', url: '/scheduler/preview?count=101', payload: { func: 'record' } })).statusCode, 400)
  assert.equal((await app.inject('/scheduler/jobs')).headers['x-total-count'], '0', 'nothing was stored')
  await app.close()
})

test('POST P/runs/latest gives each job its newest finished run and the runs in progress', async () => {
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  const clock = new ManualClock(T0)
  const app = Fastify()
  await app.register(scheduler, {
    store: new MemoryStore(), apiEnabled: true, clock,
    tasks: { quick: () => {}, slow: async () => { await gate }, fail: () => { throw new Error('boom') } }
  })
  await app.ready()
  for (const [id, func] of [['a', 'quick'], ['b', 'slow'], ['c', 'fail'], ['d', 'quick']]) {
    await app.scheduler.addJob({ id, func, trigger: 'interval', hours: 1 })
  }
  await app.scheduler.runJob('a')
  await assert.rejects(app.scheduler.runJob('c'), /boom/)
  await app.scheduler.runJob('b', { wait: false })
  const res = await app.inject({ method: 'POST', url: '/scheduler/runs/latest', payload: { job_ids: ['a', 'b', 'c', 'd', 'missing', 'a'] } })
  assert.equal(res.statusCode, 200)
  const byId = new Map((res.json() as Array<{ job_id: string, running: number, last_run: { status: string, error: { message: string } | null } | null }>).map((e) => [e.job_id, e]))
  assert.deepEqual([...byId.keys()], ['a', 'b', 'c', 'd'], 'in the order asked, unknown and repeated ids left out')
  assert.equal(byId.get('a')?.last_run?.status, 'success')
  assert.equal(byId.get('b')?.running, 1)
  assert.equal(byId.get('b')?.last_run, null)
  assert.equal(byId.get('c')?.last_run?.status, 'error')
  assert.equal(byId.get('c')?.last_run?.error?.message, 'boom')
  assert.equal(byId.get('d')?.last_run, null)

  for (const payload of [{}, { job_ids: 'a' }, { job_ids: Array.from({ length: 201 }, (_, i) => String(i)) }, { job_ids: ['a'], extra: 1 }]) {
    const bad = await app.inject({ method: 'POST', url: '/scheduler/runs/latest', payload })
    assert.equal(bad.statusCode, 400, JSON.stringify(payload).slice(0, 40))
  }
  release()
  await app.close()
})

test('the package ships ui/ and has the libraries the page loads as dependencies (no build step)', async () => {
  const { readFileSync } = await import('node:fs')
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { files: string[], dependencies: Record<string, string> }
  assert.ok(pkg.files.includes('ui'))
  for (const name of ['preact', 'htm', 'cronstrue']) assert.ok(pkg.dependencies[name] !== undefined, name)
})
