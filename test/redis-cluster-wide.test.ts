// What one worker does, every other worker sees: pause with its reason, scheduler pause, history, list.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import Fastify, { type FastifyInstance } from 'fastify'
import scheduler, { RedisStore } from '../src/index.js'
import { REDIS_URL, deletePrefix, requireRedis, uniquePrefix } from './redis-harness.js'

const admin = await requireRedis()
const prefix = uniquePrefix('wide')
after(async () => {
  await deletePrefix(admin, prefix)
  await admin.quit()
})

async function worker (node: string): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(scheduler, { store: new RedisStore({ url: REDIS_URL, prefix }), nodeId: node, apiEnabled: true, tasks: { noop: () => {} } })
  await app.ready()
  return app
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

test('two workers on one Redis show the same jobs, pauses with reasons, scheduler state and history', async () => {
  const a = await worker('a')
  const b = await worker('b')
  try {
    const added = await a.inject({ method: 'POST', url: '/scheduler/jobs', payload: { id: 'j', func: 'noop', trigger: 'interval', hours: 1 } })
    assert.equal(added.statusCode, 200, added.body)
    assert.deepEqual((await b.inject({ method: 'GET', url: '/scheduler/jobs/j' })).json(), (await a.inject({ method: 'GET', url: '/scheduler/jobs/j' })).json())

    assert.equal((await a.inject({ method: 'POST', url: '/scheduler/jobs/j/pause', payload: { reason: 'vendor outage' } })).statusCode, 200)
    const seenByB = (await b.inject({ method: 'GET', url: '/scheduler/jobs/j' })).json<{ paused_reason: string, next_run_time: string | null }>()
    assert.equal(seenByB.paused_reason, 'vendor outage')
    assert.equal(seenByB.next_run_time, null)

    // A manual run on b is history on a.
    assert.equal((await b.inject({ method: 'POST', url: '/scheduler/jobs/j/run', payload: { wait: true } })).statusCode, 200)
    let runsOnA: Array<{ node_id: string, trigger: string, status: string }> = []
    for (let i = 0; i < 50 && runsOnA.length === 0; i++) {
      runsOnA = (await a.inject({ method: 'GET', url: '/scheduler/jobs/j/runs' })).json()
      if (runsOnA.length === 0) await sleep(20)
    }
    assert.deepEqual(runsOnA.map((r) => [r.node_id, r.trigger, r.status]), [['b', 'manual', 'success']])

    // Pausing the scheduler on a pauses b too (pub/sub), and the listing agrees.
    assert.equal((await a.inject({ method: 'POST', url: '/scheduler/pause' })).statusCode, 204)
    for (let i = 0; i < 100 && b.scheduler.state !== 'paused'; i++) await sleep(10)
    assert.equal(b.scheduler.state, 'paused')
    assert.equal((await a.inject({ method: 'POST', url: '/scheduler/resume' })).statusCode, 204)
    for (let i = 0; i < 100 && (b.scheduler.state as string) !== 'running'; i++) await sleep(10)
    assert.equal(b.scheduler.state, 'running')
    assert.deepEqual((await b.inject({ method: 'GET', url: '/scheduler/jobs' })).json(), (await a.inject({ method: 'GET', url: '/scheduler/jobs' })).json())
    assert.deepEqual((await b.inject({ method: 'GET', url: '/scheduler/health' })).json(), { status: 'ok', overdue: [] })
  } finally {
    await a.close()
    await b.close()
  }
})
