import { resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type BetterSqlite3 from 'better-sqlite3'
import { ConflictingIdError } from '../src/errors.js'
import type {
  AcquiredJob, JobRelease, JobStore, RunResult, SchedulerSharedState, StoreChange
} from '../src/store.js'
import type { JobRecord, RunRecord } from '../src/types.js'
import { guardLockedCalls, SYNC_BUSY_MS } from './sqlite-lock.js'

type Db = BetterSqlite3.Database
type Stmt = BetterSqlite3.Statement<unknown[], unknown>

export interface SqliteStoreOptions {
  /** The database file; every process on the host that uses the same file shares the jobs. */
  path: string
  /**
   * How long a call waits for a lock held by another process before failing (503 over HTTP).
   * The wait is asynchronous: the event loop is never blocked for more than SYNC_BUSY_MS by it.
   */
  busyTimeoutMs?: number
}

/**
 * Schema migrations: entry i moves `PRAGMA user_version` from i to i + 1. Append, never edit.
 * Jobs and runs keep their record as JSON in `data`; the other columns exist to be queried.
 */
const MIGRATIONS: readonly string[] = [`
  CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    next_run_time INTEGER,
    paused INTEGER NOT NULL,
    lease_owner TEXT,
    lease_expires INTEGER,
    version INTEGER NOT NULL,
    data TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS jobs_due ON jobs (paused, next_run_time, id);
  CREATE INDEX IF NOT EXISTS jobs_claims ON jobs (lease_expires) WHERE lease_expires IS NOT NULL;
  CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL,
    scheduled_at INTEGER NOT NULL,
    started_at INTEGER,
    status TEXT NOT NULL,
    node_id TEXT NOT NULL,
    lease_expires INTEGER,
    data TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS runs_leases ON runs (status, lease_expires);
  CREATE INDEX IF NOT EXISTS runs_history ON runs (job_id, scheduled_at, started_at, run_id);
  CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
`]

export const SQLITE_SCHEMA_VERSION = MIGRATIONS.length

const RUN_COLUMNS = 'run_id, job_id, scheduled_at, started_at, status, node_id, lease_expires, data'
const HISTORY_ORDER = 'scheduled_at DESC, started_at DESC, run_id DESC'
/** Claimable now: unpaused, due and without a live claim (parameter @now). */
const DUE = 'paused = 0 AND next_run_time <= @now AND (lease_expires IS NULL OR lease_expires <= @now)'
/** Running runs whose lease lapsed (parameter ?). */
const EXPIRED = "status = 'running' AND lease_expires <= ?"

interface RunRow {
  run_id: string
  job_id: string
  scheduled_at: number
  started_at: number | null
  status: RunRecord['status']
  node_id: string
  lease_expires: number | null
  data: string
}

type Listener = (change: StoreChange) => void

/** Listeners per database file, so every SqliteStore on one file in this process hears the others. */
const channels = new Map<string, Set<Listener>>()

/** ':memory:' and '' (a temporary file) name a database private to its connection: nothing to share. */
const isPrivate = (path: string): boolean => path === ':memory:' || path === ''

function prepareAll (db: Db) {
  const p = (sql: string): Stmt => db.prepare(sql)
  return {
    getJob: p('SELECT data FROM jobs WHERE id = ?').pluck(),
    getJobs: p('SELECT data FROM jobs ORDER BY next_run_time IS NULL, next_run_time, id').pluck(),
    getClaimed: p('SELECT lease_owner, version, data FROM jobs WHERE id = ?'),
    getVersion: p('SELECT version FROM jobs WHERE id = ?').pluck(),
    jobExists: p('SELECT 1 FROM jobs WHERE id = ?').pluck(),
    insertJob: p(`INSERT INTO jobs (id, next_run_time, paused, lease_owner, lease_expires, version, data)
      VALUES (?, ?, ?, NULL, NULL, ?, ?) ON CONFLICT (id) DO NOTHING`),
    // The claim is kept: its holder notices the version change at release.
    writeJob: p('UPDATE jobs SET next_run_time = ?, paused = ?, version = ?, data = ? WHERE id = ?'),
    deleteJob: p('DELETE FROM jobs WHERE id = ?'),
    selectDue: p(`SELECT id, lease_owner, data FROM jobs WHERE ${DUE} ORDER BY next_run_time, id LIMIT @limit`),
    setClaim: p('UPDATE jobs SET lease_owner = ?, lease_expires = ? WHERE id = ?'),
    clearClaim: p('UPDATE jobs SET lease_owner = NULL, lease_expires = NULL WHERE id = ?'),
    countRunning: p(`SELECT COUNT(*) FROM runs
      WHERE job_id = ? AND status = 'running' AND (lease_expires IS NULL OR lease_expires > ?)`).pluck(),
    putRun: p(`INSERT OR REPLACE INTO runs (${RUN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
    deleteRun: p('DELETE FROM runs WHERE run_id = ?'),
    deleteFinishedRuns: p("DELETE FROM runs WHERE job_id = ? AND status <> 'running'"),
    countAllRunning: p("SELECT COUNT(*) FROM runs WHERE job_id = ? AND status = 'running'").pluck(),
    trimRuns: p(`DELETE FROM runs WHERE run_id IN (SELECT run_id FROM runs
      WHERE job_id = ? AND status <> 'running' ORDER BY ${HISTORY_ORDER} LIMIT -1 OFFSET ?)`),
    renewRun: p("UPDATE runs SET lease_expires = ? WHERE run_id = ? AND status = 'running' AND node_id = ?"),
    getRunning: p(`SELECT ${RUN_COLUMNS} FROM runs WHERE run_id = ? AND status = 'running' AND node_id = ?`),
    selectExpired: p(`SELECT ${RUN_COLUMNS} FROM runs WHERE ${EXPIRED}`),
    anyDue: p(`SELECT 1 FROM jobs WHERE ${DUE} LIMIT 1`).pluck(),
    anyExpired: p(`SELECT 1 FROM runs WHERE ${EXPIRED} LIMIT 1`).pluck(),
    getRuns: p(`SELECT ${RUN_COLUMNS} FROM runs WHERE job_id = ? ORDER BY ${HISTORY_ORDER} LIMIT ?`),
    wakeUnclaimed: p(`SELECT next_run_time FROM jobs
      WHERE paused = 0 AND next_run_time IS NOT NULL AND (lease_expires IS NULL OR lease_expires <= @now)
      ORDER BY next_run_time LIMIT 1`).pluck(),
    wakeClaimed: p(`SELECT MIN(MAX(next_run_time, lease_expires)) FROM jobs
      WHERE lease_expires > @now AND paused = 0 AND next_run_time IS NOT NULL`).pluck(),
    wakeRuns: p("SELECT MIN(lease_expires) FROM runs WHERE status = 'running'").pluck(),
    getMeta: p('SELECT value FROM meta WHERE key = ?').pluck(),
    setMeta: p('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value')
  }
}

type Statements = ReturnType<typeof prepareAll>

/**
 * One SQLite file shared by every process on the host. better-sqlite3 is synchronous, so each
 * method body is atomic within the process; every write that must be atomic across processes runs
 * in one BEGIN IMMEDIATE transaction (the write lock is taken up front, so two claimers serialize
 * instead of both reading the same due rows).
 */
export class SqliteStore implements JobStore {
  readonly notifiesAcrossProcesses = false
  readonly path: string
  readonly busyTimeoutMs: number
  readonly #channelKey: string
  readonly #mine = new Set<Listener>()
  #db: Db | null = null
  #s: Statements | null = null
  #txn: BetterSqlite3.Transaction<(fn: () => unknown) => unknown> | null = null
  #opening: Promise<void> | null = null

  constructor ({ path, busyTimeoutMs = 5000 }: SqliteStoreOptions) {
    this.path = path
    this.busyTimeoutMs = busyTimeoutMs
    this.#channelKey = isPrivate(path) ? `${path}#${Math.random()}` : resolve(path)
  }

  async open (): Promise<void> {
    if (this.#db !== null) return
    this.#opening ??= this.#open().finally(() => { this.#opening = null })
    await this.#opening
  }

  async #open (): Promise<void> {
    const Database = await loadDriver()
    const db = new Database(this.path, { timeout: SYNC_BUSY_MS })
    try {
      if (!isPrivate(this.path)) await setWal(db, this.busyTimeoutMs) // WAL only matters to other connections
      db.pragma('synchronous = NORMAL')
      migrate(db)
      this.#s = prepareAll(db)
      this.#txn = db.transaction((fn: () => unknown) => fn())
      this.#db = db
    } catch (err) {
      db.close()
      throw err
    }
  }

  async close (): Promise<void> {
    if (this.#opening !== null) await this.#opening.catch(() => {})
    for (const listener of this.#mine) channels.get(this.#channelKey)?.delete(listener)
    this.#mine.clear()
    if (channels.get(this.#channelKey)?.size === 0) channels.delete(this.#channelKey)
    const db = this.#db
    this.#db = null
    this.#s = null
    this.#txn = null
    db?.close()
  }

  async addJob (job: JobRecord): Promise<void> {
    const { changes } = this.#st().insertJob.run(job.id, job.next_run_time, job.paused ? 1 : 0, job.version, JSON.stringify(job))
    if (changes === 0) throw new ConflictingIdError(job.id)
    this.#emit({ type: 'job_added', jobId: job.id, nextRunTime: job.next_run_time })
  }

  async getJob (id: string): Promise<JobRecord | null> {
    const data = this.#st().getJob.get(id) as string | undefined
    return data === undefined ? null : JSON.parse(data) as JobRecord
  }

  async getJobs (): Promise<JobRecord[]> {
    return (this.#st().getJobs.all() as string[]).map((data) => JSON.parse(data) as JobRecord)
  }

  async updateJob (job: JobRecord, expectedVersion?: number): Promise<JobRecord | null> {
    const s = this.#st()
    const data = this.#tx(() => {
      const version = s.getVersion.get(job.id) as number | undefined
      if (version === undefined || (expectedVersion !== undefined && version !== expectedVersion)) return null
      const data = JSON.stringify({ ...job, version: version + 1 })
      s.writeJob.run(job.next_run_time, job.paused ? 1 : 0, version + 1, data, job.id)
      return data
    })
    if (data === null) return null
    this.#emit({ type: 'job_modified', jobId: job.id, nextRunTime: job.next_run_time })
    return JSON.parse(data) as JobRecord
  }

  async removeJob (id: string): Promise<boolean> {
    const s = this.#st()
    const removed = this.#tx(() => {
      if (s.deleteJob.run(id).changes === 0) return false
      s.deleteFinishedRuns.run(id)
      return true
    })
    if (removed) this.#emit({ type: 'job_removed', jobId: id })
    return removed
  }

  async acquireDueJobs ({ owner, now, leaseMs, limit }: { owner: string, now: number, leaseMs: number, limit: number }): Promise<AcquiredJob[]> {
    if (limit <= 0) return []
    const s = this.#st()
    // A read first: in WAL it takes no lock, so idle processes sharing the file do not queue for
    // the write lock at every wakeup. The transaction below decides.
    if (s.anyDue.get({ now }) === undefined) return []
    return this.#tx(() => {
      const rows = s.selectDue.all({ now, limit: Number.isFinite(limit) ? limit : -1 }) as Array<{ id: string, lease_owner: string | null, data: string }>
      return rows.map((row) => {
        s.setClaim.run(owner, now + leaseMs, row.id)
        return {
          job: JSON.parse(row.data) as JobRecord,
          running: s.countRunning.get(row.id, now) as number,
          takeover: row.lease_owner !== null
        }
      })
    })
  }

  async releaseJobs (owner: string, releases: JobRelease[]): Promise<boolean[]> {
    if (releases.length === 0) return []
    return this.#tx(() => releases.map((release) => this.#release(owner, release)))
  }

  #release (owner: string, release: JobRelease): boolean {
    const s = this.#st()
    const id = release.id
    const row = s.getClaimed.get(id) as { lease_owner: string | null, version: number, data: string } | undefined
    if (row === undefined || row.lease_owner !== owner) return false
    s.clearClaim.run(id)
    if (row.version !== release.version) return false
    for (const run of release.runs) this.#putRun(run)
    if (release.remove) {
      s.deleteJob.run(id)
      s.deleteFinishedRuns.run(id)
    } else {
      // A version bump, so a writer that read the job before this fire cannot roll its schedule back.
      const job: JobRecord = {
        ...JSON.parse(row.data) as JobRecord,
        next_run_time: release.next_run_time,
        next_fire_time: release.next_fire_time,
        version: row.version + 1
      }
      s.writeJob.run(job.next_run_time, job.paused ? 1 : 0, job.version, JSON.stringify(job), id)
    }
    this.#trim(release.runs, release.historyLimit)
    return true
  }

  async insertRuns (runs: RunRecord[], historyLimit: number): Promise<void> {
    const s = this.#st()
    this.#tx(() => {
      for (const run of runs) {
        // History lives with its job: a finished run of a missing job would never be cleaned up.
        if (run.status !== 'running' && s.jobExists.get(run.job_id) === undefined) continue
        this.#putRun(run)
      }
      this.#trim(runs, historyLimit)
    })
  }

  async renewRunLeases (owner: string, runIds: string[], leaseExpires: number): Promise<string[]> {
    const s = this.#st()
    return this.#tx(() => runIds.filter((id) => s.renewRun.run(leaseExpires, id, owner).changes > 0))
  }

  async finishRun (runId: string, owner: string, result: RunResult): Promise<boolean> {
    const s = this.#st()
    return this.#tx(() => {
      const row = s.getRunning.get(runId, owner) as RunRow | undefined
      if (row === undefined) return false
      if (s.jobExists.get(row.job_id) === undefined) {
        s.deleteRun.run(runId)
        return true
      }
      this.#putRun({
        ...rowToRun(row),
        status: result.status,
        started_at: result.started_at,
        finished_at: result.finished_at,
        error: result.error,
        duration_ms: result.duration_ms,
        lag_ms: result.lag_ms,
        lease_expires: null
      })
      return true
    })
  }

  async expireRuns (now: number): Promise<RunRecord[]> {
    const s = this.#st()
    if (s.anyExpired.get(now) === undefined) return [] // a lock-free read first, as in acquireDueJobs
    return this.#tx(() => (s.selectExpired.all(now) as RunRow[]).map((row) => {
      const run: RunRecord = { ...rowToRun(row), status: 'abandoned', finished_at: now, lease_expires: null }
      if (s.jobExists.get(run.job_id) === undefined) s.deleteRun.run(run.run_id)
      else this.#putRun(run)
      return run
    }))
  }

  async getRuns (jobId: string, limit?: number): Promise<RunRecord[]> {
    const rows = this.#st().getRuns.all(jobId, limit === undefined ? -1 : Math.max(0, limit)) as RunRow[]
    return rows.map(rowToRun)
  }

  async nextWakeTime (now: number): Promise<number | null> {
    const s = this.#st()
    const candidates = [
      s.wakeUnclaimed.get({ now }),
      s.wakeClaimed.get({ now }),
      s.wakeRuns.get()
    ].filter((t): t is number => typeof t === 'number')
    return candidates.length === 0 ? null : Math.min(...candidates)
  }

  async getSchedulerState (): Promise<SchedulerSharedState> {
    const value = this.#st().getMeta.get('scheduler_state') as string | undefined
    return value === undefined ? { paused: false } : { paused: (JSON.parse(value) as SchedulerSharedState).paused }
  }

  async setSchedulerState (state: SchedulerSharedState): Promise<void> {
    this.#st().setMeta.run('scheduler_state', JSON.stringify({ paused: state.paused }))
    this.#emit({ type: 'scheduler_state', paused: state.paused })
  }

  /** Hears this process's changes to the same file. `close()` drops this store's subscriptions. */
  subscribe (listener: (change: StoreChange) => void): () => void {
    const entry: Listener = (change) => listener(change)
    let channel = channels.get(this.#channelKey)
    if (channel === undefined) {
      channel = new Set()
      channels.set(this.#channelKey, channel)
    }
    channel.add(entry)
    this.#mine.add(entry)
    return () => {
      this.#mine.delete(entry)
      const current = channels.get(this.#channelKey)
      current?.delete(entry)
      if (current?.size === 0) channels.delete(this.#channelKey)
    }
  }

  #emit (change: StoreChange): void {
    for (const listener of [...channels.get(this.#channelKey) ?? []]) {
      try {
        listener(change)
      } catch {
        // A listener's failure must not turn a committed write into a rejected call.
      }
    }
  }

  #st (): Statements {
    if (this.#s === null) throw new Error('SqliteStore is not open: call open() first')
    return this.#s
  }

  /** Runs `fn` in one BEGIN IMMEDIATE transaction. */
  #tx<T> (fn: () => T): T {
    if (this.#txn === null) throw new Error('SqliteStore is not open: call open() first')
    return this.#txn.immediate(fn) as T
  }

  #putRun (run: RunRecord): void {
    this.#st().putRun.run(run.run_id, run.job_id, run.scheduled_at, run.started_at, run.status, run.node_id,
      run.lease_expires, JSON.stringify(run))
  }

  /**
   * For every job in `runs`, drops the oldest finished runs until at most `limit` runs remain.
   * Running runs count (so the history is within the limit once they finish, with no trim at
   * finish) but are never dropped.
   */
  #trim (runs: RunRecord[], limit: number): void {
    if (!Number.isFinite(limit)) return
    const s = this.#st()
    for (const jobId of new Set(runs.map((r) => r.job_id))) {
      const keepFinished = Math.max(0, Math.floor(limit) - (s.countAllRunning.get(jobId) as number))
      s.trimRuns.run(jobId, keepFinished)
    }
  }
}

/** Columns are authoritative (a lease renewal only updates its column); `data` holds the rest. */
function rowToRun (row: RunRow): RunRecord {
  return {
    ...JSON.parse(row.data) as RunRecord,
    run_id: row.run_id,
    job_id: row.job_id,
    scheduled_at: row.scheduled_at,
    started_at: row.started_at,
    status: row.status,
    node_id: row.node_id,
    lease_expires: row.lease_expires
  }
}

async function loadDriver (): Promise<typeof BetterSqlite3> {
  try {
    const mod = await import('better-sqlite3')
    return mod.default
  } catch (err) {
    const code = (err as { code?: string }).code
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new Error('SqliteStore needs the better-sqlite3 package: npm install better-sqlite3', { cause: err })
    }
    throw err
  }
}

/** Switching a fresh file to WAL can meet SQLITE_BUSY while another process does the same: retry. */
async function setWal (db: Db, busyTimeoutMs: number): Promise<void> {
  const deadline = Date.now() + busyTimeoutMs
  for (;;) {
    try {
      const mode = db.pragma('journal_mode = WAL', { simple: true })
      if (mode === 'wal') return
      throw new Error(`SqliteStore could not enable WAL mode on ${db.name} (journal_mode is ${String(mode)})`)
    } catch (err) {
      const code = (err as { code?: string }).code
      if (!(code?.startsWith('SQLITE_BUSY') ?? false) || Date.now() >= deadline) throw err
      await sleep(10)
    }
  }
}

/** Creates or upgrades the schema; the immediate transaction makes racing first opens safe. */
function migrate (db: Db): void {
  db.transaction(() => {
    const current = db.pragma('user_version', { simple: true }) as number
    if (current > MIGRATIONS.length) {
      throw new Error(`SqliteStore: ${db.name} has schema version ${current}, newer than this version supports (${MIGRATIONS.length})`)
    }
    for (let v = current; v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v] as string)
    if (current < MIGRATIONS.length) db.pragma(`user_version = ${MIGRATIONS.length}`)
  }).immediate()
}

// Another process's lock is waited for asynchronously, never by blocking the event loop.
guardLockedCalls(SqliteStore.prototype, {
  except: ['close', 'subscribe'],
  reads: ['getJob', 'getJobs', 'queryJobs', 'overdueJobs', 'getRuns', 'nextWakeTime', 'getSchedulerState', 'health']
})
