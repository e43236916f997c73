import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import Fastify, { type FastifyInstance } from 'fastify'
import swagger from '@fastify/swagger'
import openapiTS, { astToString } from 'openapi-typescript'
import scheduler, { ManualClock, type SchedulerPluginOptions } from '../src/index.js'

const ROOT = resolve(import.meta.dirname, '..')
const OPERATIONS = ['getSchedulerInfo', 'addJob', 'getJobs', 'getJob', 'updateJob', 'deleteJob', 'pauseJob', 'resumeJob', 'runJob',
  'getJobRuns', 'pauseScheduler', 'resumeScheduler', 'startScheduler', 'shutdownScheduler', 'getJobNextRunTimes', 'getHealth', 'getMetrics',
  'getTasks', 'previewJob', 'getLatestRuns']
const WITH_BODY = ['addJob', 'updateJob', 'pauseJob', 'shutdownScheduler', 'previewJob', 'getLatestRuns']
const QUERY: Record<string, string[]> = {
  getJobs: ['limit', 'offset', 'func', 'state', 'q', 'jobstore'],
  runJob: ['wait'],
  getJobRuns: ['limit'],
  getJobNextRunTimes: ['count'],
  previewJob: ['count']
}

interface Operation {
  operationId?: string
  tags?: string[]
  parameters?: Array<{ in: string, name: string, schema?: unknown }>
  requestBody?: { content: Record<string, { schema?: unknown }> }
  responses: Record<string, { description: string, content?: Record<string, { schema?: { properties?: Record<string, unknown> } }> }>
  security?: unknown
}
interface Doc {
  paths: Record<string, Record<string, Operation>>
  components?: { securitySchemes?: Record<string, unknown> }
}

async function build (opts: SchedulerPluginOptions, version = '3.0.3'): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(swagger, { openapi: { openapi: version, info: { title: 'host', version: '1.0.0' } } })
  app.get('/host-route', { schema: { operationId: 'hostRoute', response: { 200: { type: 'string' } } } }, async () => 'ok')
  await app.register(scheduler, { apiEnabled: true, autoStart: false, clock: new ManualClock(Date.UTC(2030, 0, 1)), tasks: { hello: () => {} }, ...opts })
  await app.ready()
  return app
}

function operations (doc: Doc): Array<[string, string, Operation]> {
  return Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => [path, method, op] as [string, string, Operation]))
    .filter(([path]) => path.startsWith('/scheduler'))
}

const CLIENT = `import createClient from 'openapi-fetch'
import type { paths } from './api.js'

/** Typed calls only: tsc checks this file against the generated types before the test runs it. */
export async function drive (baseUrl: string, authorization: string) {
  const client = createClient<paths>({ baseUrl, headers: { authorization } })
  const id = 'typed/1 ü'
  const added = await client.POST('/scheduler/jobs', { body: { id, func: 'hello', trigger: 'interval', hours: 1, kwargs: { a: 1 } } })
  const addedId: string | undefined = added.data?.id
  const conflict = await client.POST('/scheduler/jobs', { body: { id, func: 'hello' } })
  const conflictMessage: string | undefined = conflict.error?.error_message
  const list = await client.GET('/scheduler/jobs', { params: { query: { limit: 10, state: 'scheduled' } } })
  const total = list.response.headers.get('x-total-count')
  const paused = await client.POST('/scheduler/jobs/{id}/pause', { params: { path: { id } }, body: { reason: 'typed pause' } })
  const reason: string | null | undefined = paused.data?.paused_reason
  const ran = await client.POST('/scheduler/jobs/{id}/run', { params: { path: { id } } })
  const runs = await client.GET('/scheduler/jobs/{id}/runs', { params: { path: { id } } })
  const trigger: 'scheduled' | 'manual' | undefined = runs.data?.[0]?.trigger
  const next = await client.GET('/scheduler/jobs/{id}/next', { params: { path: { id }, query: { count: 3 } } })
  const info = await client.GET('/scheduler')
  const deleted = await client.DELETE('/scheduler/jobs/{id}', { params: { path: { id } } })
  const missing = await client.GET('/scheduler/jobs/{id}', { params: { path: { id } } })
  if (Date.now() < 0) {
    // @ts-expect-error max_instances is an integer, not a string
    await client.POST('/scheduler/jobs', { body: { func: 'hello', max_instances: '2' } })
    // @ts-expect-error func is required
    await client.POST('/scheduler/jobs', { body: { id: 'x' } })
  }
  return {
    addedId,
    conflict: [conflict.response.status, conflictMessage],
    list: [list.response.status, total, list.data?.map((j) => j.id)],
    paused: [paused.data?.paused, paused.data?.next_run_time, reason],
    // 200 (the job) and 202 ({ run_id }) are both success bodies of runJob
    ran: [ran.response.status, ran.data !== undefined && 'paused' in ran.data ? ran.data.paused : undefined],
    runs: [runs.data?.length, trigger, runs.data?.[0]?.status],
    next: next.data,
    info: [info.data?.jobs, info.data?.state],
    deleted: deleted.response.status,
    missing: [missing.response.status, missing.error?.message]
  }
}
`

describe('REST API: OpenAPI document', () => {
  test('every route has an operationId, a tag, request and response schemas, and basic-auth security when auth is on', async () => {
    const app = await build({ auth: { authenticate: () => true } })
    const doc = app.swagger() as unknown as Doc
    const ops = operations(doc)
    assert.deepEqual(ops.map(([, , op]) => op.operationId).sort(), [...OPERATIONS].sort())
    assert.deepEqual(Object.keys(doc.paths).filter((p) => p.startsWith('/scheduler')).sort(), [
      '/scheduler', '/scheduler/health', '/scheduler/jobs', '/scheduler/jobs/{id}', '/scheduler/jobs/{id}/next', '/scheduler/jobs/{id}/pause',
      '/scheduler/jobs/{id}/resume', '/scheduler/jobs/{id}/run', '/scheduler/jobs/{id}/runs', '/scheduler/metrics', '/scheduler/pause',
      '/scheduler/preview', '/scheduler/resume', '/scheduler/runs/latest', '/scheduler/shutdown', '/scheduler/start', '/scheduler/tasks'
    ], 'the long-id fallback, the trailing-slash twin and the dashboard files are hidden')
    assert.deepEqual(doc.components?.securitySchemes?.basicAuth, { type: 'http', scheme: 'basic' })
    for (const [path, method, op] of ops) {
      const name = `${method.toUpperCase()} ${path}`
      assert.ok((op.tags?.length ?? 0) > 0, `${name} has a tag`)
      assert.deepEqual(op.security, [{ basicAuth: [] }], `${name} declares basic auth`)
      const statuses = Object.keys(op.responses)
      assert.ok(statuses.includes('401') && statuses.includes('500'), `${name} documents 401 and 500`)
      if (method !== 'get') {
        for (const status of ['400', '403', '413', '415']) assert.ok(statuses.includes(status), `${name} changes state or may get a body, so it documents ${status}`)
      }
      for (const [status, response] of Object.entries(op.responses)) {
        assert.ok(response.description.length > 0, `${name} ${status} has a description`)
        if (status === '204') { assert.equal(response.content, undefined, `${name} 204 has no body`); continue }
        const media = Object.values(response.content ?? {})[0]
        assert.ok(media?.schema !== undefined, `${name} ${status} has a schema`)
        if (Number(status) >= 400 && status !== '503') {
          assert.deepEqual(Object.keys(media.schema.properties ?? {}).sort(), ['error', 'error_message', 'message', 'statusCode'], `${name} ${status} is the error body`)
        }
      }
      const id = op.operationId as string
      assert.equal(op.requestBody !== undefined, WITH_BODY.includes(id), `${name} request body`)
      if (op.requestBody !== undefined) assert.ok(op.requestBody.content['application/json']?.schema !== undefined)
      const params = op.parameters ?? []
      assert.deepEqual(params.filter((p) => p.in === 'query').map((p) => p.name), QUERY[id] ?? [], `${name} query parameters`)
      assert.deepEqual(params.filter((p) => p.in === 'path').map((p) => p.name), path.includes('{id}') ? ['id'] : [], `${name} path parameters`)
    }
    assert.deepEqual(Object.keys(doc.paths['/scheduler/metrics']?.get?.responses['200']?.content ?? {}), ['text/plain'])
    assert.deepEqual(Object.keys(doc.paths['/scheduler/jobs/{id}/resume']?.post?.responses ?? {}).sort(), ['200', '400', '401', '403', '404', '409', '413', '415', '500', '503'])
    assert.deepEqual(Object.keys(doc.paths['/scheduler/jobs/{id}/runs']?.get?.responses ?? {}).sort(), ['200', '400', '401', '404', '500', '503'])
    assert.equal(doc.paths['/host-route']?.get?.security, undefined, "the host's routes are left alone")
    await app.close()
  })

  test('without auth there is no security requirement; endpointPrefix prefixes the operationIds', async () => {
    const app = await build({ endpointPrefix: 'sched_' })
    const doc = app.swagger() as unknown as Doc
    assert.equal(doc.components?.securitySchemes, undefined)
    for (const [, , op] of operations(doc)) {
      assert.equal(op.security, undefined)
      assert.ok(op.operationId?.startsWith('sched_'))
    }
    await app.close()
  })

  test('openapi-typescript accepts the 3.1 document too', async () => {
    const app = await build({ auth: { authenticate: () => true } }, '3.1.0')
    const types = astToString(await openapiTS(app.swagger() as never))
    assert.match(types, /"\/scheduler\/jobs\/\{id\}\/pause"/)
    assert.match(types, /paused_reason: string \| null/)
    await app.close()
  })

  test('a client generated from the live document type-checks and drives the API with openapi-fetch', async () => {
    const users = { admin: 'secret' }
    const app = await build({ auth: { authenticate: ({ username, password }) => users[username as 'admin'] === password } })
    const dir = mkdtempSync(join(tmpdir(), 'fastify-apscheduler-openapi-'))
    try {
      const doc = app.swagger()
      writeFileSync(join(dir, 'api.d.ts'), astToString(await openapiTS(doc as never)))
      writeFileSync(join(dir, 'client.ts'), CLIENT)
      writeFileSync(join(dir, 'package.json'), '{ "type": "module" }')
      symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir')
      const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
      const args = ['--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--skipLibCheck', '--types', 'node', 'client.ts']
      await promisify(execFile)(process.execPath, [tsc, ...args], { cwd: dir }).catch((err: { stdout?: string }) => {
        assert.fail(`the generated types do not fit the client:\n${err.stdout ?? String(err)}`)
      })

      const address = await app.listen({ host: '127.0.0.1', port: 0 })
      const { drive } = await import(pathToFileURL(join(dir, 'client.ts')).href) as { drive: (url: string, auth: string) => Promise<Record<string, unknown>> }
      const result = await drive(address, `Basic ${Buffer.from('admin:secret').toString('base64')}`)
      assert.deepEqual(result, {
        addedId: 'typed/1 ü',
        conflict: [409, 'Job typed/1 ü already exists.'],
        list: [200, '1', ['typed/1 ü']],
        paused: [true, null, 'typed pause'],
        ran: [200, true],
        runs: [1, 'manual', 'success'],
        next: ['2030-01-01T01:00:00+00:00', '2030-01-01T02:00:00+00:00', '2030-01-01T03:00:00+00:00'],
        info: [1, 'stopped'],
        deleted: 204,
        missing: [404, 'Job typed/1 ü not found']
      })
      const denied = await drive(address, 'Basic bm9wZTpub3Bl')
      assert.deepEqual(denied.missing, [401, 'Invalid username or password'])
    } finally {
      await app.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
