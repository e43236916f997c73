/**
 * The SQLite file deleted or replaced under running workers, or not writable: real processes and
 * real files (test/fixtures/sqlite-file-worker.ts).
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { chmodSync, chownSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import Fastify, { type FastifyInstance } from 'fastify'
import scheduler, { SqliteStore, type JobDefinition, type TaskContext } from '../src/index.js'

const WORKER = fileURLToPath(new URL('./fixtures/sqlite-file-worker.ts', import.meta.url))
const NOBODY = 65534
const asRoot = process.getuid?.() === 0

interface Fire { job: string, scheduledAt: number, node: string }
interface Worker { child: ChildProcess, ready: boolean, failed: string | null, fires: Fire[] }

async function startWorker (db: string, node: string, jobs: JobDefinition[], uid?: number): Promise<Worker> {
  const child = fork(WORKER, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, DB: db, NODE_ID: node, JOBS: JSON.stringify(jobs) },
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    ...(uid === undefined ? {} : { uid, gid: uid })
  })
  const worker: Worker = { child, ready: false, failed: null, fires: [] }
  child.stderr?.resume()
  await new Promise<void>((resolve) => {
    child.on('message', (m: { type: string, message?: string } & Fire) => {
      if (m.type === 'ready') { worker.ready = true; resolve() }
      if (m.type === 'failed') { worker.failed = m.message ?? ''; resolve() }
      if (m.type === 'fire') worker.fires.push({ job: m.job, scheduledAt: m.scheduledAt, node: m.node })
    })
    child.once('exit', () => { resolve() })
  })
  return worker
}

async function stopWorker (w: Worker): Promise<void> {
  if (w.child.exitCode !== null || w.child.signalCode !== null) return
  w.child.send({ type: 'stop' })
  await once(w.child, 'exit')
}

/** This process as one worker: the app, its store, what it fired and logged. */
async function startApp (path: string, jobs: JobDefinition[], node: string): Promise<{ app: FastifyInstance, store: SqliteStore, fires: Fire[], logs: Array<{ level: number, msg: string }> }> {
  const fires: Fire[] = []
  const logs: Array<{ level: number, msg: string }> = []
  const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => { logs.push(JSON.parse(line)) } } } })
  const store = new SqliteStore({ path })
  // The scheduler hands its logger to stores that take one; given here as well, so the test does not depend on it.
  store.attach({ log: app.log })
  await app.register(scheduler, {
    store,
    nodeId: node,
    apiEnabled: true,
    jobs,
    tasks: { tick: (ctx: TaskContext) => { fires.push({ job: ctx.job.id, scheduledAt: ctx.scheduledAt.getTime(), node }) } }
  })
  await app.ready()
  return { app, store, fires, logs }
}

function everySecond (ids: string[]): JobDefinition[] {
  // One start_date everywhere, so one fire has one time whichever process runs it.
  const start = new Date(Math.ceil(Date.now() / 1000) * 1000 + 1000).toISOString()
  return ids.map((id) => ({ id, func: 'tick', trigger: 'interval', seconds: 1, start_date: start }))
}

test('a file deleted under a running worker and recreated by a restarted one: the worker notices, logs, shows it in health, reopens, and no fire runs twice', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'aps-file-'))
  const path = join(dir, 'jobs.db')
  const jobs = everySecond(['job-0', 'job-1', 'job-2'])
  const a = await startApp(path, jobs, 'worker-a')
  const workers: Worker[] = []
  try {
    while (a.fires.length < 3) await sleep(100)

    for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true })
    const c = await startWorker(path, 'worker-c', jobs)
    workers.push(c)
    assert.ok(c.ready, c.failed ?? 'worker-c did not start')
    // Every worker uses its store at least once a second (the timer loop), and checks the file then.
    const from = Date.now() + 1500
    await sleep(5000)
    const health = await a.store.health()
    const apiHealth = await a.app.inject({ method: 'GET', url: '/scheduler/health' })
    const end = Date.now() - 1000
    await Promise.all(workers.map(stopWorker))
    await a.app.close()

    assert.equal(health.ok, false)
    assert.match(health.reason ?? '', /the database file .*jobs\.db was (deleted|replaced by another file) while in use .*; reopened the file now at the path/)
    const errors = a.logs.filter((l) => l.level >= 50 && /deleted or replaced/.test(l.msg))
    assert.equal(errors.length, 1, JSON.stringify(a.logs))
    if (apiHealth.json().stores !== undefined) {
      // /health lists store problems where the scheduler reports them.
      assert.equal(apiHealth.statusCode, 503)
      assert.match(JSON.stringify(apiHealth.json().stores), /was (deleted|replaced)/)
    }

    const all = [...a.fires, ...workers.flatMap((w) => w.fires)].filter((f) => f.scheduledAt >= from && f.scheduledAt <= end)
    const byFire = new Map<string, string[]>()
    for (const f of all) byFire.set(`${f.job}@${f.scheduledAt}`, [...byFire.get(`${f.job}@${f.scheduledAt}`) ?? [], f.node])
    const twice = [...byFire].filter(([, nodes]) => nodes.length > 1)
    assert.deepEqual(twice, [], 'no fire ran twice')
    for (const job of jobs) {
      for (let at = Math.ceil(from / 1000) * 1000; at <= end; at += 1000) assert.ok(byFire.has(`${job.id}@${at}`), `${job.id} fired at ${new Date(at).toISOString()}`)
    }
  } finally {
    await Promise.all(workers.map(stopWorker))
    await a.app.close()
    rmSync(dir, { recursive: true, force: true })
  }
})

test('a file deleted under a lone worker: the boot-time jobs are upserted into the reopened file and keep firing', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'aps-file-'))
  const path = join(dir, 'jobs.db')
  const jobs = everySecond(['boot-0', 'boot-1'])
  const a = await startApp(path, jobs, 'worker-a')
  try {
    while (a.fires.length < 2) await sleep(100)
    for (const suffix of ['', '-wal', '-shm']) rmSync(path + suffix, { force: true })
    const deletedAt = Date.now()
    await sleep(3500)
    const ids = (await a.app.scheduler.getJobs()).map((j) => j.id).sort()
    const after = a.fires.filter((f) => f.scheduledAt >= deletedAt + 1500)
    assert.deepEqual(ids, ['boot-0', 'boot-1'], 'the reopened (new, empty) file has the boot-time jobs again')
    assert.ok(after.some((f) => f.job === 'boot-0') && after.some((f) => f.job === 'boot-1'), `both fire from the new file (${JSON.stringify(after)})`)
    assert.ok(a.logs.some((l) => /upserted the boot-time jobs/.test(l.msg)), JSON.stringify(a.logs))
  } finally {
    await a.app.close()
    rmSync(dir, { recursive: true, force: true })
  }
})

test('a file replaced by another database (rename over it): the store reopens it and fires that file\'s jobs only', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'aps-file-'))
  const path = join(dir, 'jobs.db')
  const other = join(dir, 'restored.db')
  const a = await startApp(path, everySecond(['old']), 'worker-a')
  try {
    // The database that will be put in its place, prepared by another app.
    const prep = Fastify()
    await prep.register(scheduler, { store: new SqliteStore({ path: other }), autoStart: false, tasks: { tick: () => {} } })
    await prep.ready()
    await prep.scheduler.addJob(everySecond(['restored'])[0] as JobDefinition)
    await prep.close()
    while (a.fires.length < 2) await sleep(100)

    for (const suffix of ['-wal', '-shm']) rmSync(path + suffix, { force: true })
    renameSync(other, path)
    const replacedAt = Date.now()
    await sleep(4000)
    const end = Date.now()
    await a.app.close()

    const after = a.fires.filter((f) => f.scheduledAt > replacedAt + 1500 && f.scheduledAt < end - 500)
    assert.deepEqual([...new Set(after.map((f) => f.job))], ['restored'], 'only the jobs of the file now at the path fire')
    assert.ok(after.length >= 2, `the restored job fired ${after.length} times`)
    assert.ok(a.logs.some((l) => l.level >= 50 && /deleted or replaced/.test(l.msg)))
  } finally {
    await a.app.close()
    rmSync(dir, { recursive: true, force: true })
  }
})

for (const variant of ['read-only file', 'read-only directory'] as const) {
  test(`a ${variant} fails at start-up with an error naming the file, its directory and the fix`, { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aps-ro-'))
    chmodSync(dir, 0o755)
    const sub = join(dir, 'data')
    mkdirSync(sub)
    const path = join(sub, 'jobs.db')
    try {
      // A working database first, then taken away from the writer.
      const setup = new SqliteStore({ path })
      await setup.open()
      await setup.close()
      for (const suffix of ['-wal', '-shm']) rmSync(path + suffix, { force: true })
      if (variant === 'read-only file') {
        chmodSync(sub, 0o777)
        chmodSync(path, 0o444)
      } else {
        if (asRoot) chownSync(path, NOBODY, NOBODY)
        chmodSync(path, 0o666)
        chmodSync(sub, 0o555)
      }
      // Root writes whatever the permissions say, so as root the worker runs as nobody.
      const w = await startWorker(path, 'worker', everySecond(['tick']), asRoot ? NOBODY : undefined)
      await stopWorker(w)
      assert.equal(w.ready, false, 'it did not start')
      assert.match(w.failed ?? '', /^SqliteStore cannot write the database .*\/data\/jobs\.db: attempt to write a readonly database \(SQLITE_READONLY\w*\)\. .* needs write access to the file and to its directory .*\/data, where SQLite keeps jobs\.db-wal and jobs\.db-shm/)
      assert.equal(w.fires.length, 0)
    } finally {
      chmodSync(sub, 0o777)
      rmSync(dir, { recursive: true, force: true })
    }
  })
}
