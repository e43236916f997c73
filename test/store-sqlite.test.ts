import { describe, test, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { SQL, SqliteStore, SQLITE_SCHEMA_VERSION, prefixEnd } from '../stores/sqlite.js'
import { WalCheckpointer } from '../stores/sqlite-checkpoint.js'
import { ConflictingIdError } from '../src/errors.js'
import type { JobRecord } from '../src/types.js'
import { storeContract } from './store-contract.js'

async function tempDb (): Promise<{ path: string, remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'aps-sqlite-'))
  return { path: join(dir, 'jobs.db'), remove: async () => { await rm(dir, { recursive: true, force: true }) } }
}

storeContract('SqliteStore', async () => {
  const { path, remove } = await tempDb()
  const opened: SqliteStore[] = []
  const make = (): SqliteStore => {
    const store = new SqliteStore({ path })
    opened.push(store)
    return store
  }
  return {
    store: make(),
    sibling: async () => make(),
    cleanup: async () => {
      for (const store of opened) await store.close()
      await remove()
    }
  }
})

const BASE = 1_800_000_000_000
const record = (id: string): JobRecord => ({
  id, name: id, func: 'tasks:tick', args: [], kwargs: {},
  trigger: { type: 'date', run_date: BASE, timezone: 'UTC' },
  executor: 'default', misfire_grace_time: 1, coalesce: true, max_instances: 1,
  next_run_time: BASE, next_fire_time: BASE, paused: false, paused_reason: null, source: 'code',
  config_hash: null, version: 1, created_at: BASE, updated_at: BASE
})

describe('SqliteStore specifics', () => {
  let path: string
  let remove: () => Promise<void>
  beforeEach(async () => { ({ path, remove } = await tempDb()) })
  afterEach(async () => { await remove() })

  test('an idle wakeup never waits for the write lock another process holds', async () => {
    const store = new SqliteStore({ path, busyTimeoutMs: 2000 })
    await store.open()
    await store.addJob({ ...record('later'), next_run_time: BASE + 60_000, next_fire_time: BASE + 60_000 })
    const other = new Database(path)
    other.exec('BEGIN IMMEDIATE') // another process in the middle of a write
    try {
      // Had either taken the write lock, it would have waited out the busy timeout and thrown SQLITE_BUSY.
      assert.deepEqual(await store.acquireDueJobs({ owner: 'one', now: BASE, leaseMs: 30_000, limit: 10 }), [])
      assert.deepEqual(await store.expireRuns(BASE), [])
      assert.equal(await store.nextWakeTime(BASE), BASE + 60_000)
    } finally {
      other.exec('ROLLBACK')
      other.close()
      await store.close()
    }
  })

  test('creates a versioned schema in WAL mode', async () => {
    const store = new SqliteStore({ path })
    await store.open()
    await store.close()
    const db = new Database(path, { readonly: true })
    try {
      assert.equal(db.pragma('user_version', { simple: true }), SQLITE_SCHEMA_VERSION)
      assert.ok(SQLITE_SCHEMA_VERSION >= 1)
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal')
      const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all()
      assert.deepEqual(tables, ['job_counts', 'jobs', 'meta', 'runs'])
    } finally {
      db.close()
    }
  })

  test('the due-job query uses an index', async () => {
    const store = new SqliteStore({ path })
    await store.open()
    await store.close()
    const db = new Database(path, { readonly: true })
    try {
      const plan = db.prepare(`EXPLAIN QUERY PLAN ${SQL.selectDue}`).all({ now: 1, dueBy: 1, scan: 10 }) as Array<{ detail: string }>
      assert.match(plan.map((row) => row.detail).join('\n'), /USING INDEX jobs_list/)
      assert.doesNotMatch(plan.map((row) => row.detail).join('\n'), /TEMP B-TREE/)
    } finally {
      db.close()
    }
  })

  test('every statement is served by an index: no table scan, no sort of a table', async () => {
    const store = new SqliteStore({ path })
    await store.open()
    for (let i = 0; i < 50; i++) await store.addJob({ ...record(`j${i}`), func: `tasks:f${i % 3}` })
    await store.close()
    const db = new Database(path, { readonly: true })
    try {
      db.exec('ANALYZE') // the planner with statistics, as a long-lived file would have them
    } catch {
      // read-only: plans without statistics, which is the stricter case
    }
    try {
      const failures: string[] = []
      // The index each repeated query must use (a SEARCH on another index can still walk every job).
      const expected: Record<string, string> = {
        selectDue: 'jobs_list', anyDue: 'jobs_list', wakeUnclaimed: 'jobs_list', wakeClaimed: 'jobs_claims',
        wakeRuns: 'runs_leases', anyExpired: 'runs_leases', selectExpired: 'runs_leases',
        pageAll: 'jobs_list', pageFunc: 'jobs_func_list', overdue: 'jobs_overdue', searchPage: 'jobs_name_key',
        searchCount: 'jobs_id_key', getRuns: 'runs_history', oldestFinished: 'runs_history'
      }
      for (const [name, sql] of Object.entries(SQL)) {
        const named = Object.fromEntries([...sql.matchAll(/@(\w+)/g)].map((m) => [m[1], 0]))
        const positional = (sql.match(/\?/g) ?? []).map(() => 0)
        const stmt = db.prepare(`EXPLAIN QUERY PLAN ${sql}`)
        const rows = (Object.keys(named).length > 0 ? stmt.all(named) : stmt.all(...positional)) as Array<{ detail: string }>
        for (const { detail } of rows) {
          // job_counts has one row per task name and list group: reading it whole is the point.
          const fullScan = /^SCAN (jobs|runs)\b/.test(detail) && !/USING (COVERING )?INDEX/.test(detail)
          // The q search sorts its matches (found through two index ranges), and only them.
          const sortsMatches = name === 'searchPage' && /TEMP B-TREE FOR ORDER BY/.test(detail)
          if (fullScan || (/TEMP B-TREE/.test(detail) && !sortsMatches)) failures.push(`${name}: ${detail}`)
        }
        const index = expected[name]
        if (index !== undefined && !rows.some(({ detail }) => new RegExp(`INDEX ${index}\\b`).test(detail))) {
          failures.push(`${name} does not use ${index}: ${rows.map((r) => r.detail).join(' | ')}`)
        }
      }
      assert.deepEqual(failures, [])
    } finally {
      db.close()
    }
  })

  test('prefixEnd bounds a prefix range in code point order', () => {
    assert.equal(prefixEnd('ab'), 'ac')
    assert.equal(prefixEnd('a\u{10FFFF}'), 'b')
    assert.equal(prefixEnd('\uD7FF'), '\uE000')
    assert.equal(prefixEnd('x\u{1F370}'), 'x\u{1F371}')
    assert.equal(prefixEnd(''), null)
    assert.equal(prefixEnd('\u{10FFFF}'), null)
  })

  test('a file of schema version 1 is migrated in place, its jobs and runs queryable', async () => {
    const db = new Database(path)
    db.exec(`
      CREATE TABLE jobs (id TEXT PRIMARY KEY, next_run_time INTEGER, paused INTEGER NOT NULL, lease_owner TEXT,
        lease_expires INTEGER, version INTEGER NOT NULL, data TEXT NOT NULL);
      CREATE INDEX jobs_due ON jobs (paused, next_run_time, id);
      CREATE INDEX jobs_claims ON jobs (lease_expires) WHERE lease_expires IS NOT NULL;
      CREATE TABLE runs (run_id TEXT PRIMARY KEY, job_id TEXT NOT NULL, scheduled_at INTEGER NOT NULL, started_at INTEGER,
        status TEXT NOT NULL, node_id TEXT NOT NULL, lease_expires INTEGER, data TEXT NOT NULL);
      CREATE INDEX runs_leases ON runs (status, lease_expires);
      CREATE INDEX runs_history ON runs (job_id, scheduled_at, started_at, run_id);
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      PRAGMA user_version = 1;
    `)
    const old = { ...record('Old-Job'), name: 'Nightly Report', misfire_grace_time: 5 }
    const paused = { ...record('held'), paused: true, next_run_time: null, next_fire_time: null }
    const insert = db.prepare('INSERT INTO jobs (id, next_run_time, paused, version, data) VALUES (?, ?, ?, ?, ?)')
    for (const job of [old, paused]) insert.run(job.id, job.next_run_time, job.paused ? 1 : 0, job.version, JSON.stringify(job))
    const oldRun = {
      run_id: 'r1', job_id: 'Old-Job', scheduled_at: BASE, started_at: BASE + 1, finished_at: BASE + 2, status: 'error',
      error: { name: 'Error', message: 'boom', stack: null }, node_id: 'n', trigger: 'manual', duration_ms: 1, lag_ms: 1, lease_expires: null
    }
    db.prepare('INSERT INTO runs (run_id, job_id, scheduled_at, started_at, status, node_id, lease_expires, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run('r1', 'Old-Job', BASE, BASE + 1, 'error', 'n', null, JSON.stringify(oldRun))
    db.close()
    const store = new SqliteStore({ path })
    await store.open()
    try {
      assert.deepEqual(await store.getJob('Old-Job'), old)
      assert.deepEqual((await store.queryJobs({ q: 'nightly' })).jobs, [old])
      assert.equal((await store.queryJobs({ state: 'paused' })).total, 1)
      assert.equal((await store.queryJobs({ func: 'tasks:tick' })).total, 2)
      assert.deepEqual(await store.overdueJobs(BASE + 10_000, 10), ['Old-Job'])
      assert.deepEqual(await store.getRuns('Old-Job'), [oldRun])
    } finally {
      await store.close()
    }
  })

  test('reopening an existing file keeps its data', async () => {
    const first = new SqliteStore({ path })
    await first.open()
    await first.addJob(record('kept'))
    await first.setSchedulerState({ paused: true })
    await first.close()
    const second = new SqliteStore({ path })
    await second.open()
    await second.open()
    try {
      assert.deepEqual(await second.getJob('kept'), record('kept'))
      assert.deepEqual(await second.getSchedulerState(), { paused: true })
    } finally {
      await second.close()
    }
  })

  test('refuses a file from a newer schema version', async () => {
    const db = new Database(path)
    db.pragma('user_version = 999')
    db.close()
    const store = new SqliteStore({ path })
    await assert.rejects(store.open(), /schema version 999/)
    await store.close()
  })

  test('methods fail clearly before open and after close', async () => {
    const store = new SqliteStore({ path })
    await assert.rejects(store.queryJobs({}), /not open/)
    await store.open()
    await store.close()
    await assert.rejects(store.addJob(record('a')), /not open/)
    // It can be opened again.
    await store.open()
    await store.addJob(record('a'))
    await store.close()
  })

  test('concurrent open calls on one instance share one connection', async () => {
    const store = new SqliteStore({ path })
    await Promise.all([store.open(), store.open(), store.open()])
    await store.addJob(record('a'))
    assert.equal((await store.queryJobs({})).total, 1)
    await store.close()
  })

  test('a private database (:memory: or a temporary one) opens without WAL and is shared with no one', async () => {
    for (const privatePath of [':memory:', '']) {
      const a = new SqliteStore({ path: privatePath })
      const b = new SqliteStore({ path: privatePath })
      await a.open()
      await b.open()
      let heard = 0
      b.subscribe(() => { heard++ })
      await a.addJob(record('mine'))
      assert.deepEqual(await a.getJob('mine'), record('mine'))
      assert.equal(await b.getJob('mine'), null)
      assert.equal(heard, 0)
      await a.close()
      await b.close()
    }
  })

  test('a closed store stops hearing changes', async () => {
    const a = new SqliteStore({ path })
    const b = new SqliteStore({ path })
    await a.open()
    await b.open()
    let heard = 0
    a.subscribe(() => { heard++ })
    await b.addJob(record('one'))
    assert.equal(heard, 1)
    await a.close()
    await b.addJob(record('two'))
    assert.equal(heard, 1)
    await b.close()
  })

  test('adds made together are written in one transaction, each succeeding or failing on its own', async () => {
    const store = new SqliteStore({ path })
    await store.open()
    await store.addJob(record('taken'))
    const db = new Database(path, { readonly: true })
    const commits = (): number => db.pragma('data_version', { simple: true }) as number
    try {
      const before = commits()
      const outcomes = await Promise.allSettled(['a', 'taken', 'b', 'a'].map(async (id) => { await store.addJob(record(id)) }))
      assert.deepEqual(outcomes.map((o) => o.status), ['fulfilled', 'rejected', 'fulfilled', 'rejected'])
      assert.ok(outcomes.filter((o) => o.status === 'rejected').every((o) => o.reason instanceof ConflictingIdError))
      assert.equal(commits(), before + 1)
      assert.deepEqual((await store.queryJobs({})).jobs.map((j) => j.id), ['a', 'b', 'taken'])
      // A call made right after an add (not awaited) sees it: calls act in call order.
      const adding = store.addJob(record('c'))
      assert.deepEqual(await store.getJob('c'), record('c'))
      await adding
    } finally {
      db.close()
      await store.close()
    }
  })

  test('a worker thread checkpoints the WAL, so commits on the event loop do not have to', async () => {
    const db = new Database(path)
    db.pragma('journal_mode = WAL')
    db.pragma('wal_autocheckpoint = 0') // only the worker checkpoints
    db.exec('CREATE TABLE t (v TEXT)')
    const insert = db.prepare('INSERT INTO t (v) VALUES (?)')
    for (let i = 0; i < 200; i++) insert.run('x'.repeat(2000))
    // The WAL header's checkpoint sequence number grows when a writer restarts the log, which it
    // does only once every frame has been checkpointed.
    const sequence = (): number => readFileSync(`${path}-wal`).readUInt32BE(12)
    const before = sequence()
    const checkpointer = new WalCheckpointer(path)
    checkpointer.start((err) => { throw err })
    try {
      const deadline = Date.now() + 10_000
      while (sequence() === before && Date.now() < deadline) {
        await sleep(50)
        insert.run('y')
      }
      assert.notEqual(sequence(), before, 'the log was checkpointed and restarted')
    } finally {
      checkpointer.stop()
      db.close()
    }
  })
})
