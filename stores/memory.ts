import sortedBtree from 'sorted-btree'
import { ConflictingIdError } from '../src/errors.js'
import {
  listRank, overdueAt, searchKey, SAME_CLOCK_STEP_MS,
  type AcquiredJob, type JobPage, type JobRelease, type JobStore, type JobStoreQuery, type RunFinish,
  type SchedulerSharedState, type StoreChange
} from '../src/store.js'
import type { JobRecord, RunRecord } from '../src/types.js'

/**
 * One job and the keys it is indexed under. The keys are copied from the record when it is
 * indexed: a key object must leave every tree before its keys change.
 */
interface StoredJob {
  /** Never mutated once stored (replaced whole), so claims can hand it out without a copy. */
  job: JobRecord
  leaseOwner: string | null
  leaseExpires: number | null
  /**
   * List order: listRank, then next_run_time (none first), then id. These keys (and overdueAt)
   * are the ones the list and overdue trees hold the job under; after a fire they lag behind the
   * record until the next read of those trees (see MemoryStore.#stale).
   */
  rank: 0 | 1 | 2
  listAt: number
  overdueAt: number | null
  /** Its key in the claim index (next_run_time) while unclaimed, unpaused and scheduled; else null. */
  dueAt: number | null
  /** Removed from the store: it waits in #stale to leave the list and search trees. */
  removed: boolean
  idKey: string
  nameKey: string
}

/** A job's runs, oldest first (the order history is trimmed in), plus its running ones (few). */
interface History {
  runs: RunRecord[]
  running: RunRecord[]
}

// sorted-btree is CommonJS with a `default` export: under Node's ESM the class is `.default`.
const BTree = sortedBtree.default
type BTree<K, V> = sortedBtree.default<K, V>

type Counts = [number, number, number]
type Probe = Pick<StoredJob, 'rank' | 'listAt'> & { job: { id: string } }

const byId = (a: string, b: string): number => a < b ? -1 : a > b ? 1 : 0
const listOrder = (a: StoredJob | Probe, b: StoredJob | Probe): number =>
  a.rank - b.rank || a.listAt - b.listAt || byId(a.job.id, b.job.id)
const dueOrder = (a: StoredJob, b: StoredJob): number =>
  (a.dueAt as number) - (b.dueAt as number) || byId(a.job.id, b.job.id)
const byNextRun = (a: StoredJob, b: StoredJob): number =>
  (a.job.next_run_time as number) - (b.job.next_run_time as number) || byId(a.job.id, b.job.id)
const overdueOrder = (a: StoredJob, b: StoredJob): number =>
  (a.overdueAt as number) - (b.overdueAt as number) || byId(a.job.id, b.job.id)
const idKeyOrder = (a: StoredJob, b: StoredJob): number => byId(a.idKey, b.idKey) || byId(a.job.id, b.job.id)
const nameKeyOrder = (a: StoredJob, b: StoredJob): number => byId(a.nameKey, b.nameKey) || byId(a.job.id, b.job.id)

/**
 * Keeps everything in this process, indexed by B+ trees (sorted-btree) so that claims, the next
 * wakeup, job pages and the overdue list cost O(log n + what they return), not a scan.
 * Several schedulers may share one instance (workers simulated in one process): every method does
 * its whole read-modify-write without awaiting, so each call is atomic with respect to the others.
 */
export class MemoryStore implements JobStore {
  readonly notifiesAcrossProcesses = false
  readonly claimsAhead = true
  readonly #jobs = new Map<string, StoredJob>()
  /** Every job in list order, and the same per task name (the `func` filter). */
  readonly #list = new BTree<StoredJob, undefined>(undefined, listOrder)
  readonly #listByFunc = new Map<string, { tree: BTree<StoredJob, undefined>, counts: Counts }>()
  readonly #counts: Counts = [0, 0, 0]
  /** Unclaimed, unpaused jobs with a next run, by next_run_time. */
  readonly #due = new BTree<StoredJob, undefined>(undefined, dueOrder)
  /**
   * Claimed jobs by claim expiry: the jobs of one claim share one instant, so a claim and its
   * release cost a set operation each, not a move in a large tree.
   */
  readonly #claims = new BTree<number, Set<StoredJob>>()
  readonly #overdue = new BTree<StoredJob, undefined>(undefined, overdueOrder)
  /** Search keys of `q`. */
  readonly #byIdKey = new BTree<StoredJob, undefined>(undefined, idKeyOrder)
  readonly #byNameKey = new BTree<StoredJob, undefined>(undefined, nameKeyOrder)

  /**
   * Histories that had a running run since they were last looked at: running runs are found
   * through their job (a finish names it) or by walking these (renewals, expiry: every few
   * seconds), not through an index by run id, which thousands of fires a second would fill and
   * empty (and reallocate) every second. Histories found without a running run are dropped then.
   */
  readonly #withRunning = new Set<History>()
  /**
   * How many running runs hold a lease expiring at each instant. Counts, not the runs: the runs of
   * a wakeup share one instant, and a set of thousands of runs made and emptied every second
   * would be garbage every second. The runs themselves are looked for only when one lapses (rare).
   */
  readonly #leases = new BTree<number, number>()
  readonly #history = new Map<string, History>()
  readonly #listeners = new Set<(change: StoreChange) => void>()
  /**
   * Jobs that fired since the list and overdue trees were last read: their keys there are
   * re-computed on the next read, not at every fire. A job firing every second between two
   * reads of the list moves in it once, not once a second. Removed jobs (one-shots that fired)
   * leave those trees the same way. Every write through the API reads them first, so what waits
   * here is never more than the jobs that existed at the last such write.
   */
  readonly #stale = new Set<StoredJob>()
  #state: SchedulerSharedState = { paused: false }
  /** The wall − monotonic offset the last wall-clock step left (see claimClockStep). */
  #clockStepBase: number | null = null

  async open (): Promise<void> {}
  async close (): Promise<void> {}

  async addJob (job: JobRecord): Promise<void> {
    if (this.#jobs.has(job.id)) throw new ConflictingIdError(job.id)
    this.#refreshStale()
    // Every field given here, so the object holds them all in place (no separate property store).
    const stored: StoredJob = {
      job: frozenCopy(job), leaseOwner: null, leaseExpires: null, rank: 0, listAt: 0, overdueAt: null, dueAt: null, removed: false, idKey: '', nameKey: ''
    }
    this.#jobs.set(job.id, stored)
    this.#index(stored)
    this.#emit({ type: 'job_added', jobId: job.id, nextRunTime: job.next_run_time })
  }

  async getJob (id: string): Promise<JobRecord | null> {
    const stored = this.#jobs.get(id)
    return stored === undefined ? null : structuredClone(stored.job)
  }

  async updateJob (job: JobRecord, expectedVersion?: number): Promise<JobRecord | null> {
    const stored = this.#jobs.get(job.id)
    if (stored === undefined) return null
    if (expectedVersion !== undefined && stored.job.version !== expectedVersion) return null
    this.#refreshStale()
    // The claim survives: its holder notices the version change at release.
    this.#unindex(stored)
    stored.job = frozenCopy({ ...job, version: stored.job.version + 1 })
    this.#index(stored)
    this.#emit({ type: 'job_modified', jobId: job.id, nextRunTime: stored.job.next_run_time })
    return structuredClone(stored.job)
  }

  async removeJob (id: string): Promise<boolean> {
    this.#refreshStale()
    if (!this.#deleteJob(id)) return false
    this.#emit({ type: 'job_removed', jobId: id })
    return true
  }

  async queryJobs ({ limit = Infinity, offset = 0, state, func, q }: JobStoreQuery): Promise<JobPage> {
    this.#refreshStale()
    const scope = func === undefined ? { tree: this.#list, counts: this.#counts } : this.#listByFunc.get(func)
    if (scope === undefined) return { jobs: [], total: 0 }
    const [lo, hi] = state === 'paused' ? [2, 2] : state === 'scheduled' ? [0, 1] : [0, 2]
    if (q !== undefined) return this.#search(q, { lo, hi, func, limit, offset })
    let total = 0
    for (let r = lo; r <= hi; r++) total += scope.counts[r] as number
    const jobs: JobRecord[] = []
    if (limit > 0 && offset < total) {
      const probe: Probe = { rank: lo as 0 | 1 | 2, listAt: -Infinity, job: { id: '' } }
      let skip = offset
      for (const stored of scope.tree.keys(probe as StoredJob)) {
        if (stored.rank > hi || jobs.length >= limit) break
        if (skip > 0) { skip--; continue }
        jobs.push(stored.job)
      }
    }
    return { jobs, total }
  }

  /** `q`: the union of the id and name prefix ranges, filtered, in list order. */
  #search (q: string, { lo, hi, func, limit, offset }: { lo: number, hi: number, func: string | undefined, limit: number, offset: number }): JobPage {
    const key = searchKey(q)
    const found = new Set<StoredJob>()
    for (const [tree, field] of [[this.#byIdKey, 'idKey'], [this.#byNameKey, 'nameKey']] as const) {
      const probe = { idKey: key, nameKey: key, job: { id: '' } } as unknown as StoredJob
      for (const stored of tree.keys(probe)) {
        if (!stored[field].startsWith(key)) break
        if (stored.rank >= lo && stored.rank <= hi && (func === undefined || stored.job.func === func)) found.add(stored)
      }
    }
    const matches = [...found].sort(listOrder)
    return { jobs: matches.slice(offset, offset + limit).map((s) => s.job), total: matches.length }
  }

  async overdueJobs (now: number, limit: number): Promise<string[]> {
    this.#refreshStale()
    const out: string[] = []
    for (const stored of this.#overdue.keys()) {
      if (out.length >= limit || (stored.overdueAt as number) >= now) break
      out.push(stored.job.id)
    }
    return out
  }

  async acquireDueJobs ({ owner, now, leaseMs, limit, dueBy = now }: { owner: string, now: number, leaseMs: number, limit: number, dueBy?: number }): Promise<AcquiredJob[]> {
    let claimed: StoredJob[] = []
    const lapsed = this.#lapsedClaims(now)
    let skipped = 0
    // Collected first: claiming moves the job out of the tree being walked.
    for (const stored of this.#due.keys()) {
      if (claimed.length >= limit || (stored.dueAt as number) > dueBy) break
      // Ahead of its time, a job with a live run is left for its time: max_instances counts the
      // runs live when it is due, not those about to finish. At most 2 × limit jobs are looked
      // at, so those left over are not walked again and again.
      if ((stored.dueAt as number) > now && this.#liveRunning(stored.job.id, now) > 0) {
        if (claimed.length + ++skipped >= 2 * limit) break
        continue
      }
      claimed.push(stored)
    }
    if (lapsed.length > 0) {
      // Due jobs whose holder stopped renewing its claim: taken over, in next_run_time order with the rest.
      claimed = [...lapsed, ...claimed].sort(byNextRun).slice(0, limit)
    }
    const acquired: AcquiredJob[] = new Array(claimed.length)
    const expires = now + leaseMs
    for (let i = 0; i < claimed.length; i++) {
      const stored = claimed[i] as StoredJob
      const takeover = stored.leaseOwner !== null
      this.#unindexDue(stored)
      stored.leaseOwner = owner
      stored.leaseExpires = expires
      this.#indexDue(stored)
      acquired[i] = { job: stored.job, running: this.#liveRunning(stored.job.id, now), takeover }
    }
    return acquired
  }

  async releaseJobs (owner: string, releases: JobRelease[]): Promise<boolean[]> {
    return releases.map((release) => this.#release(owner, release))
  }

  #release (owner: string, release: JobRelease): boolean {
    const id = release.id
    const stored = this.#jobs.get(id)
    if (stored === undefined || stored.leaseOwner !== owner) return false
    const unchanged = stored.job.version === release.version
    if (unchanged && release.remove) {
      for (const run of release.runs) this.#putRun(run)
      this.#deleteJob(id)
      this.#trim(id, release.historyLimit)
      return true
    }
    this.#unindexDue(stored)
    stored.leaseOwner = null
    stored.leaseExpires = null
    if (unchanged) {
      for (const run of release.runs) this.#putRun(run)
      // A version bump, so a writer that read the job before this fire cannot roll its schedule back.
      stored.job = Object.freeze({ ...stored.job, next_run_time: release.next_run_time, next_fire_time: release.next_fire_time, version: stored.job.version + 1 })
      this.#stale.add(stored)
    }
    this.#indexDue(stored)
    if (unchanged) this.#trim(id, release.historyLimit)
    return unchanged
  }

  async insertRuns (runs: RunRecord[], historyLimit: number): Promise<void> {
    for (const run of runs) {
      // History lives with its job: a finished run of a missing job would never be cleaned up.
      if (run.status !== 'running' && !this.#jobs.has(run.job_id)) continue
      // A run id already stored is replaced (searched in its job's history: manual runs are rare).
      const previous = this.#history.get(run.job_id)?.runs.find((r) => r.run_id === run.run_id)
      if (previous !== undefined) this.#dropRun(previous)
      this.#putRun(structuredClone(run))
    }
    for (const jobId of new Set(runs.map((r) => r.job_id))) this.#trim(jobId, historyLimit)
  }

  async renewRunLeases (owner: string, runIds: string[], leaseExpires: number): Promise<string[]> {
    const held: string[] = []
    if (runIds.length === 0) return held
    const running = new Map<string, RunRecord>()
    for (const run of this.#runningRuns()) running.set(run.run_id, run)
    for (const id of runIds) {
      const run = running.get(id)
      if (run === undefined || run.node_id !== owner) continue
      this.#unlease(run)
      run.lease_expires = leaseExpires
      this.#lease(run)
      held.push(id)
    }
    return held
  }

  async finishRuns (owner: string, finishes: RunFinish[]): Promise<boolean[]> {
    const written: boolean[] = new Array(finishes.length)
    for (let i = 0; i < finishes.length; i++) {
      const { runId, jobId, result } = finishes[i] as RunFinish
      const run = this.#findRunning(runId, jobId)
      if (run === undefined || run.node_id !== owner) { written[i] = false; continue }
      written[i] = true
      if (!this.#jobs.has(run.job_id)) { this.#dropRun(run); continue }
      this.#unlease(run)
      const history = this.#history.get(run.job_id) as History
      removeItem(history.running, run)
      const moved = run.started_at !== result.started_at
      run.status = result.status
      run.started_at = result.started_at
      run.finished_at = result.finished_at
      run.error = result.error === null ? null : structuredClone(result.error)
      run.duration_ms = result.duration_ms
      run.lag_ms = result.lag_ms
      run.lease_expires = null
      // Its place in the history order changes only if started_at moved past a neighbour's.
      if (moved) this.#reorder(history.runs, run)
    }
    return written
  }

  async expireRuns (now: number): Promise<RunRecord[]> {
    const first = this.#leases.minKey()
    if (first === undefined || first > now) return []
    const lapsed: RunRecord[] = []
    for (const run of this.#runningRuns()) {
      if (run.lease_expires !== null && run.lease_expires <= now) lapsed.push(run)
    }
    // By lease expiry (stable: in the order they started within one instant).
    lapsed.sort((a, b) => (a.lease_expires as number) - (b.lease_expires as number))
    return lapsed.map((run) => {
      this.#unlease(run)
      const history = this.#history.get(run.job_id)
      if (history !== undefined) removeItem(history.running, run)
      run.status = 'abandoned'
      run.finished_at = now
      run.lease_expires = null
      if (!this.#jobs.has(run.job_id)) this.#dropRun(run)
      return structuredClone(run)
    })
  }

  async getRuns (jobId: string, limit?: number): Promise<RunRecord[]> {
    const runs = this.#history.get(jobId)?.runs ?? []
    const count = limit === undefined ? runs.length : Math.max(0, Math.min(limit, runs.length))
    const out: RunRecord[] = []
    for (let i = runs.length - 1; out.length < count; i--) out.push(structuredClone(runs[i] as RunRecord))
    return out
  }

  async nextWakeTime (): Promise<number | null> {
    // A live claim blocks its job until it expires: then it is looked at again.
    let at = this.#due.minKey()?.dueAt ?? null
    for (const t of [this.#claims.minKey(), this.#leases.minKey()]) {
      if (t !== undefined && (at === null || t < at)) at = t
    }
    return at
  }

  /**
   * Claims that lapsed by `now`: the due ones are returned to be taken over; the others are
   * dropped, so their jobs wait for their next run time in the claim index again.
   */
  #lapsedClaims (now: number): StoredJob[] {
    const first = this.#claims.minKey()
    if (first === undefined || first > now) return []
    const lapsed: StoredJob[] = []
    for (const [at, jobs] of this.#claims.entries()) {
      if (at > now) break
      lapsed.push(...jobs)
    }
    const due: StoredJob[] = []
    for (const stored of lapsed) {
      const { job } = stored
      if (!job.paused && job.next_run_time !== null && job.next_run_time <= now) {
        due.push(stored)
      } else {
        this.#unindexDue(stored)
        stored.leaseOwner = null
        stored.leaseExpires = null
        this.#indexDue(stored)
      }
    }
    return due
  }

  async getSchedulerState (): Promise<SchedulerSharedState> {
    return { ...this.#state }
  }

  async setSchedulerState (state: SchedulerSharedState): Promise<void> {
    this.#state = { paused: state.paused }
    this.#emit({ type: 'scheduler_state', paused: state.paused })
  }

  async claimClockStep (baseAfter: number): Promise<boolean> {
    if (this.#clockStepBase !== null && Math.abs(this.#clockStepBase - baseAfter) <= SAME_CLOCK_STEP_MS) return false
    this.#clockStepBase = baseAfter
    return true
  }

  subscribe (listener: (change: StoreChange) => void): () => void {
    // Wrapped so the same function subscribed twice gets two independent subscriptions.
    const entry = (change: StoreChange): void => listener(change)
    this.#listeners.add(entry)
    return () => { this.#listeners.delete(entry) }
  }

  #emit (change: StoreChange): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(change)
      } catch {
        // A listener's failure must not turn a committed write into a rejected call.
      }
    }
  }

  /** Computes the job's keys from its record and its claim, and enters it in every index. */
  #index (stored: StoredJob): void {
    stored.idKey = searchKey(stored.job.id)
    stored.nameKey = searchKey(stored.job.name)
    this.#byIdKey.set(stored, undefined)
    this.#byNameKey.set(stored, undefined)
    this.#indexSchedule(stored)
  }

  #unindex (stored: StoredJob): void {
    this.#byIdKey.delete(stored)
    this.#byNameKey.delete(stored)
    this.#unindexSchedule(stored)
  }

  /** The indexes whose keys move when the job fires, is claimed or is paused. */
  #indexSchedule (stored: StoredJob): void {
    this.#indexDue(stored)
    this.#indexList(stored)
  }

  #unindexSchedule (stored: StoredJob): void {
    this.#unindexDue(stored)
    this.#unindexList(stored)
  }

  /** The claim index (or the claims, while claimed): moved at every claim and fire. */
  #indexDue (stored: StoredJob): void {
    const { job } = stored
    if (stored.leaseExpires !== null) {
      stored.dueAt = null
      const jobs = this.#claims.get(stored.leaseExpires)
      if (jobs === undefined) this.#claims.set(stored.leaseExpires, new Set([stored]))
      else jobs.add(stored)
      return
    }
    stored.dueAt = job.paused ? null : job.next_run_time
    if (stored.dueAt !== null) this.#due.set(stored, undefined)
  }

  #unindexDue (stored: StoredJob): void {
    if (stored.leaseExpires !== null) {
      const jobs = this.#claims.get(stored.leaseExpires)
      if (jobs?.delete(stored) === true && jobs.size === 0) this.#claims.delete(stored.leaseExpires)
    } else if (stored.dueAt !== null) {
      this.#due.delete(stored)
    }
  }

  /** The list and overdue indexes, read by the API: brought up to date when read (#refreshStale). */
  #indexList (stored: StoredJob): void {
    const { job } = stored
    this.#stale.delete(stored)
    stored.rank = listRank(job)
    stored.listAt = job.next_run_time ?? -Infinity
    stored.overdueAt = overdueAt(job)
    this.#list.set(stored, undefined)
    let scope = this.#listByFunc.get(job.func)
    if (scope === undefined) {
      scope = { tree: new BTree<StoredJob, undefined>(undefined, listOrder), counts: [0, 0, 0] }
      this.#listByFunc.set(job.func, scope)
    }
    scope.tree.set(stored, undefined)
    scope.counts[stored.rank]++
    this.#counts[stored.rank]++
    if (stored.overdueAt !== null) this.#overdue.set(stored, undefined)
  }

  /** Takes the job out under the keys the trees hold it by (which may lag behind its record). */
  #unindexList (stored: StoredJob): void {
    this.#stale.delete(stored)
    this.#list.delete(stored)
    const scope = this.#listByFunc.get(stored.job.func)
    if (scope !== undefined) {
      scope.tree.delete(stored)
      scope.counts[stored.rank]--
      if (scope.tree.size === 0) this.#listByFunc.delete(stored.job.func)
    }
    this.#counts[stored.rank]--
    if (stored.overdueAt !== null) this.#overdue.delete(stored)
  }

  /** Re-keys the jobs that fired since the list and overdue trees were last read; drops removed ones. */
  #refreshStale (): void {
    for (const stored of this.#stale) {
      this.#unindexList(stored)
      if (stored.removed) {
        this.#byIdKey.delete(stored)
        this.#byNameKey.delete(stored)
      } else {
        this.#indexList(stored)
      }
    }
  }

  /** Deletes a job now from the claim index, later (#refreshStale) from the list and search trees. */
  #deleteJob (id: string): boolean {
    const stored = this.#jobs.get(id)
    if (stored === undefined) return false
    this.#unindexDue(stored)
    stored.removed = true
    this.#stale.add(stored)
    this.#jobs.delete(id)
    const history = this.#history.get(id)
    if (history === undefined) return true
    history.runs = history.runs.filter((run) => run.status === 'running')
    if (history.runs.length === 0) this.#history.delete(id)
    return true
  }

  #liveRunning (jobId: string, now: number): number {
    const running = this.#history.get(jobId)?.running
    if (running === undefined) return 0
    let count = 0
    for (const run of running) {
      if (run.lease_expires === null || run.lease_expires > now) count++
    }
    return count
  }

  /** A running run by id: through its job when the caller named it, else by walking the histories with running runs. */
  #findRunning (runId: string, jobId: string | undefined): RunRecord | undefined {
    if (jobId !== undefined) {
      const running = this.#history.get(jobId)?.running
      if (running === undefined) return undefined
      for (const run of running) if (run.run_id === runId) return run
      return undefined
    }
    for (const run of this.#runningRuns()) if (run.run_id === runId) return run
    return undefined
  }

  /** Every running run (a snapshot), dropping the histories that have none left. */
  #runningRuns (): RunRecord[] {
    const out: RunRecord[] = []
    for (const history of this.#withRunning) {
      if (history.running.length === 0) this.#withRunning.delete(history)
      else out.push(...history.running)
    }
    return out
  }

  #lease (run: RunRecord): void {
    if (run.lease_expires === null) return
    this.#leases.set(run.lease_expires, (this.#leases.get(run.lease_expires) ?? 0) + 1)
  }

  #unlease (run: RunRecord): void {
    if (run.lease_expires === null) return
    const count = this.#leases.get(run.lease_expires)
    if (count === undefined) return
    if (count > 1) this.#leases.set(run.lease_expires, count - 1)
    else this.#leases.delete(run.lease_expires)
  }

  /** Stores a run in its job's history order (a new one: the claim cycle's runs never exist yet). */
  #putRun (run: RunRecord): void {
    let history = this.#history.get(run.job_id)
    if (history === undefined) {
      history = { runs: [], running: [] }
      this.#history.set(run.job_id, history)
    }
    const { runs } = history
    let i = runs.length // runs mostly arrive in order: search back from the end
    while (i > 0 && compareRuns(runs[i - 1] as RunRecord, run) > 0) i--
    if (i === runs.length) runs.push(run)
    else runs.splice(i, 0, run)
    if (run.status === 'running') {
      history.running.push(run)
      this.#withRunning.add(history)
      this.#lease(run)
    }
  }

  /** Moves a run whose sort key changed to its place in a history (mostly: it stays). */
  #reorder (runs: RunRecord[], run: RunRecord): void {
    const i = runs.lastIndexOf(run)
    const before = runs[i - 1]
    const after = runs[i + 1]
    if ((before === undefined || compareRuns(before, run) <= 0) && (after === undefined || compareRuns(run, after) <= 0)) return
    runs.splice(i, 1)
    let j = runs.length
    while (j > 0 && compareRuns(runs[j - 1] as RunRecord, run) > 0) j--
    runs.splice(j, 0, run)
  }

  #dropRun (run: RunRecord): void {
    const history = this.#history.get(run.job_id)
    if (history === undefined) return
    if (removeItem(history.running, run)) this.#unlease(run)
    const i = history.runs.lastIndexOf(run)
    if (i >= 0) history.runs.splice(i, 1)
    if (history.runs.length === 0) this.#history.delete(run.job_id)
  }

  /**
   * Drops the oldest finished runs until at most `limit` runs remain. Running runs count (so the
   * history is within the limit once they finish, with no trim at finish) but are never dropped.
   */
  #trim (jobId: string, limit: number): void {
    const history = this.#history.get(jobId)
    if (history === undefined) return
    let excess = history.runs.length - Math.max(0, limit)
    if (excess <= 0) return
    const { runs } = history
    if (excess === 1 && runs[0]?.status !== 'running') {
      // The usual case: one run over, and the oldest has finished.
      runs.shift()
      return
    }
    const keep: RunRecord[] = []
    let i = 0
    for (; excess > 0 && i < runs.length; i++) {
      const run = runs[i] as RunRecord
      if (run.status === 'running') keep.push(run)
      else excess--
    }
    runs.splice(0, i, ...keep)
    if (runs.length === 0) this.#history.delete(jobId)
  }
}

/** Removes an item from an unordered list (no splice: it would allocate the removed part); false when absent. */
function removeItem<T> (items: T[], item: T): boolean {
  const i = items.indexOf(item)
  if (i < 0) return false
  items[i] = items[items.length - 1] as T
  items.pop()
  return true
}

/**
 * A deep copy, deeply frozen: claims hand the stored record out without copying it per fire.
 * The copy's strings are then swapped for the original's (equal and immutable): structuredClone
 * duplicates every string, which for a job record is about a fifth of its size.
 */
function frozenCopy (job: JobRecord): JobRecord {
  return deepFreeze(shareStrings(structuredClone(job), job))
}

function shareStrings<T> (copy: T, original: T): T {
  for (const key in copy) {
    const value = original[key]
    if (typeof value === 'string') copy[key] = value
    else if (value !== null && typeof value === 'object') copy[key] = isEmpty(value) ? (Array.isArray(value) ? NO_ITEMS : NO_FIELDS) as T[typeof key] : shareStrings(copy[key], value)
  }
  return copy
}

/** Shared (frozen) empty lists and objects: most jobs have no kwargs, many no args. */
const NO_ITEMS = Object.freeze([])
const NO_FIELDS = Object.freeze({})

function isEmpty (value: object): boolean {
  for (const _ in value) return false
  return true
}

function deepFreeze<T> (value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const child of Object.values(value)) deepFreeze(child)
  }
  return value
}

/** Oldest first: scheduled_at, then started_at (null first), then run_id. */
function compareRuns (a: RunRecord, b: RunRecord): number {
  if (a.scheduled_at !== b.scheduled_at) return a.scheduled_at - b.scheduled_at
  if (a.started_at !== b.started_at) {
    if (a.started_at === null) return -1
    if (b.started_at === null) return 1
    return a.started_at - b.started_at
  }
  return a.run_id < b.run_id ? -1 : a.run_id > b.run_id ? 1 : 0
}
