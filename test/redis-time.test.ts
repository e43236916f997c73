// One clock for every worker (the Redis server's), and wake-ups across workers by pub/sub.
import { test, describe, after } from 'node:test'
import assert from 'node:assert/strict'
import Fastify, { type FastifyInstance } from 'fastify'
import scheduler, { ManualClock, RedisStore, type Clock, type JobRecord, type TaskContext } from '../src/index.js'
import { REDIS_URL, deletePrefix, requireRedis, uniquePrefix } from './redis-harness.js'

const admin = await requireRedis()
const prefixes: string[] = []
after(async () => {
  for (const prefix of prefixes) await deletePrefix(admin, prefix)
  await admin.quit()
})

/** A machine whose wall clock is `offsetMs` off. */
function offsetClock (offsetMs: number): Clock {
  return {
    now: () => Date.now() + offsetMs,
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (handle) => { clearTimeout(handle as NodeJS.Timeout) }
  }
}

async function serverTime (): Promise<number> {
  const [s, us] = await admin.time()
  return Number(s) * 1000 + Math.floor(Number(us) / 1000)
}

function record (id: string, nextRunTime: number): JobRecord {
  return {
    id, name: id, func: 'tick', args: [], kwargs: {},
    trigger: { type: 'date', run_date: nextRunTime, timezone: 'UTC' },
    executor: 'default', misfire_grace_time: 1, coalesce: true, max_instances: 1,
    next_run_time: nextRunTime, next_fire_time: nextRunTime, paused: false, paused_reason: null,
    source: 'api', config_hash: null, version: 1, created_at: nextRunTime, updated_at: nextRunTime
  }
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))) }

interface Fire { job: string, scheduledAt: number, realStart: number, node: string }

async function worker (prefix: string, node: string, opts: { clock?: Clock, autoStart?: boolean, maxSleepMs?: number, jobs?: unknown[] }, fires: Fire[]): Promise<FastifyInstance> {
  const app = Fastify()
  await app.register(scheduler, {
    store: new RedisStore({ url: REDIS_URL, prefix }),
    nodeId: node,
    clock: opts.clock,
    autoStart: opts.autoStart ?? true,
    maxSleepMs: opts.maxSleepMs,
    jobs: opts.jobs as never,
    tasks: { tick: (ctx: TaskContext) => { fires.push({ job: ctx.job.id, scheduledAt: ctx.scheduledAt.getTime(), realStart: Date.now(), node }) } }
  })
  await app.ready()
  return app
}

describe('the Redis server clock decides', () => {
  test('a caller far ahead neither makes a job due early, nor takes a live claim, nor expires a live run', async () => {
    const prefix = uniquePrefix('time')
    prefixes.push(prefix)
    const store = new RedisStore({ url: REDIS_URL, prefix })
    const other = new RedisStore({ url: REDIS_URL, prefix })
    await store.open()
    await other.open()
    try {
      const now = await serverTime()
      await store.addJob(record('due', now - 10))
      await store.addJob(record('soon', now + 3000))
      const ahead = now + 10_000
      const claimed = await store.acquireDueJobs({ owner: 'ahead', now: ahead, leaseMs: 60_000, limit: 10 })
      assert.deepEqual(claimed.map((c) => c.job.id), ['due'], 'only what is due by the server clock')
      assert.deepEqual(await other.acquireDueJobs({ owner: 'far-ahead', now: now + 120_000, leaseMs: 60_000, limit: 10 }), [], 'the live claim holds, and soon is not due yet')
      const run = {
        run_id: 'r1', job_id: 'soon', scheduled_at: now, started_at: now, finished_at: null, status: 'running' as const, error: null,
        node_id: 'ahead', trigger: 'scheduled' as const, duration_ms: null, lag_ms: null, lease_expires: now + 60_000
      }
      await store.insertRuns([run], 10)
      assert.deepEqual(await other.expireRuns(now + 120_000), [], 'a run lease is not expired by a clock ahead')
      // The wake time comes back in the caller's own terms: as far from its now as from the server's.
      const wake = await store.nextWakeTime(ahead)
      assert.ok(wake !== null)
      const inMs = wake - ahead
      assert.ok(inMs > 1000 && inMs <= 3000, `soon is ~3 s away whatever the caller's clock says (${inMs} ms)`)
    } finally {
      await store.close()
      await other.close()
    }
  })

  test('the store measures its offset to the server clock: store.now() is server time on a skewed machine', async () => {
    for (const skew of [5000, -5000]) {
      const prefix = uniquePrefix('offset')
      prefixes.push(prefix)
      const store = new RedisStore({ url: REDIS_URL, prefix, clock: offsetClock(skew) })
      await store.open()
      try {
        const before = await serverTime()
        const mine = store.now()
        const after = await serverTime()
        assert.ok(mine >= before - 50 && mine <= after + 50, `skew ${skew}: store time ${mine} within [${before}, ${after}] ± 50 ms`)
        assert.ok(Math.abs(store.clockOffsetMs + skew) < 50, `offset ${store.clockOffsetMs} ≈ ${-skew}`)
      } finally {
        await store.close()
      }
    }
  })

  test('store.now() does not move when this host\'s wall clock steps: leases renewed after a step stay valid by the server clock', async () => {
    const prefix = uniquePrefix('step')
    prefixes.push(prefix)
    const clock = new ManualClock(Date.now())
    const store = new RedisStore({ url: REDIS_URL, prefix, clock })
    await store.open()
    try {
      for (const step of [-3600_000, 3600_000]) {
        const before = await serverTime()
        clock.step(step)
        const mine = store.now()
        assert.ok(Math.abs(mine - before) < 1000, `after a ${step / 1000} s step, store time ${mine} ≈ server time ${before}`)
      }
    } finally {
      await store.close()
    }
  })

  test('workers with clocks 5 s ahead and 5 s behind fire every (job, time) once, none early', async () => {
    const prefix = uniquePrefix('skew')
    prefixes.push(prefix)
    const start = Math.ceil(Date.now() / 1000) * 1000 + 3000
    const seconds = 4
    const jobs = Array.from({ length: 10 }, (_, i) => ({
      id: `every-${i}`, func: 'tick', trigger: 'interval', seconds: 1, start_date: new Date(start).toISOString(), misfire_grace_time: 30, coalesce: false
    }))
    const fires: Fire[] = []
    const ahead = await worker(prefix, 'ahead', { clock: offsetClock(5000), jobs }, fires)
    const behind = await worker(prefix, 'behind', { clock: offsetClock(-5000), jobs }, fires)
    try {
      await sleep(start + seconds * 1000 - Date.now() + 1000)
    } finally {
      await ahead.close()
      await behind.close()
    }
    const inWindow = fires.filter((f) => f.scheduledAt < start + seconds * 1000)
    const seen = new Map<string, number>()
    for (const f of inWindow) seen.set(`${f.job}@${f.scheduledAt}`, (seen.get(`${f.job}@${f.scheduledAt}`) ?? 0) + 1)
    assert.deepEqual([...seen].filter(([, n]) => n > 1), [], 'no fire twice')
    assert.equal(seen.size, 10 * seconds, 'every fire once')
    const early = inWindow.filter((f) => f.realStart < f.scheduledAt)
    assert.deepEqual(early, [], 'no fire started before its time')
    const lags = inWindow.map((f) => f.realStart - f.scheduledAt).sort((a, b) => a - b)
    console.log(`# skewed workers: ahead ran ${inWindow.filter((f) => f.node === 'ahead').length}, behind ${inWindow.filter((f) => f.node === 'behind').length}; ` +
      `lag by the real clock p50 ${lags[Math.floor(lags.length / 2)]} ms, max ${lags.at(-1)} ms`)
    assert.ok((lags.at(-1) ?? 0) < 3000, 'none waited for the behind clock to catch up (5 s)')
  })
})

describe('pub/sub wake-ups', () => {
  test('a job added through one worker fires on another that was asleep for a minute', async () => {
    const prefix = uniquePrefix('wake')
    prefixes.push(prefix)
    const fires: Fire[] = []
    const api = await worker(prefix, 'api-only', { autoStart: false }, fires)
    const firer = await worker(prefix, 'firer', { maxSleepMs: 60_000 }, fires)
    try {
      await sleep(300) // the firer has nothing to do: it sleeps maxSleepMs (a minute) unless woken
      const lags: number[] = []
      for (let i = 0; i < 5; i++) {
        const runAt = Date.now() + 200
        await api.scheduler.addJob({ id: `wake-${i}`, func: 'tick', trigger: 'date', run_date: new Date(runAt) })
        const deadline = Date.now() + 5000
        while (!fires.some((f) => f.job === `wake-${i}`) && Date.now() < deadline) await sleep(5)
        const fire = fires.find((f) => f.job === `wake-${i}`)
        assert.ok(fire !== undefined, `wake-${i} fired on the other worker within seconds, not after its minute of sleep`)
        assert.equal(fire.node, 'firer')
        assert.ok(fire.realStart >= runAt, 'not early')
        lags.push(fire.realStart - runAt)
      }
      console.log(`# added on one worker, fired on another: lag ${lags.join(', ')} ms`)
    } finally {
      await api.close()
      await firer.close()
    }
  })
})
