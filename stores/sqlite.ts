import { resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type BetterSqlite3 from 'better-sqlite3'
import { ConflictingIdError } from '../src/errors.js'
import {
  listRank, overdueAt, searchKey, SAME_CLOCK_STEP_MS,
  type AcquiredJob, type JobPage, type JobRelease, type JobStore, type JobStoreQuery, type RunFinish,
  type SchedulerSharedState, type StoreChange, type StoreHealth
} from '../src/store.js'
import type { JobRecord, RunRecord } from '../src/types.js'
import { guardLockedCalls, isBusy, SYNC_BUSY_MS } from './sqlite-lock.js'
import { FileWatch, INCIDENT_SHOWN_MS, isUnwritable, unwritableError } from './sqlite-file.js'
import { BACKSTOP_PAGES, COMMITS_BEFORE_WORKER, WalCheckpointer } from './sqlite-checkpoint.js'

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
const MIGRATIONS: ReadonlyArray<string | ((db: Db) => void)> = [`
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
`, (db) => {
  // Indexed columns for pages, filters, counts and /health; run columns so that finishing a run
  // writes no JSON. Columns are authoritative over \`data\` for the fields they hold.
  db.exec(`
    ALTER TABLE jobs ADD COLUMN next_fire_time INTEGER;
    ALTER TABLE jobs ADD COLUMN func TEXT NOT NULL DEFAULT '';
    ALTER TABLE jobs ADD COLUMN list_rank INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE jobs ADD COLUMN overdue_grace INTEGER NOT NULL DEFAULT 60000;
    ALTER TABLE jobs ADD COLUMN overdue_at INTEGER;
    ALTER TABLE jobs ADD COLUMN id_key TEXT NOT NULL DEFAULT '';
    ALTER TABLE jobs ADD COLUMN name_key TEXT NOT NULL DEFAULT '';
    ALTER TABLE runs ADD COLUMN finished_at INTEGER;
    ALTER TABLE runs ADD COLUMN error TEXT;
    ALTER TABLE runs ADD COLUMN trigger TEXT NOT NULL DEFAULT 'scheduled';
    ALTER TABLE runs ADD COLUMN duration_ms INTEGER;
    ALTER TABLE runs ADD COLUMN lag_ms INTEGER;
  `)
  const jobs = db.prepare('SELECT id, data FROM jobs').all() as Array<{ id: string, data: string }>
  const setJob = db.prepare(`UPDATE jobs SET next_fire_time = ?, func = ?, list_rank = ?, overdue_grace = ?,
    overdue_at = ?, id_key = ?, name_key = ? WHERE id = ?`)
  for (const { id, data } of jobs) {
    const job = JSON.parse(data) as JobRecord
    const c = jobColumns(job)
    setJob.run(job.next_fire_time, c.func, c.list_rank, c.overdue_grace, c.overdue_at, c.id_key, c.name_key, id)
  }
  db.exec(`
    UPDATE runs SET finished_at = json_extract(data, '$.finished_at'), error = json(json_extract(data, '$.error')),
      trigger = coalesce(json_extract(data, '$.trigger'), 'scheduled'),
      duration_ms = json_extract(data, '$.duration_ms'), lag_ms = json_extract(data, '$.lag_ms');
    UPDATE runs SET error = NULL WHERE error = 'null';
    CREATE INDEX jobs_list ON jobs (list_rank, next_run_time, id);
    CREATE INDEX jobs_func_list ON jobs (func, list_rank, next_run_time, id);
    CREATE INDEX jobs_overdue ON jobs (overdue_at) WHERE overdue_at IS NOT NULL;
    CREATE INDEX jobs_id_key ON jobs (id_key);
    CREATE INDEX jobs_name_key ON jobs (name_key);
    CREATE INDEX runs_running ON runs (job_id) WHERE status = 'running';
    CREATE TABLE job_counts (func TEXT NOT NULL, list_rank INTEGER NOT NULL, n INTEGER NOT NULL,
      PRIMARY KEY (func, list_rank)) WITHOUT ROWID;
    INSERT INTO job_counts SELECT func, list_rank, COUNT(*) FROM jobs GROUP BY func, list_rank;
    CREATE TRIGGER job_counts_insert AFTER INSERT ON jobs BEGIN
      INSERT INTO job_counts (func, list_rank, n) VALUES (NEW.func, NEW.list_rank, 1)
        ON CONFLICT (func, list_rank) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER job_counts_delete AFTER DELETE ON jobs BEGIN
      UPDATE job_counts SET n = n - 1 WHERE func = OLD.func AND list_rank = OLD.list_rank;
    END;
    CREATE TRIGGER job_counts_update AFTER UPDATE OF func, list_rank ON jobs
      WHEN OLD.func IS NOT NEW.func OR OLD.list_rank IS NOT NEW.list_rank BEGIN
      UPDATE job_counts SET n = n - 1 WHERE func = OLD.func AND list_rank = OLD.list_rank;
      INSERT INTO job_counts (func, list_rank, n) VALUES (NEW.func, NEW.list_rank, 1)
        ON CONFLICT (func, list_rank) DO UPDATE SET n = n + 1;
    END;
  `)
}, `
  -- Fewer index entries to write per fire: list_rank = 0 means unpaused with a next run, so
  -- jobs_list serves the due queries that jobs_due served; runs_leases holds running runs only.
  DROP INDEX jobs_due;
  DROP INDEX runs_leases;
  CREATE INDEX runs_leases ON runs (lease_expires) WHERE status = 'running';
`]

export const SQLITE_SCHEMA_VERSION = MIGRATIONS.length

/** A claim pauses SHARE_PAUSE_MS when it follows a full claim batch within SHARE_PAUSE_WITHIN_MS, while other connections write to the file. */
const SHARE_PAUSE_WITHIN_MS = 20
const SHARE_PAUSE_MS = 3
/**
 * A claim ahead of time takes at most this many jobs while other connections write to the file:
 * with the pause after it, the processes claim a wave of jobs in turns, so its fires spread.
 */
const SHARED_AHEAD_BATCH = 20
/** Another connection's commit within this long counts as another process using the file. */
const OTHERS_ACTIVE_MS = 5000

/** How many claimable jobs a claim of `limit` looks at (-1: all): see selectDue. */
const scanOf = (limit: number): number => Number.isFinite(limit) ? 2 * limit : -1

/** Parsed job records kept for claims (see SqliteStore.#claimedJob): about 1 KB each. */
const PARSED_JOBS_KEPT = 20_000

const JOB_COLUMNS = 'data, next_run_time, next_fire_time, version'
const RUN_COLUMNS = `run_id, job_id, scheduled_at, started_at, finished_at, status, error, node_id, trigger,
  duration_ms, lag_ms, lease_expires`
const HISTORY_ORDER = 'scheduled_at DESC, started_at DESC, run_id DESC'
/** Claimable: unpaused, due by @dueBy and without a live claim at @now. */
const DUE = 'list_rank = 0 AND next_run_time <= @dueBy AND (lease_expires IS NULL OR lease_expires <= @now)'
/** `what` of the live running runs of the job in row `row` (for max_instances). */
const liveRuns = (what: string, row: string): string => `SELECT ${what} FROM runs INDEXED BY runs_running
  WHERE job_id = ${row}.id AND status = 'running' AND (lease_expires IS NULL OR lease_expires > @now)`
/** Running runs whose lease lapsed (parameter ?). */
const EXPIRED = "status = 'running' AND lease_expires <= ?"
/** Ids whose id or name search key starts with @p: two index ranges [@p, @next) (IN drops repeats). */
const SEARCH_IDS = `SELECT id FROM jobs WHERE id_key >= @p AND id_key < @next
  UNION ALL SELECT id FROM jobs WHERE name_key >= @p AND name_key < @next`
/** Sorts after every TEXT value in SQLite (a BLOB): the upper bound of a prefix that has none. */
const AFTER_ALL_TEXT = Buffer.from([0xff])
/** The list order of `queryJobs` (JOB_LIST_ORDER), served by jobs_list / jobs_func_list. */
const LIST_ORDER = 'list_rank, next_run_time, id'

interface JobRow { data: string, next_run_time: number | null, next_fire_time: number | null, version: number }

interface RunRow {
  run_id: string
  job_id: string
  scheduled_at: number
  started_at: number | null
  finished_at: number | null
  status: RunRecord['status']
  error: string | null
  node_id: string
  trigger: RunRecord['trigger']
  duration_ms: number | null
  lag_ms: number | null
  lease_expires: number | null
}

type Listener = (change: StoreChange) => void
/** The part of a logger the store uses. */
interface LogSink { error: (obj: object, msg: string) => void, warn: (obj: object, msg: string) => void }

/** Listeners per database file, so every SqliteStore on one file in this process hears the others. */
const channels = new Map<string, Set<Listener>>()

/** ':memory:' and '' (a temporary file) name a database private to its connection: nothing to share. */
const isPrivate = (path: string): boolean => path === ':memory:' || path === ''

/** The queried columns of a job, derived from its record. */
function jobColumns (job: JobRecord): { func: string, list_rank: number, overdue_grace: number, overdue_at: number | null, id_key: string, name_key: string } {
  const at = overdueAt(job)
  return {
    func: job.func,
    list_rank: listRank(job),
    overdue_grace: Math.max((job.misfire_grace_time ?? 60) * 1000, 1000),
    overdue_at: at,
    id_key: searchKey(job.id),
    name_key: searchKey(job.name)
  }
}

const JOB_WRITE = `next_run_time = @next_run_time, next_fire_time = @next_fire_time, paused = @paused,
    version = @version, data = @data, func = @func, list_rank = @list_rank, overdue_grace = @overdue_grace,
    overdue_at = @overdue_at, id_key = @id_key, name_key = @name_key`

/** Every statement the store runs, by name (exported for the query-plan test). */
export const SQL = {
  getJob: `SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ?`,
  getVersion: 'SELECT version FROM jobs WHERE id = ?',
  jobExists: 'SELECT 1 FROM jobs WHERE id = ?',
  insertJob: `INSERT INTO jobs (id, next_run_time, next_fire_time, paused, lease_owner, lease_expires, version, data,
        func, list_rank, overdue_grace, overdue_at, id_key, name_key)
      VALUES (@id, @next_run_time, @next_fire_time, @paused, NULL, NULL, @version, @data,
        @func, @list_rank, @overdue_grace, @overdue_at, @id_key, @name_key) ON CONFLICT (id) DO NOTHING`,
  // The claim is kept: its holder notices the version change at release.
  writeJob: `UPDATE jobs SET ${JOB_WRITE} WHERE id = @id`,
  // A fire moves only the schedule: columns, no JSON (they override `data` on read). Fenced: only
  // by the claim's holder, only while the job is at the version it claimed.
  advanceJob: `UPDATE jobs SET next_run_time = @nrt, next_fire_time = @nft, version = version + 1,
      list_rank = CASE WHEN @nrt IS NULL THEN 1 ELSE 0 END,
      overdue_at = CASE WHEN @nrt IS NULL THEN NULL ELSE @nrt + overdue_grace END,
      lease_owner = NULL, lease_expires = NULL WHERE id = @id AND lease_owner = @owner AND version = @version`,
  deleteJob: 'DELETE FROM jobs WHERE id = ?',
  deleteClaimedJob: 'DELETE FROM jobs WHERE id = @id AND lease_owner = @owner AND version = @version',
  // The due queries name their index: with statistics the planner may prefer a skip-scan of jobs_func_list.
  // With each job, its live running runs (for max_instances).
  // The first @scan claimable jobs with their live runs: ahead of its time (later than @now) a job
  // with a live run is left for its time (acquireDueJobs), so that max_instances counts the runs
  // live when it is due; the scan is bounded, so jobs left over are not walked again and again.
  selectDue: `SELECT id, lease_owner, ${JOB_COLUMNS}, (${liveRuns('COUNT(*)', 'jobs')}) AS running
      FROM jobs INDEXED BY jobs_list WHERE ${DUE} ORDER BY list_rank, next_run_time, id LIMIT @scan`,
  setClaim: 'UPDATE jobs SET lease_owner = ?, lease_expires = ? WHERE id = ?',
  clearOwnClaim: 'UPDATE jobs SET lease_owner = NULL, lease_expires = NULL WHERE id = ? AND lease_owner = ?',
  putRun: `INSERT OR REPLACE INTO runs (${RUN_COLUMNS}, data) VALUES
      (@run_id, @job_id, @scheduled_at, @started_at, @finished_at, @status, @error, @node_id, @trigger,
       @duration_ms, @lag_ms, @lease_expires, '{}')`,
  // Only while the run's job exists (else deleteOwnRun): finishing a run that is then deleted
  // would move it between indexes for nothing.
  finishRun: `UPDATE runs SET status = @status, started_at = @started_at, finished_at = @finished_at, error = @error,
      duration_ms = @duration_ms, lag_ms = @lag_ms, lease_expires = NULL
      WHERE run_id = @run_id AND status = 'running' AND node_id = @owner
        AND EXISTS (SELECT 1 FROM jobs WHERE jobs.id = runs.job_id)`,
  deleteOwnRun: "DELETE FROM runs WHERE run_id = ? AND status = 'running' AND node_id = ?",
  deleteRun: 'DELETE FROM runs WHERE run_id = ?',
  deleteFinishedRuns: "DELETE FROM runs WHERE job_id = ? AND status <> 'running'",
  // A job's runs, and its running ones (the history's size and what of it cannot be dropped).
  countRuns: `SELECT COUNT(*) AS total, (SELECT COUNT(*) FROM runs WHERE job_id = @id AND status = 'running') AS running
      FROM runs WHERE job_id = @id`,
  // The @n oldest finished runs of a job (deleted one by one: cheaper than a DELETE ... IN (SELECT)).
  oldestFinished: `SELECT run_id FROM runs
      WHERE job_id = @id AND status <> 'running' ORDER BY scheduled_at, started_at, run_id LIMIT @n`,
  renewRun: "UPDATE runs SET lease_expires = ? WHERE run_id = ? AND status = 'running' AND node_id = ?",
  selectExpired: `SELECT ${RUN_COLUMNS} FROM runs WHERE ${EXPIRED}`,
  anyDue: `SELECT 1 FROM (SELECT id, next_run_time FROM jobs INDEXED BY jobs_list WHERE ${DUE}
      ORDER BY list_rank, next_run_time, id LIMIT @scan) AS due
      WHERE next_run_time <= @now OR NOT EXISTS (${liveRuns('1', 'due')}) LIMIT 1`,
  anyExpired: `SELECT 1 FROM runs WHERE ${EXPIRED} LIMIT 1`,
  getRuns: `SELECT ${RUN_COLUMNS} FROM runs WHERE job_id = ? ORDER BY ${HISTORY_ORDER} LIMIT ?`,
  wakeUnclaimed: `SELECT next_run_time FROM jobs INDEXED BY jobs_list
      WHERE list_rank = 0 AND (lease_expires IS NULL OR lease_expires <= @now)
      ORDER BY list_rank, next_run_time LIMIT 1`,
  // Live claims only (a handful): without the hint the planner may walk every scheduled job instead.
  wakeClaimed: `SELECT MIN(MAX(next_run_time, lease_expires)) FROM jobs INDEXED BY jobs_claims
      WHERE lease_expires > @now AND list_rank = 0`,
  wakeRuns: "SELECT MIN(lease_expires) FROM runs WHERE status = 'running'",
  pageAll: `SELECT ${JOB_COLUMNS} FROM jobs WHERE list_rank BETWEEN @lo AND @hi
      ORDER BY ${LIST_ORDER} LIMIT @limit OFFSET @offset`,
  pageFunc: `SELECT ${JOB_COLUMNS} FROM jobs WHERE func = @func AND list_rank BETWEEN @lo AND @hi
      ORDER BY ${LIST_ORDER} LIMIT @limit OFFSET @offset`,
  countAll: 'SELECT coalesce(SUM(n), 0) FROM job_counts WHERE list_rank BETWEEN @lo AND @hi',
  countFunc: 'SELECT coalesce(SUM(n), 0) FROM job_counts WHERE func = @func AND list_rank BETWEEN @lo AND @hi',
  // `q`: the jobs in either prefix range, sorted as a list: the sort
  // is over the matches only (the one statement the query-plan test lets sort).
  searchCount: `SELECT COUNT(*) FROM jobs WHERE id IN (${SEARCH_IDS}) AND list_rank BETWEEN @lo AND @hi
      AND (@func IS NULL OR func = @func)`,
  searchPage: `SELECT ${JOB_COLUMNS} FROM jobs WHERE id IN (${SEARCH_IDS}) AND list_rank BETWEEN @lo AND @hi
      AND (@func IS NULL OR func = @func) ORDER BY ${LIST_ORDER} LIMIT @limit OFFSET @offset`,
  overdue: 'SELECT id FROM jobs WHERE overdue_at < ? ORDER BY overdue_at LIMIT ?',
  getMeta: 'SELECT value FROM meta WHERE key = ?',
  // Changes when another connection commits.
  dataVersion: 'PRAGMA data_version',
  setMeta: 'INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'
} as const

/** Statements that return their single column's value. */
const PLUCKED = new Set<keyof typeof SQL>(['searchCount', 'getVersion', 'jobExists', 'oldestFinished', 'anyDue', 'anyExpired', 'wakeUnclaimed', 'wakeClaimed', 'wakeRuns', 'countAll', 'countFunc', 'overdue', 'getMeta', 'dataVersion'])

function prepareAll (db: Db): { [K in keyof typeof SQL]: Stmt } {
  const statements = {} as Record<keyof typeof SQL, Stmt>
  for (const [name, sql] of Object.entries(SQL) as Array<[keyof typeof SQL, string]>) {
    const st = db.prepare(sql)
    statements[name] = PLUCKED.has(name) ? st.pluck() : st
  }
  return statements
}

type Statements = ReturnType<typeof prepareAll>

/**
 * One SQLite file shared by every process on the host. better-sqlite3 is synchronous, so each
 * method body is atomic within the process; every write that must be atomic across processes runs
 * in one BEGIN IMMEDIATE transaction (the write lock is taken up front, so two claimers serialize
 * instead of both reading the same due rows). Every query the scheduler repeats is served by an
 * index (test/store-sqlite.test.ts checks the plans).
 */
export class SqliteStore implements JobStore {
  readonly notifiesAcrossProcesses = false
  readonly claimsAhead = true
  readonly path: string
  readonly busyTimeoutMs: number
  readonly #channelKey: string
  readonly #mine = new Set<Listener>()
  #db: Db | null = null
  #s: Statements | null = null
  #txn: BetterSqlite3.Transaction<(fn: () => unknown) => unknown> | null = null
  #opening: Promise<void> | null = null
  /** Open was asked for and close was not: a deleted or replaced file is reopened. */
  #wanted = false
  readonly #watch: FileWatch
  /** The file was deleted or replaced while open (shown by health() for a while). */
  #incident: { at: number, what: string, reopenError: string | null, deleted?: boolean } | null = null
  #log: LogSink | null = null
  /** Told when a deleted file was reopened as a new one (the scheduler upserts its boot-time jobs). */
  #reopened: (() => void) | null = null
  /** Checkpoints the WAL off the event loop, once the store has written a little. */
  readonly #checkpoints: WalCheckpointer
  #commits = 0
  /** For spreading claims over processes (see acquireDueJobs). */
  #dataVersion: number | null = null
  #othersWroteAt = -Infinity
  #fullClaimAt = -Infinity
  #presentAt = -Infinity
  /** Parsed jobs by id, with the JSON they were parsed from (see #claimedJob). */
  readonly #jobs = new Map<string, { data: string, job: JobRecord }>()
  /** Adds waiting for their group commit (see addJob). */
  #adds: Array<{ params: Record<string, unknown>, resolve: () => void, reject: (err: unknown) => void }> | null = null

  constructor ({ path, busyTimeoutMs = 5000 }: SqliteStoreOptions) {
    this.path = path
    this.busyTimeoutMs = busyTimeoutMs
    this.#channelKey = isPrivate(path) ? `${path}#${Math.random()}` : resolve(path)
    this.#watch = new FileWatch(path)
    this.#checkpoints = new WalCheckpointer(path)
  }

  /** The scheduler's logger, for the errors no caller would see (a deleted or replaced file). */
  attach ({ log, reopened }: { log: LogSink, reopened?: () => void }): void {
    this.#log = log
    if (reopened !== undefined) this.#reopened = reopened
  }

  async open (): Promise<void> {
    this.#wanted = true
    await this.#ensureOpen()
  }

  async #ensureOpen (): Promise<void> {
    if (this.#db !== null) return
    this.#opening ??= this.#open().finally(() => { this.#opening = null })
    await this.#opening
  }

  async #open (): Promise<void> {
    const Database = await loadDriver()
    let db: Db
    try {
      db = new Database(this.path, { timeout: SYNC_BUSY_MS })
    } catch (err) {
      throw isUnwritable(err) ? unwritableError(this.path, err) : err
    }
    try {
      if (!isPrivate(this.path)) {
        await setWal(db, this.busyTimeoutMs) // WAL only matters to other connections
        // Checkpoints are a worker's job (see sqlite-checkpoint.ts); this connection's is a backstop.
        db.pragma(`wal_autocheckpoint = ${BACKSTOP_PAGES}`)
      }
      db.pragma('synchronous = NORMAL')
      // Statement journals (a statement that fires a trigger or touches several rows keeps one, to
      // undo just itself) in memory rather than in a temporary file, whose writes made each job
      // deletion (it fires the job_counts trigger) cost about 35 us instead of 10.
      db.pragma('temp_store = MEMORY')
      migrate(db)
      // A file SQLite can read but not write opens fine; find out now, not at the first fire.
      db.prepare("INSERT INTO meta (key, value) VALUES ('opened_at', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(String(Date.now()))
      if (!isPrivate(this.path)) this.#watch.remember()
      this.#s = prepareAll(db)
      this.#txn = db.transaction((fn: () => unknown) => fn())
      this.#db = db
    } catch (err) {
      db.close()
      throw isUnwritable(err) && !isBusy(err) ? unwritableError(this.path, err) : err
    }
  }

  /**
   * Checks that the file at `path` is still the one this store opened (at most every 250 ms; every
   * store call does). When it was deleted or replaced, stops using the old file, logs an error,
   * and opens the file now at the path (a new, empty one if there is none), as a restarted process
   * would; health() reports it for a minute.
   */
  async verifyFile (): Promise<void> {
    if (!this.#wanted || isPrivate(this.path)) return
    if (this.#db !== null && this.#opening === null) {
      const change = await this.#watch.changed()
      if (change === null || this.#db === null) return
      const what = `the database file ${this.path} was ${change === 'deleted' ? 'deleted' : 'replaced by another file'} while in use (noticed ${new Date().toISOString()})`
      this.#incident = { at: Date.now(), what, reopenError: null, deleted: change === 'deleted' }
      this.#closeDb()
      const message = 'SqliteStore: the database file was deleted or replaced; stopped using the old file, reopening the file at the path'
      if (this.#log !== null) this.#log.error({ path: this.path, change }, message)
      else process.emitWarning(`${message}: ${what}`)
    }
    const incident = this.#incident
    if (this.#db === null && incident !== null) {
      try {
        await this.#ensureOpen()
      } catch (err) {
        incident.reopenError = (err as Error).message
        throw err
      }
      incident.reopenError = null
      this.#log?.warn({ path: this.path }, 'SqliteStore: reopened the database file at its path')
      // A new, empty file: the boot-time jobs go into it, as at a restart. A file put in its place
      // (a restored backup) is used as it is.
      if (incident.deleted === true) this.#reopened?.()
    }
  }

  /** Not ok while the file cannot be used, and for a minute after it was found deleted or replaced. */
  async health (): Promise<StoreHealth> {
    try {
      await this.verifyFile()
    } catch {
      // reported below
    }
    const incident = this.#incident
    if (incident !== null && this.#db === null) return { ok: false, reason: `${incident.what}; reopening it failed: ${incident.reopenError ?? 'not yet reopened'}` }
    if (incident !== null && Date.now() - incident.at < INCIDENT_SHOWN_MS) return { ok: false, reason: `${incident.what}; reopened the file now at the path` }
    if (this.#wanted && this.#db === null && this.#opening === null) return { ok: false, reason: `SqliteStore ${this.path} is not open` }
    return { ok: true }
  }

  #closeDb (): void {
    const db = this.#db
    this.#db = null
    this.#checkpoints.stop()
    this.#commits = 0
    this.#dataVersion = null
    this.#s = null
    this.#txn = null
    db?.close()
  }

  async close (): Promise<void> {
    this.#wanted = false
    if (this.#opening !== null) await this.#opening.catch(() => {})
    for (const listener of this.#mine) channels.get(this.#channelKey)?.delete(listener)
    this.#mine.clear()
    if (channels.get(this.#channelKey)?.size === 0) channels.delete(this.#channelKey)
    if (this.#db !== null) this.#flushAdds()
    this.#closeDb()
  }

  /**
   * Group commit: the adds made in one turn of the event loop (a burst of API requests, a
   * `Promise.all` of adds) are inserted in one transaction, at the end of the turn, rather than
   * one commit each. Each add still succeeds or fails on its own (a conflicting id fails only its add).
   */
  async addJob (job: JobRecord): Promise<void> {
    this.#st()
    const params = jobParams(job)
    await new Promise<void>((resolve, reject) => {
      if (this.#adds === null) {
        this.#adds = []
        setImmediate(() => { this.#flushAdds() })
      }
      this.#adds.push({ params, resolve, reject })
    })
    this.#emit({ type: 'job_added', jobId: job.id, nextRunTime: job.next_run_time })
  }

  /** Writes the adds waiting for their group commit; never throws (each add hears its outcome). */
  #flushAdds (): void {
    const batch = this.#adds
    if (batch === null) return
    this.#adds = null
    let inserted: boolean[]
    try {
      const s = this.#st()
      inserted = this.#tx(() => batch.map(({ params }) => s.insertJob.run(params).changes > 0))
    } catch (err) {
      // SQLITE_BUSY (each add is retried by the lock guard) or a failure: every add hears it.
      // Anything but a busy lock is tried again add by add, so one bad add does not fail the others.
      if (batch.length === 1 || isBusy(err)) {
        for (const add of batch) add.reject(err)
        return
      }
      for (const add of batch) {
        try {
          const changes = this.#st().insertJob.run(add.params).changes
          if (changes === 0) add.reject(new ConflictingIdError(add.params.id as string))
          else add.resolve()
        } catch (e) {
          add.reject(e)
        }
      }
      return
    }
    batch.forEach((add, i) => {
      if (inserted[i] === true) add.resolve()
      else add.reject(new ConflictingIdError(add.params.id as string))
    })
  }

  /** The statements, after the adds made before this call are written (so calls act in call order). */
  #ready (): Statements {
    if (this.#adds !== null) this.#flushAdds()
    return this.#st()
  }

  async getJob (id: string): Promise<JobRecord | null> {
    const row = this.#ready().getJob.get(id) as JobRow | undefined
    return row === undefined ? null : rowToJob(row)
  }

  async updateJob (job: JobRecord, expectedVersion?: number): Promise<JobRecord | null> {
    const s = this.#ready()
    const stored = this.#tx(() => {
      const version = s.getVersion.get(job.id) as number | undefined
      if (version === undefined || (expectedVersion !== undefined && version !== expectedVersion)) return null
      const next: JobRecord = { ...job, version: version + 1 }
      s.writeJob.run(jobParams(next))
      return next
    })
    if (stored === null) return null
    this.#emit({ type: 'job_modified', jobId: job.id, nextRunTime: job.next_run_time })
    return structuredClone(stored)
  }

  async removeJob (id: string): Promise<boolean> {
    const s = this.#ready()
    const removed = this.#tx(() => {
      if (s.deleteJob.run(id).changes === 0) return false
      s.deleteFinishedRuns.run(id)
      return true
    })
    if (removed) this.#emit({ type: 'job_removed', jobId: id })
    return removed
  }

  async queryJobs ({ limit = Infinity, offset = 0, state, func, q }: JobStoreQuery): Promise<JobPage> {
    const s = this.#ready()
    const [lo, hi] = state === 'paused' ? [2, 2] : state === 'scheduled' ? [0, 1] : [0, 2]
    if (q !== undefined) return this.#search(q, { lo, hi, func, limit, offset })
    const range = { lo, hi, func }
    const total = (func === undefined ? s.countAll.get(range) : s.countFunc.get(range)) as number
    if (limit <= 0 || offset >= total) return { jobs: [], total }
    const page = { ...range, limit: Number.isFinite(limit) ? limit : -1, offset }
    const rows = (func === undefined ? s.pageAll.all(page) : s.pageFunc.all(page)) as JobRow[]
    return { jobs: rows.map(rowToJob), total }
  }

  /** `q`: the union of the id and name prefix ranges, filtered, in list order, in one query. */
  #search (q: string, { lo, hi, func, limit, offset }: { lo: number, hi: number, func: string | undefined, limit: number, offset: number }): JobPage {
    const s = this.#st()
    const p = searchKey(q)
    const range = { p, next: prefixEnd(p) ?? AFTER_ALL_TEXT, lo, hi, func: func ?? null }
    const total = s.searchCount.get(range) as number
    if (limit <= 0 || offset >= total) return { jobs: [], total }
    const rows = s.searchPage.all({ ...range, limit: Number.isFinite(limit) ? limit : -1, offset }) as JobRow[]
    return { jobs: rows.map(rowToJob), total }
  }

  async overdueJobs (now: number, limit: number): Promise<string[]> {
    return this.#ready().overdue.all(now, limit) as string[]
  }

  async acquireDueJobs ({ owner, now, leaseMs, limit, dueBy = now }: { owner: string, now: number, leaseMs: number, limit: number, dueBy?: number }): Promise<AcquiredJob[]> {
    if (limit <= 0) return []
    let s = this.#ready()
    if (performance.now() - this.#presentAt > OTHERS_ACTIVE_MS / 2 && !isPrivate(this.path)) {
      // A write now and then tells the other processes on the file that this one claims too (they
      // read others' commits), also when it finds nothing to claim: so that they take turns.
      this.#presentAt = performance.now()
      this.#tx(() => s.setMeta.run('claimer_present', owner))
    }
    // A read first: in WAL it takes no lock, so idle processes sharing the file do not queue for
    // the write lock at every wakeup. The transaction below decides.
    if (s.anyDue.get({ now, dueBy, scan: scanOf(limit) }) === undefined) return []
    const version = s.dataVersion.get() as number
    if (version !== this.#dataVersion) {
      // The first reading of a connection says nothing about others.
      if (this.#dataVersion !== null) this.#othersWroteAt = performance.now()
      this.#dataVersion = version
    }
    const shared = performance.now() - this.#othersWroteAt < OTHERS_ACTIVE_MS
    if (shared && dueBy > now) limit = Math.min(limit, SHARED_AHEAD_BATCH)
    if (shared && performance.now() - this.#fullClaimAt < SHARE_PAUSE_WITHIN_MS) {
      // The claim right before took a full batch and other processes use the file: a pause lets
      // them, waiting for the lock, claim the next batch, so a wave of due jobs spreads over them.
      // Longer than their first retries (about 1 ms each), so that one of them gets in.
      await sleep(SHARE_PAUSE_MS)
      s = this.#ready()
    }
    const claimed = this.#tx(() => {
      // Of the first 2 × limit claimable jobs, those not left for their time (see selectDue).
      const rows = (s.selectDue.all({ now, dueBy, scan: scanOf(limit) }) as Array<JobRow & { id: string, lease_owner: string | null, running: number }>)
        .filter((row) => row.running === 0 || (row.next_run_time as number) <= now).slice(0, limit)
      return rows.map((row) => {
        s.setClaim.run(owner, now + leaseMs, row.id)
        return { job: this.#claimedJob(row), running: row.running, takeover: row.lease_owner !== null }
      })
    })
    this.#fullClaimAt = claimed.length === limit ? performance.now() : -Infinity
    return claimed
  }

  async releaseJobs (owner: string, releases: JobRelease[]): Promise<boolean[]> {
    if (releases.length === 0) return []
    this.#ready()
    return this.#tx(() => releases.map((release) => this.#release(owner, release)))
  }

  #release (owner: string, release: JobRelease): boolean {
    const s = this.#st()
    const id = release.id
    const fence = { id, owner, version: release.version }
    if (release.remove) {
      if (s.deleteClaimedJob.run(fence).changes === 0) return this.#dropClaim(id, owner)
      // The job's history goes with it: only its running runs are written (they hold leases).
      for (const run of release.runs) if (run.status === 'running') this.#putRun(run)
      s.deleteFinishedRuns.run(id)
      this.#jobs.delete(id)
      return true
    }
    // A version bump, so a writer that read the job before this fire cannot roll its schedule back.
    if (s.advanceJob.run({ ...fence, nrt: release.next_run_time, nft: release.next_fire_time }).changes === 0) return this.#dropClaim(id, owner)
    for (const run of release.runs) this.#putRun(run)
    this.#trim(release.runs, release.historyLimit)
    return true
  }

  /**
   * A release whose fence failed: the claim is dropped when `owner` still holds it (the job was
   * modified, paused or removed meanwhile); a claim lost to another owner is left alone.
   */
  #dropClaim (id: string, owner: string): false {
    this.#st().clearOwnClaim.run(id, owner)
    return false
  }

  async insertRuns (runs: RunRecord[], historyLimit: number): Promise<void> {
    const s = this.#ready()
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
    const s = this.#ready()
    return this.#tx(() => runIds.filter((id) => s.renewRun.run(leaseExpires, id, owner).changes > 0))
  }

  async finishRuns (owner: string, finishes: RunFinish[]): Promise<boolean[]> {
    if (finishes.length === 0) return []
    const s = this.#ready()
    return this.#tx(() => finishes.map(({ runId, result }) => {
      const { changes } = s.finishRun.run({
        run_id: runId,
        owner,
        status: result.status,
        started_at: result.started_at,
        finished_at: result.finished_at,
        error: result.error === null ? null : JSON.stringify(result.error),
        duration_ms: result.duration_ms,
        lag_ms: result.lag_ms
      })
      // Not finished: the run's job is gone (history lives with its job, so the record is
      // deleted, not finished), or the run is not this owner's running one (nothing is written).
      return changes > 0 || s.deleteOwnRun.run(runId, owner).changes > 0
    }))
  }

  async expireRuns (now: number): Promise<RunRecord[]> {
    const s = this.#ready()
    if (s.anyExpired.get(now) === undefined) return [] // a lock-free read first, as in acquireDueJobs
    return this.#tx(() => (s.selectExpired.all(now) as RunRow[]).map((row) => {
      const run: RunRecord = { ...rowToRun(row), status: 'abandoned', finished_at: now, lease_expires: null }
      if (s.jobExists.get(run.job_id) === undefined) s.deleteRun.run(run.run_id)
      else this.#putRun(run)
      return run
    }))
  }

  async getRuns (jobId: string, limit?: number): Promise<RunRecord[]> {
    const rows = this.#ready().getRuns.all(jobId, limit === undefined ? -1 : Math.max(0, limit)) as RunRow[]
    return rows.map(rowToRun)
  }

  async nextWakeTime (now: number): Promise<number | null> {
    const s = this.#ready()
    const candidates = [
      s.wakeUnclaimed.get({ now }),
      s.wakeClaimed.get({ now }),
      s.wakeRuns.get()
    ].filter((t): t is number => typeof t === 'number')
    return candidates.length === 0 ? null : Math.min(...candidates)
  }

  async getSchedulerState (): Promise<SchedulerSharedState> {
    const value = this.#ready().getMeta.get('scheduler_state') as string | undefined
    return value === undefined ? { paused: false } : { paused: (JSON.parse(value) as SchedulerSharedState).paused }
  }

  async setSchedulerState (state: SchedulerSharedState): Promise<void> {
    this.#ready().setMeta.run('scheduler_state', JSON.stringify({ paused: state.paused }))
    this.#emit({ type: 'scheduler_state', paused: state.paused })
  }

  async claimClockStep (baseAfter: number): Promise<boolean> {
    const s = this.#ready()
    return this.#tx(() => {
      const value = s.getMeta.get('clock_step_base') as string | undefined
      if (value !== undefined && Math.abs(Number(value) - baseAfter) <= SAME_CLOCK_STEP_MS) return false
      s.setMeta.run('clock_step_base', String(baseAfter))
      return true
    })
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

  /**
   * A claimed job's record. The parsed part (`data`) is kept per job, frozen, while its JSON is
   * unchanged, so a job's every fire neither parses it again nor compiles its trigger again (the
   * core keeps compiled triggers by frozen spec). Bounded: the oldest entries go first.
   */
  #claimedJob (row: JobRow & { id: string }): JobRecord {
    let entry = this.#jobs.get(row.id)
    if (entry === undefined || entry.data !== row.data) {
      const job = JSON.parse(row.data) as JobRecord
      // A date trigger fires once: nothing to keep.
      if (job.trigger.type === 'date') return withColumns(job, row)
      entry = { data: row.data, job: deepFreeze(job) }
      this.#jobs.delete(row.id)
      this.#jobs.set(row.id, entry)
      if (this.#jobs.size > PARSED_JOBS_KEPT) this.#jobs.delete(this.#jobs.keys().next().value as string)
    }
    return Object.freeze({ ...entry.job, next_run_time: row.next_run_time, next_fire_time: row.next_fire_time, version: row.version })
  }

  #st (): Statements {
    if (this.#s === null) throw new Error('SqliteStore is not open: call open() first')
    return this.#s
  }

  /** Runs `fn` in one BEGIN IMMEDIATE transaction. */
  #tx<T> (fn: () => T): T {
    if (this.#txn === null) throw new Error('SqliteStore is not open: call open() first')
    const result = this.#txn.immediate(fn) as T
    if (++this.#commits === COMMITS_BEFORE_WORKER && !isPrivate(this.path)) {
      this.#checkpoints.start((err) => { this.#log?.warn({ err, path: this.path }, 'SqliteStore: the WAL checkpoint worker failed; the store checkpoints in its own commits') })
    }
    return result
  }

  #putRun (run: RunRecord): void {
    this.#st().putRun.run({
      run_id: run.run_id,
      job_id: run.job_id,
      scheduled_at: run.scheduled_at,
      started_at: run.started_at,
      finished_at: run.finished_at,
      status: run.status,
      error: run.error === null ? null : JSON.stringify(run.error),
      node_id: run.node_id,
      trigger: run.trigger,
      duration_ms: run.duration_ms,
      lag_ms: run.lag_ms,
      lease_expires: run.lease_expires
    })
  }

  /**
   * For every job in `runs`, drops the oldest finished runs until at most `limit` runs remain.
   * Running runs count (so the history is within the limit once they finish, with no trim at
   * finish) but are never dropped.
   */
  #trim (runs: RunRecord[], limit: number): void {
    if (!Number.isFinite(limit) || runs.length === 0) return
    const s = this.#st()
    const jobIds = runs.length === 1 ? [(runs[0] as RunRecord).job_id] : new Set(runs.map((r) => r.job_id))
    for (const jobId of jobIds) {
      // Counted from the index first: most fires have nothing to drop, and a DELETE that drops
      // nothing still cost 13 us.
      const { total, running } = s.countRuns.get({ id: jobId }) as { total: number, running: number }
      const excess = (total - running) - Math.max(0, Math.floor(limit) - running)
      if (excess > 0) for (const runId of s.oldestFinished.all({ id: jobId, n: excess }) as string[]) s.deleteRun.run(runId)
    }
  }
}

/**
 * The least string greater than every string that starts with `prefix`, in SQLite's BINARY order
 * (UTF-8 bytes, which is code point order): the prefix with its last code point incremented.
 * Null when there is none (an empty prefix, or one of U+10FFFF only).
 */
export function prefixEnd (prefix: string): string | null {
  const points = [...prefix].map((c) => c.codePointAt(0) as number)
  while (points.length > 0) {
    let last = (points.pop() as number) + 1
    if (last === 0xD800) last = 0xE000 // skip the surrogate range, which UTF-8 cannot hold
    if (last <= 0x10FFFF) return String.fromCodePoint(...points, last)
  }
  return null
}

function jobParams (job: JobRecord): Record<string, unknown> {
  return {
    id: job.id,
    next_run_time: job.next_run_time,
    next_fire_time: job.next_fire_time,
    paused: job.paused ? 1 : 0,
    version: job.version,
    data: JSON.stringify(job),
    ...jobColumns(job)
  }
}

/** The schedule columns are authoritative (a fire writes only them); `data` holds the rest. */
function rowToJob (row: JobRow): JobRecord {
  return withColumns(JSON.parse(row.data) as JobRecord, row)
}

function withColumns (job: JobRecord, row: JobRow): JobRecord {
  job.next_run_time = row.next_run_time
  job.next_fire_time = row.next_fire_time
  job.version = row.version
  return job
}

function deepFreeze<T> (value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const child of Object.values(value)) deepFreeze(child)
  }
  return value
}

function rowToRun (row: RunRow): RunRecord {
  return {
    run_id: row.run_id,
    job_id: row.job_id,
    scheduled_at: row.scheduled_at,
    started_at: row.started_at,
    finished_at: row.finished_at,
    status: row.status,
    error: row.error === null ? null : JSON.parse(row.error) as RunRecord['error'],
    node_id: row.node_id,
    trigger: row.trigger,
    duration_ms: row.duration_ms,
    lag_ms: row.lag_ms,
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
    for (let v = current; v < MIGRATIONS.length; v++) {
      const step = MIGRATIONS[v] as string | ((db: Db) => void)
      if (typeof step === 'string') db.exec(step)
      else step(db)
    }
    if (current < MIGRATIONS.length) db.pragma(`user_version = ${MIGRATIONS.length}`)
  }).immediate()
}

// Another process's lock is waited for asynchronously, never by blocking the event loop.
// Every call first checks that the file at the path is still the one opened.
guardLockedCalls(SqliteStore.prototype, {
  except: ['close', 'subscribe', 'attach', 'verifyFile', 'health'],
  before: async (store) => { await (store as SqliteStore).verifyFile() },
  reads: ['getJob', 'getJobs', 'queryJobs', 'overdueJobs', 'getRuns', 'nextWakeTime', 'getSchedulerState', 'health']
})
