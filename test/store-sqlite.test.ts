import { describe, test, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { SqliteStore, SQLITE_SCHEMA_VERSION } from '../stores/sqlite.js'
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
      assert.deepEqual(tables, ['jobs', 'meta', 'runs'])
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
      const plan = db.prepare(`EXPLAIN QUERY PLAN SELECT id FROM jobs WHERE paused = 0 AND next_run_time <= 1
        AND (lease_expires IS NULL OR lease_expires <= 1) ORDER BY next_run_time, id LIMIT 10`).all() as Array<{ detail: string }>
      assert.match(plan.map((row) => row.detail).join('\n'), /USING INDEX jobs_due/)
      assert.doesNotMatch(plan.map((row) => row.detail).join('\n'), /TEMP B-TREE/)
    } finally {
      db.close()
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
    await assert.rejects(store.getJobs(), /not open/)
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
    assert.equal((await store.getJobs()).length, 1)
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
})
