/**
 * Faults: the SQLite file is deleted or replaced under running workers, or cannot be written.
 *
 * 1. Two workers (OS processes) share a file and fire 5 every-second jobs. The file is deleted and a
 *    third worker starts on the same path (a restart creates a fresh file and upserts its jobs).
 *    Counts the fires that ran twice after that, per worker, and shows what the first worker's
 *    /health and log said.
 * 2. A worker starts on a read-only file, then on a file in a read-only directory (as user nobody
 *    when run as root, since root writes anyway): did it start, report running, fire anything?
 *
 *   node --import tsx bench/faults-sqlite-file.ts
 */
import { fork, type ChildProcess } from 'node:child_process'
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'

const WORKER = fileURLToPath(new URL('../test/fixtures/sqlite-file-worker.ts', import.meta.url))
const NOBODY = 65534
const asRoot = process.getuid?.() === 0

interface Fire { job: string, scheduledAt: number, node: string }
interface Worker { child: ChildProcess, port: number | null, failed: string | null, fires: Fire[], logs: Array<{ level: number, msg: string, err?: { message?: string } }> }

async function startWorker (db: string, node: string, jobs: unknown[], opts: { uid?: number } = {}): Promise<Worker> {
  const child = fork(WORKER, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, DB: db, NODE_ID: node, JOBS: JSON.stringify(jobs) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    ...(opts.uid === undefined ? {} : { uid: opts.uid, gid: opts.uid })
  })
  const worker: Worker = { child, port: null, failed: null, fires: [], logs: [] }
  await new Promise<void>((resolve) => {
    child.on('message', (m: { type: string, port?: number, message?: string, entry?: Worker['logs'][number] } & Fire) => {
      if (m.type === 'ready') { worker.port = m.port ?? null; resolve() }
      if (m.type === 'failed') { worker.failed = m.message ?? ''; resolve() }
      if (m.type === 'fire') worker.fires.push({ job: m.job, scheduledAt: m.scheduledAt, node: m.node })
      if (m.type === 'log' && m.entry !== undefined) worker.logs.push(m.entry)
    })
    child.once('exit', () => { resolve() })
  })
  return worker
}

async function get (w: Worker, path: string): Promise<string> {
  if (w.port === null) return '(not listening)'
  const res = await fetch(`http://127.0.0.1:${w.port}${path}`)
  return `${res.status} ${await res.text()}`
}

async function stop (w: Worker): Promise<void> {
  if (w.child.exitCode !== null || w.child.signalCode !== null) return
  w.child.send({ type: 'stop' })
  await new Promise((resolve) => w.child.once('exit', resolve))
}

const logSummary = (w: Worker): string => JSON.stringify([...new Set(w.logs.filter((l) => l.level >= 40).map((l) => `${l.level >= 50 ? 'error' : 'warn'}: ${l.msg}${l.err?.message === undefined ? '' : ` (${l.err.message.slice(0, 140)})`}`))])

// ---------------------------------------------------------------- 1. deleted and recreated
{
  const dir = mkdtempSync(join(tmpdir(), 'aps-file-'))
  const db = join(dir, 'jobs.db')
  // One start_date for every worker, so the same fire has the same time wherever it runs.
  const startDate = new Date(Math.ceil(Date.now() / 1000) * 1000).toISOString()
  const jobs = Array.from({ length: 5 }, (_, i) => ({ id: `job-${i}`, func: 'tick', trigger: 'interval', seconds: 1, start_date: startDate }))
  const a = await startWorker(db, 'worker-a', jobs)
  const b = await startWorker(db, 'worker-b', jobs)
  await sleep(3000)
  for (const suffix of ['', '-wal', '-shm']) rmSync(db + suffix, { force: true })
  const replacedAt = Date.now()
  const c = await startWorker(db, 'worker-c (restarted)', jobs)
  // A deleted file takes its jobs along: until the restarted worker has upserted them, there is
  // nothing to fire. Count from then.
  const cReadyAt = Date.now()
  await sleep(8000)
  const healthA = await get(a, '/scheduler/health')
  const end = Date.now() - 1000
  await Promise.all([a, b, c].map(stop))
  const from = Math.max(replacedAt, cReadyAt) + 2000
  const after = [a, b, c].flatMap((w) => w.fires).filter((f) => f.scheduledAt > from && f.scheduledAt <= end)
  const byFire = new Map<string, string[]>()
  for (const f of after) byFire.set(`${f.job}@${f.scheduledAt}`, [...byFire.get(`${f.job}@${f.scheduledAt}`) ?? [], f.node])
  const twice = [...byFire.values()].filter((nodes) => nodes.length > 1).length
  console.log('1. file deleted under two workers, a third started on the same path')
  const seconds = (end - from) / 1000
  console.log(`   from 2 s after the restarted worker was up (${seconds.toFixed(1)} s): ${after.length} runs of ${byFire.size} fires (${(after.length / 5 / seconds).toFixed(2)} runs per job per second); ${twice} fires ran twice or more`)
  console.log(`   fires by worker: ${JSON.stringify(Object.fromEntries(['worker-a', 'worker-b', 'worker-c (restarted)'].map((n) => [n, after.filter((f) => f.node === n).length])))}`)
  for (const w of [a, b, c]) if (w.failed !== null || w.port === null) console.log(`   a worker did not start: ${w.failed ?? `exit ${String(w.child.exitCode)}`}`)
  console.log(`   worker-a /health: ${healthA}`)
  console.log(`   worker-a log: ${logSummary(a)}`)
  rmSync(dir, { recursive: true, force: true })
}

// ---------------------------------------------------------------- 2. cannot be written
for (const variant of ['read-only file', 'read-only directory'] as const) {
  const dir = mkdtempSync(join(tmpdir(), 'aps-ro-'))
  chmodSync(dir, 0o777)
  const sub = join(dir, 'data')
  mkdirSync(sub)
  const db = join(sub, 'jobs.db')
  const jobs = [{ id: 'tick', func: 'tick', trigger: 'interval', seconds: 1 }]
  const setup = await startWorker(db, 'setup', jobs)
  await stop(setup)
  rmSync(`${db}-wal`, { force: true })
  rmSync(`${db}-shm`, { force: true })
  if (variant === 'read-only file') {
    chmodSync(sub, 0o777)
    chmodSync(db, 0o444)
  } else {
    if (asRoot) chownSync(db, NOBODY, NOBODY)
    chmodSync(db, 0o666)
    chmodSync(sub, 0o555)
  }
  const w = await startWorker(db, 'worker', jobs, asRoot ? { uid: NOBODY } : {})
  await sleep(3000)
  const info = await get(w, '/scheduler')
  const health = await get(w, '/scheduler/health')
  await stop(w)
  console.log(`2. ${variant}${asRoot ? ' (worker runs as nobody)' : ''}`)
  console.log(`   started: ${w.failed === null ? 'yes' : `no: ${w.failed}`}`)
  if (w.failed === null) {
    console.log(`   GET /scheduler: ${info}`)
    console.log(`   GET /scheduler/health: ${health}`)
    console.log(`   fires in 3 s: ${w.fires.length}; log: ${logSummary(w)}`)
  }
  chmodSync(sub, 0o777)
  rmSync(dir, { recursive: true, force: true })
}
