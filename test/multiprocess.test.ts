import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { fork, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SqliteStore } from '../src/index.js'

interface Fire { type: 'fire', job: string, scheduledAt: number, startedAt: number, runId: string, node: string }

const WORKER = new URL('./fixtures/worker.ts', import.meta.url).pathname

function startWorker (env: Record<string, string>, onFire: (f: Fire) => void): { child: ChildProcess, ready: Promise<void>, exited: Promise<number | null> } {
  const child = fork(WORKER, [], { execArgv: ['--import', 'tsx'], env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const ready = new Promise<void>((resolve, reject) => {
    child.on('message', (msg: { type: string }) => {
      if (msg.type === 'ready') resolve()
      if (msg.type === 'fire') onFire(msg as Fire)
    })
    child.once('exit', (code) => reject(new Error(`worker ${env.NODE_ID} exited early (${code})`)))
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return { child, ready, exited }
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }
const percentile = (xs: number[], p: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? NaN

describe('several OS processes sharing one SQLite file', () => {
  test('50 every-second jobs for 10 s on two processes: each (job, fire time) runs exactly once, no gaps', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'apsched-mp-'))
    const db = join(dir, 'shared.sqlite')
    try {
      const fires: Fire[] = []
      const env = { DB: db, JOBS: '[]' }
      const a = startWorker({ ...env, NODE_ID: 'node-a' }, (f) => fires.push(f))
      const b = startWorker({ ...env, NODE_ID: 'node-b' }, (f) => fires.push(f))
      await Promise.all([a.ready, b.ready])
      // The jobs are added once both processes are up, so the window does not depend on how long
      // they took to boot on a loaded machine.
      const firstFire = Math.ceil(Date.now() / 1000) * 1000 + 2000
      const jobs = Array.from({ length: 50 }, (_, i) => ({
        id: `job-${i}`, func: 'tick', trigger: 'interval', seconds: 1,
        start_date: new Date(firstFire).toISOString(), misfire_grace_time: 30, coalesce: false
      }))
      const added = new Promise<void>((resolve) => a.child.on('message', (msg: { type: string }) => { if (msg.type === 'added') resolve() }))
      a.child.send({ type: 'add', jobs })
      await added
      // A job added after its start_date first fires at the next interval from then (by the trigger's
      // rules), so the window starts at the first fire time every job is sure to have.
      const start = Math.max(firstFire, Math.ceil(Date.now() / 1000) * 1000)
      const windowEnd = start + 10_000
      await sleep(windowEnd - Date.now() + 1500)
      a.child.send({ type: 'stop' })
      b.child.send({ type: 'stop' })
      assert.deepEqual(await Promise.all([a.exited, b.exited]), [0, 0])

      const inWindow = fires.filter((f) => f.scheduledAt >= start && f.scheduledAt < windowEnd)
      const seen = new Map<string, number>()
      for (const f of inWindow) seen.set(`${f.job}@${f.scheduledAt}`, (seen.get(`${f.job}@${f.scheduledAt}`) ?? 0) + 1)
      const dupes = [...seen].filter(([, n]) => n > 1)
      assert.deepEqual(dupes, [], 'no (job, fire time) ran twice')
      const missing: string[] = []
      for (const job of jobs) {
        for (let t = start; t < windowEnd; t += 1000) if (!seen.has(`${job.id}@${t}`)) missing.push(`${job.id}@${t}`)
      }
      assert.deepEqual(missing, [], 'no gaps')
      assert.equal(inWindow.length, 500)
      const lags = inWindow.map((f) => f.startedAt - f.scheduledAt)
      const byNode = { a: inWindow.filter((f) => f.node === 'node-a').length, b: inWindow.filter((f) => f.node === 'node-b').length }
      console.log(`# 500 fires: node-a ${byNode.a}, node-b ${byNode.b}; lag p50 ${percentile(lags, 0.5)} ms, p99 ${percentile(lags, 0.99)} ms`)

      const store = new SqliteStore({ path: db })
      await store.open()
      for (const job of jobs.slice(0, 5)) {
        const runs = (await store.getRuns(job.id)).filter((r) => r.scheduled_at >= start && r.scheduled_at < windowEnd)
        assert.equal(runs.length, 10)
        assert.ok(runs.every((r) => r.status === 'success'))
      }
      await store.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('3 processes on one SQLite file: 150 jobs due each second, each fire once, spread over the processes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'apsched-spread-'))
    const db = join(dir, 'shared.sqlite')
    try {
      const start = Math.ceil(Date.now() / 1000) * 1000 + 3000
      const seconds = 4
      const jobs = Array.from({ length: 150 }, (_, i) => ({
        id: `job-${i}`, func: 'tick', trigger: 'interval', seconds: 1,
        start_date: new Date(start).toISOString(), misfire_grace_time: 60, coalesce: false
      }))
      const fires: Fire[] = []
      const env = { DB: db, JOBS: JSON.stringify(jobs) }
      const nodes = ['node-a', 'node-b', 'node-c']
      const workers = nodes.map((node) => startWorker({ ...env, NODE_ID: node }, (f) => fires.push(f)))
      await Promise.all(workers.map((w) => w.ready))
      // Measured from the first fire after every process is up (booting three may take a while).
      const windowStart = start + Math.max(0, Math.ceil((Date.now() + 500 - start) / 1000)) * 1000
      const windowEnd = windowStart + seconds * 1000
      await sleep(windowEnd - Date.now() + 2000)
      for (const w of workers) w.child.send({ type: 'stop' })
      assert.deepEqual(await Promise.all(workers.map((w) => w.exited)), [0, 0, 0])

      const inWindow = fires.filter((f) => f.scheduledAt >= windowStart && f.scheduledAt < windowEnd)
      const keys = new Set(inWindow.map((f) => `${f.job}@${f.scheduledAt}`))
      assert.equal(keys.size, inWindow.length, 'no (job, fire time) ran twice')
      assert.equal(inWindow.length, jobs.length * seconds, 'every fire ran')
      const byNode = nodes.map((node) => inWindow.filter((f) => f.node === node).length)
      console.log(`# ${inWindow.length} fires over 3 processes: ${nodes.map((n, i) => `${n} ${byNode[i]}`).join(', ')}`)
      // No process takes everything while the others idle: claims come in batches, so each
      // process gets a share of the fires.
      for (const [i, count] of byNode.entries()) {
        assert.ok(count > 0, `${nodes[i]} ran none of the ${inWindow.length} fires (${byNode.join('/')})`)
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  test('SIGKILL of the process running a job: another takes over after the lease expires, the run shows abandoned', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'apsched-kill-'))
    const db = join(dir, 'shared.sqlite')
    try {
      const jobs = [{ id: 'slow', func: 'tick', trigger: 'interval', seconds: 1, max_instances: 1 }]
      const fires: Fire[] = []
      const env = { DB: db, JOBS: JSON.stringify(jobs), LEASE_MS: '2000' }
      const a = startWorker({ ...env, NODE_ID: 'victim', HANG_MS: '600000' }, (f) => fires.push(f))
      await a.ready
      while (fires.length === 0) await sleep(50)
      const victimRun = fires[0] as Fire
      const b = startWorker({ ...env, NODE_ID: 'survivor' }, (f) => fires.push(f))
      await b.ready
      await sleep(1500)
      assert.equal(fires.filter((f) => f.node === 'survivor').length, 0, 'max_instances holds while the victim renews its lease')
      a.child.kill('SIGKILL')
      await a.exited
      const killedAt = Date.now()
      while (!fires.some((f) => f.node === 'survivor') && Date.now() - killedAt < 10_000) await sleep(50)
      const takeover = fires.find((f) => f.node === 'survivor')
      assert.ok(takeover, 'the survivor ran the job after the lease expired')
      const waited = takeover.startedAt - killedAt
      assert.ok(waited >= 0 && waited < 2000 + 1500, `took over within lease + one fire (${waited} ms)`)
      await sleep(2200)
      b.child.send({ type: 'stop' })
      assert.equal(await b.exited, 0)

      const store = new SqliteStore({ path: db })
      await store.open()
      const runs = await store.getRuns('slow')
      const victim = runs.find((r) => r.run_id === victimRun.runId)
      assert.equal(victim?.status, 'abandoned')
      assert.equal(victim?.node_id, 'victim')
      assert.equal(runs.filter((r) => r.run_id === victimRun.runId).length, 1, 'the interrupted run was not run again')
      const survivorRuns = runs.filter((r) => r.node_id === 'survivor' && r.status === 'success')
      assert.ok(survivorRuns.length >= 2, `the schedule goes on (${survivorRuns.length} runs after takeover)`)
      const job = await store.getJob('slow')
      assert.ok(job !== null && job.next_run_time !== null)
      await store.close()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
