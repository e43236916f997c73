// Redis stopped for 10 s and restarted (a private redis-server with an append-only file), then
// restarted empty: nothing lost, nothing twice, the API answers 503 quickly meanwhile, the workers
// reconnect by themselves, and lost data is logged loudly and shown in /health.
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import Fastify, { type FastifyInstance } from 'fastify'
import scheduler, { RedisStore, type TaskContext } from '../src/index.js'
import { startPrivateRedis, type PrivateRedis } from './redis-harness.js'

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))) }

interface Fire { job: string, scheduledAt: number, node: string }

let redis: PrivateRedis | null = null
after(async () => { await redis?.destroy() })

async function worker (url: string, node: string, jobs: unknown[], fires: Fire[], logs: Array<Record<string, unknown>>): Promise<FastifyInstance> {
  const app = Fastify({ logger: { level: 'info', stream: { write: (line: string) => { logs.push(JSON.parse(line) as Record<string, unknown>) } } } })
  await app.register(scheduler, {
    store: new RedisStore({ url, prefix: 'outage' }),
    nodeId: node,
    leaseMs: 3000,
    apiEnabled: true,
    jobs: jobs as never,
    tasks: { tick: (ctx: TaskContext) => { fires.push({ job: ctx.job.id, scheduledAt: ctx.scheduledAt.getTime(), node }) } }
  })
  app.get('/', async () => ({ hello: 'still here' }))
  await app.ready()
  return app
}

test('Redis down for 10 s: 503s meanwhile, reconnect, every fire once; then back empty: logged and in /health', async () => {
  redis = await startPrivateRedis({ persistent: true })
  const start = Math.ceil(Date.now() / 1000) * 1000 + 2000
  const jobs = Array.from({ length: 10 }, (_, i) => ({
    id: `every-${i}`, func: 'tick', trigger: 'interval', seconds: 1, start_date: new Date(start).toISOString(),
    misfire_grace_time: 60, coalesce: false, max_instances: 3
  }))
  const fires: Fire[] = []
  const logs: Array<Record<string, unknown>> = []
  const a = await worker(redis.url, 'a', jobs, fires, logs)
  const b = await worker(redis.url, 'b', jobs, fires, [])
  try {
    await sleep(start + 3000 - Date.now())
    await redis.stop()
    const stoppedAt = Date.now()

    // Meanwhile: the scheduler's routes fail fast with 503, the rest of the app answers.
    const t0 = performance.now()
    const list = await a.inject({ method: 'GET', url: '/scheduler/jobs' })
    const listMs = performance.now() - t0
    assert.equal(list.statusCode, 503, list.body)
    assert.match(list.json<{ message: string }>().message, /Redis is unavailable/)
    const health = await a.inject({ method: 'GET', url: '/scheduler/health' })
    assert.equal(health.statusCode, 503)
    assert.equal(health.json<{ status: string }>().status, 'store_unavailable')
    const add = await a.inject({ method: 'POST', url: '/scheduler/jobs', payload: { id: 'during', func: 'tick', trigger: 'interval', seconds: 5 } })
    assert.equal(add.statusCode, 503)
    assert.equal((await a.inject({ method: 'GET', url: '/' })).statusCode, 200)
    console.log(`# during the outage GET /scheduler/jobs answered 503 in ${listMs.toFixed(1)} ms`)
    assert.ok(listMs < 2000, 'it did not hang')

    await sleep(stoppedAt + 10_000 - Date.now())
    await redis.start()
    const restartedAt = Date.now()
    // Reconnect by itself, then catch up: claims held at the stop lapse within leaseMs (3 s).
    for (let i = 0; i < 100 && (await a.inject({ method: 'GET', url: '/scheduler/jobs' })).statusCode !== 200; i++) await sleep(100)
    const reconnectMs = Date.now() - restartedAt
    assert.equal((await a.inject({ method: 'GET', url: '/scheduler/jobs' })).statusCode, 200, 'reconnected')
    const windowEnd = Math.floor(restartedAt / 1000) * 1000 + 3000
    await sleep(windowEnd + 4000 - Date.now())

    const seen = new Map<string, number>()
    for (const f of fires.filter((f) => f.scheduledAt < windowEnd)) seen.set(`${f.job}@${f.scheduledAt}`, (seen.get(`${f.job}@${f.scheduledAt}`) ?? 0) + 1)
    const duplicates = [...seen].filter(([, n]) => n > 1)
    const missing: string[] = []
    for (const job of jobs) for (let t = start; t < windowEnd; t += 1000) if (!seen.has(`${job.id}@${t}`)) missing.push(`${job.id}@${t}`)
    console.log(`# outage of ${restartedAt - stoppedAt} ms: reconnected in ${reconnectMs} ms; ${seen.size} fires checked, duplicates ${duplicates.length}, missing ${missing.length}`)
    if (missing.length > 0) {
      const job = missing[0]!.split('@')[0]!
      const runs = (await a.inject({ method: 'GET', url: `/scheduler/jobs/${job}/runs` })).body
      console.log(`# missing ${missing.join(' ')}; stopped ${stoppedAt}, restarted ${restartedAt}, window ${start}..${windowEnd}; history of ${job}: ${runs}`)
    }
    assert.deepEqual(duplicates, [], 'no fire ran twice')
    assert.deepEqual(missing, [], 'fires due during the outage ran afterwards (grace 60 s, no coalescing)')
    const history = await a.inject({ method: 'GET', url: '/scheduler/jobs/every-0/runs' })
    if (history.statusCode === 200) {
      const runs = history.json<Array<{ scheduled_at: string }>>()
      const times = runs.map((r) => r.scheduled_at)
      assert.equal(new Set(times).size, times.length, 'one history entry per fire time')
    }

    // Back without its data (no persistence): said loudly, and /health says so.
    await redis.stop({ kill: true })
    await redis.start({ empty: true })
    let lost = null as null | { status: string, stores?: Record<string, string> }
    for (let i = 0; i < 100; i++) {
      const res = await a.inject({ method: 'GET', url: '/scheduler/health' })
      const body = res.json<{ status: string, stores?: Record<string, string> }>()
      if (res.statusCode === 503 && /without the scheduler data/.test(body.stores?.default ?? '')) { lost = body; break }
      await sleep(100)
    }
    assert.ok(lost !== null, '/health reports the lost data')
    assert.equal(lost.status, 'store_unavailable')
    assert.ok(logs.some((l) => l.level === 50 && /WITHOUT THE SCHEDULER DATA/.test(String(l.msg))), 'logged at error level')
  } finally {
    await a.close()
    await b.close()
  }
})
