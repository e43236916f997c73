/**
 * Soak: several OS processes share one SQLite file while one of them is SIGKILLed and restarted
 * every few seconds. Afterwards every (job, fire time) in the window must be in the history
 * exactly once (success, missed or abandoned) and no fire may have started twice.
 *
 *   node --import tsx bench/soak-processes.ts
 *   WORKERS=4 JOBS=100 SECONDS=60 KILL_EVERY=5 LEASE_MS=3000 node --import tsx bench/soak-processes.ts
 *   DEBUG=1 ...   # also prints the history and starts of the first job with a problem
 */
import { fork, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SqliteStore, type RunRecord } from '../src/index.js'

const WORKERS = Number(process.env.WORKERS ?? 4)
const JOBS = Number(process.env.JOBS ?? 100)
const SECONDS = Number(process.env.SECONDS ?? 60)
const KILL_EVERY = Number(process.env.KILL_EVERY ?? 5)
const LEASE_MS = Number(process.env.LEASE_MS ?? 3000)
const WORKER = new URL('../test/fixtures/worker.ts', import.meta.url).pathname

interface Fire { job: string, scheduledAt: number, startedAt: number, node: string }

const dir = mkdtempSync(join(tmpdir(), 'apsched-soak-'))
const db = join(dir, 'soak.sqlite')
const start = Math.ceil(Date.now() / 1000) * 1000 + 5000
const end = start + SECONDS * 1000
const jobs = Array.from({ length: JOBS }, (_, i) => ({
  id: `job-${i}`, func: 'tick', trigger: 'interval', seconds: 1,
  start_date: new Date(start).toISOString(), misfire_grace_time: 30, coalesce: false,
  // A killed process's run counts as running until its lease lapses; with max_instances 1 the next
  // fires would be skipped meanwhile (by design, and not in the history), which is not what this checks.
  max_instances: 5
}))
const fires: Fire[] = []
const workers = new Map<string, ChildProcess>()
let generation = 0

async function spawn (slot: number): Promise<void> {
  const node = `w${slot}-${generation++}`
  const child = fork(WORKER, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, DB: db, NODE_ID: node, JOBS: JSON.stringify(jobs), LEASE_MS: String(LEASE_MS), HISTORY_LIMIT: String(SECONDS + 100) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  workers.set(`slot-${slot}`, child)
  await new Promise<void>((resolve) => {
    child.on('message', (msg: { type: string } & Fire) => {
      if (msg.type === 'ready') resolve()
      if (msg.type === 'fire') fires.push({ job: msg.job, scheduledAt: msg.scheduledAt, startedAt: msg.startedAt, node: msg.node })
    })
  })
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))) }

try {
  for (let i = 0; i < WORKERS; i++) await spawn(i)
  await sleep(start - Date.now())
  let kills = 0
  while (Date.now() < end - KILL_EVERY * 1000) {
    await sleep(KILL_EVERY * 1000)
    const slot = Math.floor(Math.random() * WORKERS)
    workers.get(`slot-${slot}`)?.kill('SIGKILL')
    kills++
    await spawn(slot)
  }
  // Let the last takeovers (one lease) and catch-ups finish.
  await sleep(end - Date.now() + LEASE_MS + 3000)
  await Promise.all([...workers.values()].map(async (child) => {
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.send({ type: 'stop' })
    await exited
  }))

  const store = new SqliteStore({ path: db })
  await store.open()
  const problems: string[] = []
  const statuses = new Map<string, number>()
  for (const job of jobs) {
    const runs = (await store.getRuns(job.id)).filter((r) => r.scheduled_at >= start && r.scheduled_at < end)
    const byTime = new Map<number, RunRecord[]>()
    for (const run of runs) byTime.set(run.scheduled_at, [...(byTime.get(run.scheduled_at) ?? []), run])
    for (let t = start; t < end; t += 1000) {
      const found = byTime.get(t) ?? []
      if (found.length !== 1) {
        problems.push(`${job.id}@${new Date(t).toISOString()}: ${found.length} history records`)
        if (process.env.DEBUG !== undefined && problems.length === 1) {
          console.log(runs.map((r) => `${(r.scheduled_at - start) / 1000}:${r.status}:${r.node_id}:${r.trigger}`).reverse().join(' '))
          console.log(fires.filter((f) => f.job === job.id).map((f) => `${(f.scheduledAt - start) / 1000}@${(f.startedAt - start) / 1000}:${f.node}`).join(' '))
        }
      }
      for (const run of found) statuses.set(run.status, (statuses.get(run.status) ?? 0) + 1)
    }
  }
  await store.close()
  const started = new Map<string, number>()
  for (const f of fires) if (f.scheduledAt >= start && f.scheduledAt < end) started.set(`${f.job}@${f.scheduledAt}`, (started.get(`${f.job}@${f.scheduledAt}`) ?? 0) + 1)
  const twice = [...started].filter(([, n]) => n > 1)
  const lags = fires.filter((f) => f.scheduledAt >= start && f.scheduledAt < end).map((f) => f.startedAt - f.scheduledAt).sort((a, b) => a - b)
  const pct = (p: number): number => lags[Math.min(lags.length - 1, Math.floor(p * lags.length))] ?? NaN
  console.log(`soak workers=${WORKERS} jobs=${JOBS} seconds=${SECONDS} kills=${kills} lease=${LEASE_MS}ms fires=${JOBS * SECONDS} ` +
    `history=${JSON.stringify(Object.fromEntries(statuses))} started-twice=${twice.length} history-problems=${problems.length} ` +
    `lag p50=${pct(0.5)}ms p99=${pct(0.99)}ms max=${lags.at(-1) ?? NaN}ms`)
  for (const p of problems.slice(0, 10)) console.log('  ', p)
  for (const [k, n] of twice.slice(0, 10)) console.log('   started twice:', k, n)
  process.exitCode = problems.length === 0 && twice.length === 0 ? 0 : 1
} finally {
  for (const child of workers.values()) child.kill('SIGKILL')
  rmSync(dir, { recursive: true, force: true })
}
