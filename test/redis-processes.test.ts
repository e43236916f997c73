// Several OS processes sharing one Redis: each fire exactly once, and failover after a SIGKILL.
// `npm test` runs a small size; `npm run soak:redis` (REDIS_SOAK=1) the full one: 200 every-second
// jobs for 15 s plus 5,000 one-shots due at one instant. The checks are the same.
import { test, describe, after } from 'node:test'
import assert from 'node:assert/strict'
import { fork, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { RedisStore } from '../src/index.js'
import { REDIS_URL, deletePrefix, requireRedis, uniquePrefix } from './redis-harness.js'

interface Fire { type: 'fire', job: string, scheduledAt: number, startedAt: number, runId: string, node: string }

const SOAK = process.env.REDIS_SOAK === '1'
const PERIODIC = SOAK ? 200 : 50
const SECONDS = SOAK ? 15 : 5
const ONE_SHOTS = SOAK ? 5000 : 1000
const BOOT_MS = SOAK ? 30_000 : 6000
// Fires later than this are recorded missed instead of run: generous, as the point is exactly-once.
const GRACE_S = SOAK ? 300 : 30
const WORKER = new URL('./fixtures/worker.ts', import.meta.url).pathname
const admin = await requireRedis()
const dir = mkdtempSync(join(tmpdir(), 'apsched-redis-mp-'))
after(async () => {
  await admin.quit()
  rmSync(dir, { recursive: true, force: true })
})

function startWorker (env: Record<string, string>, onFire: (f: Fire) => void): { child: ChildProcess, ready: Promise<number>, exited: Promise<number | null> } {
  const child = fork(WORKER, [], { execArgv: ['--import', 'tsx'], env: { ...process.env, REDIS_URL, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const ready = new Promise<number>((resolve, reject) => {
    child.on('message', (msg: { type: string }) => {
      if (msg.type === 'ready') resolve(Date.now())
      if (msg.type === 'fire') onFire(msg as Fire)
    })
    child.once('exit', (code) => reject(new Error(`worker ${env.NODE_ID} exited early (${code})`)))
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return { child, ready, exited }
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))) }
const percentile = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? NaN

describe('several OS processes sharing one Redis', () => {
  test(`4 workers, ${PERIODIC} every-second jobs for ${SECONDS} s and ${ONE_SHOTS} one-shots at one instant: each (job, fire time) exactly once`, async () => {
    const prefix = uniquePrefix('mp')
    const fires: Fire[] = []
    const loaded: Array<Promise<void>> = []
    const workers = ['a', 'b', 'c', 'd'].map((n) => {
      const w = startWorker({ REDIS_PREFIX: prefix, WAIT_FOR_JOBS: '1', NODE_ID: `node-${n}`, CONCURRENCY: '500', HISTORY_LIMIT: '50' }, (f) => fires.push(f))
      loaded.push(new Promise((resolve) => { w.child.on('message', (msg: { type: string }) => { if (msg.type === 'loaded') resolve() }) }))
      return w
    })
    let start = 0
    let windowEnd = 0
    let oneShotAt = 0
    const seconds = SECONDS
    let jobs: Array<{ id: string }> = []
    try {
      // Fire times are picked once all four processes have loaded their code, so that a busy
      // machine's slow start-up does not eat into the window (jobs loaded after their start
      // skip the fires before it, as in APScheduler).
      await Promise.all(loaded)
      start = Math.ceil(Date.now() / 1000) * 1000 + BOOT_MS
      windowEnd = start + seconds * 1000
      oneShotAt = start + 2500
      jobs = [
        ...Array.from({ length: PERIODIC }, (_, i) => ({
          id: `every-${i}`, func: 'tick', trigger: 'interval', seconds: 1,
          start_date: new Date(start).toISOString(), misfire_grace_time: GRACE_S, coalesce: false,
          // A run whose result is still being written (a busy machine) would make the next fire
          // a skipped max_instances fire: by design, and not what this test counts.
          max_instances: 50
        })),
        ...Array.from({ length: ONE_SHOTS }, (_, i) => ({
          id: `once-${i}`, func: 'tick', trigger: 'date', run_date: new Date(oneShotAt).toISOString(), misfire_grace_time: GRACE_S
        }))
      ]
      const jobsFile = join(dir, `${prefix}.json`)
      writeFileSync(jobsFile, JSON.stringify(jobs))
      for (const w of workers) w.child.send({ type: 'jobs', file: jobsFile })
      const readyAt = await Promise.all(workers.map((w) => w.ready))
      // Every job exists once the first worker is ready (it upserted them all). On a machine too
      // busy to get there before `start`, fires before a job was added are skipped, as in
      // APScheduler: the window checked then begins at the first fire time after that.
      const allAdded = Math.min(...readyAt)
      console.log(`# the first worker was ready ${start - allAdded} ms before the first fire, the last ${start - Math.max(...readyAt)} ms`)
      if (allAdded > start) {
        start = Math.ceil(allAdded / 1000) * 1000
        windowEnd = start + seconds * 1000
      }
      await sleep(windowEnd - Date.now() + 2000)
    } finally {
      for (const w of workers) {
        w.child.send({ type: 'stop' })
        setTimeout(() => { if (w.child.exitCode === null) w.child.kill('SIGKILL') }, 20_000).unref()
      }
      await Promise.all(workers.map((w) => w.exited))
    }

    const count = new Map<string, number>()
    for (const f of fires) count.set(`${f.job}@${f.scheduledAt}`, (count.get(`${f.job}@${f.scheduledAt}`) ?? 0) + 1)
    const onceCount = new Map<string, number>()
    for (const f of fires) if (f.job.startsWith('once-')) onceCount.set(f.job, (onceCount.get(f.job) ?? 0) + 1)
    const duplicates = [...[...count].filter(([, n]) => n > 1), ...[...onceCount].filter(([, n]) => n > 1)]
    const missing: string[] = []
    for (let i = 0; i < PERIODIC; i++) {
      for (let t = start; t < windowEnd; t += 1000) if (!count.has(`every-${i}@${t}`)) missing.push(`every-${i}@${t}`)
    }
    // A one-shot added after its time (a slow start) fires once, at once: counted by job.
    const onceIds = new Set(fires.filter((f) => f.job.startsWith('once-')).map((f) => f.job))
    for (let i = 0; i < ONE_SHOTS; i++) if (!onceIds.has(`once-${i}`)) missing.push(`once-${i}`)
    const periodic = fires.filter((f) => f.job.startsWith('every-') && f.scheduledAt >= start && f.scheduledAt < windowEnd)
    const oneShots = fires.filter((f) => f.job.startsWith('once-'))
    const byNode = Object.fromEntries(['a', 'b', 'c', 'd'].map((n) => [n, fires.filter((f) => f.node === `node-${n}`).length]))
    const lags = periodic.map((f) => f.startedAt - f.scheduledAt)
    console.log(`# redis, 4 processes: ${periodic.length} periodic fires + ${oneShots.length} one-shots; duplicates ${duplicates.length}, missing ${missing.length}; ` +
      `split ${JSON.stringify(byNode)}; periodic lag p50 ${percentile(lags, 0.5)} ms, p99 ${percentile(lags, 0.99)} ms; ` +
      `last one-shot started ${Math.max(...oneShots.map((f) => f.startedAt)) - oneShotAt} ms after its time`)
    if (missing.length > 0) {
      const byTime = new Map<number, number>()
      for (const f of fires) byTime.set(f.scheduledAt, (byTime.get(f.scheduledAt) ?? 0) + 1)
      console.log(`# window ${start}..${windowEnd}, one-shots at ${oneShotAt}; fires by time: ${JSON.stringify([...byTime].sort((a, b) => a[0] - b[0]))}; missing e.g. ${missing.slice(0, 5).join(' ')}`)
    }
    assert.deepEqual(duplicates, [], 'no (job, fire time) ran twice')
    assert.deepEqual(missing.slice(0, 10), [], `none missing (${missing.length})`)
    assert.equal(periodic.length, PERIODIC * seconds)
    assert.equal(oneShots.length, ONE_SHOTS)
    assert.ok(Object.values(byNode).filter((n) => n > 0).length >= 2, 'the fires spread over the workers')
    const client = new RedisStore({ url: REDIS_URL, prefix })
    await client.open()
    assert.equal((await client.queryJobs({ q: 'once-', limit: 0 })).total, 0, 'one-shot jobs are gone after their fire')
    await client.close()
    await deletePrefix(admin, prefix)
  })

  test('SIGKILL of the worker running a job: another takes over within leaseMs + 1 s, the run shows abandoned, nothing runs twice', async () => {
    const prefix = uniquePrefix('kill')
    const leaseMs = 2000
    const jobs = [{ id: 'slow', func: 'tick', trigger: 'interval', seconds: 1, max_instances: 1 }]
    const fires: Fire[] = []
    const env = { REDIS_PREFIX: prefix, JOBS: JSON.stringify(jobs), LEASE_MS: String(leaseMs) }
    const victim = startWorker({ ...env, NODE_ID: 'victim', HANG_MS: '600000' }, (f) => fires.push(f))
    let survivor: ReturnType<typeof startWorker> | null = null
    try {
      await victim.ready
      while (fires.length === 0) await sleep(20)
      const victimRun = fires[0] as Fire
      survivor = startWorker({ ...env, NODE_ID: 'survivor' }, (f) => fires.push(f))
      await survivor.ready
      await sleep(1500)
      assert.equal(fires.filter((f) => f.node === 'survivor').length, 0, 'max_instances holds while the victim renews its lease')
      victim.child.kill('SIGKILL')
      await victim.exited
      const killedAt = Date.now()
      while (!fires.some((f) => f.node === 'survivor') && Date.now() - killedAt < 15_000) await sleep(10)
      const takeover = fires.find((f) => f.node === 'survivor')
      assert.ok(takeover, 'the survivor ran the job after the lease lapsed')
      const failover = takeover.startedAt - killedAt
      console.log(`# redis failover after SIGKILL: ${failover} ms (leaseMs ${leaseMs})`)
      assert.ok(failover <= leaseMs + 1000, `failover within leaseMs + 1 s (${failover} ms)`)
      await sleep(2500)
      survivor.child.send({ type: 'stop' })
      assert.equal(await survivor.exited, 0)

      const store = new RedisStore({ url: REDIS_URL, prefix })
      await store.open()
      const runs = await store.getRuns('slow')
      const interrupted = runs.filter((r) => r.run_id === victimRun.runId)
      assert.equal(interrupted.length, 1, 'the interrupted run was not run again')
      assert.equal(interrupted[0]?.status, 'abandoned')
      assert.equal(interrupted[0]?.node_id, 'victim')
      const starts = new Map<number, number>()
      for (const f of fires) starts.set(f.scheduledAt, (starts.get(f.scheduledAt) ?? 0) + 1)
      assert.deepEqual([...starts].filter(([, n]) => n > 1), [], 'no fire time started twice')
      assert.ok(runs.filter((r) => r.node_id === 'survivor' && r.status === 'success').length >= 2, 'the schedule goes on')
      await store.close()
    } finally {
      if (victim.child.exitCode === null) victim.child.kill('SIGKILL')
      if (survivor !== null && survivor.child.exitCode === null) survivor.child.kill('SIGKILL')
      await deletePrefix(admin, prefix)
    }
  })
})
