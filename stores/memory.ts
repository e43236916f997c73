import sortedBtree from 'sorted-btree'
import { ConflictingIdError } from '../src/errors.js'
import {
  listRank, overdueAt, searchKey, SAME_CLOCK_STEP_MS,
  type AcquiredJob, type JobPage, type JobRelease, type JobStore, type JobStoreQuery, type RunFinish,
  type RunResult, type SchedulerSharedState, type StoreChange
} from '../src/store.js'
import type { JobRecord, RunRecord, RunStatus } from '../src/types.js'

/**
 * One job and the keys it is indexed under. The keys are copied from the record when it is
 * indexed: a key object must leave every tree before its keys change.
 */
interface StoredJob {
  /** Never mutated once stored (replaced whole), so claims can hand it out without a copy. */
  job: JobRecord
  /** The record has the usual fields in the usual order (see afterFire). */
  usual: boolean
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
  readonly #withRunning = new Set<JobHistory>()
  /**
   * How many running runs hold a lease expiring at each instant. Counts, not the runs: the runs of
   * a wakeup share one instant, and a set of thousands of runs made and emptied every second
   * would be garbage every second. The runs themselves are looked for only when one lapses (rare).
   */
  readonly #leases = new BTree<number, number>()
  readonly #history = new Map<string, JobHistory>()
  readonly #finished = new FinishedRuns()
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
      job: frozenCopy(job), usual: false, leaseOwner: null, leaseExpires: null, rank: 0, listAt: 0, overdueAt: null, dueAt: null, removed: false, idKey: '', nameKey: ''
    }
    stored.usual = hasUsualFields(stored.job)
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
    stored.usual = hasUsualFields(stored.job)
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
      stored.job = afterFire(stored, release.next_run_time, release.next_fire_time)
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
      this.#dropRunById(run.job_id, run.run_id)
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
      this.#unlease(run)
      const history = this.#history.get(run.job_id) as JobHistory
      removeItem(history.running, run)
      // History lives with its job: the finished run of a removed job is not kept.
      if (this.#jobs.has(run.job_id)) this.#finished.add(history, run, result)
      else if (history.size === 0) this.#history.delete(run.job_id)
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
      const history = this.#history.get(run.job_id) as JobHistory
      removeItem(history.running, run)
      const abandoned: RunRecord = { ...run, status: 'abandoned', finished_at: now, lease_expires: null }
      if (this.#jobs.has(run.job_id)) this.#finished.add(history, abandoned)
      else if (history.size === 0) this.#history.delete(run.job_id)
      return structuredClone(abandoned)
    })
  }

  async getRuns (jobId: string, limit?: number): Promise<RunRecord[]> {
    const history = this.#history.get(jobId)
    return history === undefined ? [] : this.#finished.newestFirst(history, limit)
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
    this.#finished.clear(history)
    if (history.size === 0) this.#history.delete(id)
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

  /** Stores a run in its job's history (a new one: the claim cycle's runs never exist yet). */
  #putRun (run: RunRecord): void {
    let history = this.#history.get(run.job_id)
    if (history === undefined) {
      history = new JobHistory(run.job_id)
      this.#history.set(run.job_id, history)
    }
    if (run.status !== 'running') {
      this.#finished.add(history, run)
      return
    }
    history.running.push(run)
    this.#withRunning.add(history)
    this.#lease(run)
  }

  /** Drops a running run (its lease too). */
  #dropRun (run: RunRecord): void {
    const history = this.#history.get(run.job_id)
    if (history === undefined) return
    if (removeItem(history.running, run)) this.#unlease(run)
    if (history.size === 0) this.#history.delete(run.job_id)
  }

  #dropRunById (jobId: string, runId: string): void {
    const history = this.#history.get(jobId)
    if (history === undefined) return
    const running = history.running.find((run) => run.run_id === runId)
    if (running !== undefined) this.#dropRun(running)
    else if (this.#finished.remove(history, runId) && history.size === 0) this.#history.delete(jobId)
  }

  /**
   * Drops the oldest finished runs until at most `limit` runs remain. Running runs count (so the
   * history is within the limit once they finish, with no trim at finish) but are never dropped.
   */
  #trim (jobId: string, limit: number): void {
    const history = this.#history.get(jobId)
    if (history === undefined) return
    const excess = history.size - Math.max(0, limit)
    if (excess <= 0) return
    this.#finished.dropOldest(history, Math.min(excess, history.finishedCount))
    if (history.size === 0) this.#history.delete(jobId)
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

/** The fields of a job record as normalizeJob writes them, in its order. */
const USUAL_FIELDS = [
  'id', 'name', 'func', 'args', 'kwargs', 'trigger', 'executor', 'misfire_grace_time', 'coalesce', 'max_instances', 'timeout',
  'next_run_time', 'next_fire_time', 'paused', 'paused_reason', 'source', 'config_hash', 'version', 'created_at', 'updated_at'
]

function hasUsualFields (job: JobRecord): boolean {
  const keys = Object.keys(job)
  return keys.length === USUAL_FIELDS.length && keys.every((key, i) => key === USUAL_FIELDS[i])
}

/**
 * The job's record after a fire: a new frozen record (claims handed the old one out), with its
 * next run and a new version. Written as one literal when the record has the usual fields: a
 * spread of a frozen record adds its fields one at a time, growing the object's property store
 * again and again (about 800 bytes allocated per fire, against 250 for the literal).
 */
function afterFire ({ job, usual }: StoredJob, nextRunTime: number | null, nextFireTime: number | null): JobRecord {
  if (!usual) return Object.freeze({ ...job, next_run_time: nextRunTime, next_fire_time: nextFireTime, version: job.version + 1 })
  return Object.freeze({
    id: job.id,
    name: job.name,
    func: job.func,
    args: job.args,
    kwargs: job.kwargs,
    trigger: job.trigger,
    executor: job.executor,
    misfire_grace_time: job.misfire_grace_time,
    coalesce: job.coalesce,
    max_instances: job.max_instances,
    timeout: job.timeout,
    next_run_time: nextRunTime,
    next_fire_time: nextFireTime,
    paused: job.paused,
    paused_reason: job.paused_reason,
    source: job.source,
    config_hash: job.config_hash,
    version: job.version + 1,
    created_at: job.created_at,
    updated_at: job.updated_at
  })
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

/*
 * Finished runs are kept packed. As a RunRecord object (its boxed numbers and its run id string
 * included) a finished run costs about 230 bytes, which 10,000 jobs firing every second multiply
 * into tens of megabytes a minute; and it never changes. Packed, it is one row of typed arrays
 * shared by every job (48 bytes, off the JavaScript heap), made a RunRecord again only when read:
 * a run finishing allocates nothing, and nothing grows by copying (rows come in chunks). A run
 * that does not fit a row (one with an error, a run id not made by this process, a duration or lag
 * other than the runner computes, unusual values) is kept whole beside it.
 */

/** The numbers of a row: times (null as NaN), the run id's counter (-1: kept whole), the tag. */
const SCHEDULED_AT = 0
const STARTED_AT = 1
const FINISHED_AT = 2
const ID = 3
const TAG = 4
const STRIDE = 5
/** The links of a row: the previous and next finished run of its job (NONE at either end). */
const PREV = 0
const NEXT = 1
const LINKS = 2
const NONE = -1
const CHUNK_ROWS = 1024

const PACKED_STATUSES: readonly RunStatus[] = ['success', 'error', 'missed', 'abandoned']
const TRIGGERS: ReadonlyArray<RunRecord['trigger']> = ['scheduled', 'manual']
/** Run ids made by run-id.ts: a prefix drawn once per process, then a counter in 12 hex digits. */
const ID_LENGTH = 36
const ID_PREFIX_LENGTH = 24

/** A job's runs: the running ones as objects (their leases change), the finished ones as rows of FinishedRuns. */
class JobHistory {
  readonly jobId: string
  readonly running: RunRecord[] = []
  /** Its oldest and newest finished runs (rows), linked in order: scheduled_at, then started_at, then run_id. */
  first = NONE
  last = NONE
  finishedCount = 0

  constructor (jobId: string) {
    this.jobId = jobId
  }

  get size (): number { return this.running.length + this.finishedCount }
}

/** The finished runs of every job of a store, one row each (see above). */
class FinishedRuns {
  readonly #numbers: Float64Array[] = []
  readonly #links: Int32Array[] = []
  /** Rows handed out so far; freed rows are chained through NEXT from #free. */
  #used = 0
  #free = NONE
  readonly #whole = new Map<number, RunRecord>()
  #idPrefix: string | null = null
  readonly #nodes: string[] = []
  readonly #nodeIndex = new Map<string, number>()

  /** Adds a finished run: `run` as it was written, ended by `result` (unless the run holds its end itself). */
  add (history: JobHistory, run: RunRecord, result: RunResult | RunRecord = run): void {
    const { status, started_at: startedAt, finished_at: finishedAt, error, duration_ms: duration, lag_ms: lag } = result
    const leaseExpires = result === run ? run.lease_expires : null
    const tag = this.#tag(status, run.trigger, run.node_id)
    const packs = tag >= 0 && error === null && leaseExpires === null && isTime(run.scheduled_at) &&
      (startedAt === null || isTime(startedAt)) && (finishedAt === null || isTime(finishedAt)) &&
      Object.is(duration, derivedDuration(startedAt, finishedAt)) && Object.is(lag, derivedLag(run.scheduled_at, startedAt))
    const id = packs ? this.#idNumber(run.run_id) : NONE
    // Its place: runs mostly finish in order, so searched back from the newest.
    let before = history.last
    while (before !== NONE && this.#compare(before, run.scheduled_at, startedAt, run.run_id) > 0) before = this.#link(before, PREV)
    const row = this.#newRow()
    this.#setNumber(row, SCHEDULED_AT, numberOrNaN(run.scheduled_at))
    this.#setNumber(row, STARTED_AT, numberOrNaN(startedAt))
    this.#setNumber(row, FINISHED_AT, numberOrNaN(finishedAt))
    this.#setNumber(row, ID, id)
    this.#setNumber(row, TAG, tag)
    if (id === NONE) {
      this.#whole.set(row, result === run
        ? run
        : { ...run, status, started_at: startedAt, finished_at: finishedAt, error: error === null ? null : structuredClone(error), duration_ms: duration, lag_ms: lag, lease_expires: null })
    }
    this.#insert(history, row, before)
  }

  dropOldest (history: JobHistory, count: number): void {
    for (let i = 0; i < count; i++) this.#remove(history, history.first)
  }

  remove (history: JobHistory, runId: string): boolean {
    for (let row = history.first; row !== NONE; row = this.#link(row, NEXT)) {
      if (this.#runId(row) === runId) {
        this.#remove(history, row)
        return true
      }
    }
    return false
  }

  clear (history: JobHistory): void {
    while (history.first !== NONE) this.#remove(history, history.first)
  }

  /** A job's runs newest first, running and finished in one order, as RunRecords of their own. */
  newestFirst (history: JobHistory, limit?: number): RunRecord[] {
    const running = [...history.running].sort(compareRuns)
    const count = limit === undefined ? history.size : Math.max(0, Math.min(limit, history.size))
    const out: RunRecord[] = []
    let row = history.last
    let j = running.length - 1
    while (out.length < count) {
      const run = running[j]
      if (run === undefined || (row !== NONE && this.#compare(row, run.scheduled_at, run.started_at, run.run_id) > 0)) {
        out.push(this.#record(history.jobId, row))
        row = this.#link(row, PREV)
      } else {
        out.push(structuredClone(run))
        j--
      }
    }
    return out
  }

  #record (jobId: string, row: number): RunRecord {
    const whole = this.#whole.get(row)
    if (whole !== undefined) return structuredClone(whole)
    const tag = this.#number(row, TAG)
    const scheduledAt = this.#number(row, SCHEDULED_AT)
    const startedAt = nullIfNaN(this.#number(row, STARTED_AT))
    const finishedAt = nullIfNaN(this.#number(row, FINISHED_AT))
    return {
      run_id: this.#idString(this.#number(row, ID)),
      job_id: jobId,
      scheduled_at: scheduledAt,
      started_at: startedAt,
      finished_at: finishedAt,
      status: PACKED_STATUSES[tag % 4] as RunStatus,
      error: null,
      node_id: this.#nodes[Math.floor(tag / 8)] as string,
      trigger: TRIGGERS[Math.floor(tag / 4) % 2] as RunRecord['trigger'],
      duration_ms: derivedDuration(startedAt, finishedAt),
      lag_ms: derivedLag(scheduledAt, startedAt),
      lease_expires: null
    }
  }

  /** The row against a run: as compareRuns. */
  #compare (row: number, scheduledAt: number, startedAt: number | null, runId: string): number {
    const scheduled = this.#number(row, SCHEDULED_AT)
    if (scheduled !== scheduledAt) return scheduled - scheduledAt
    const started = nullIfNaN(this.#number(row, STARTED_AT))
    if (started !== startedAt) {
      if (started === null) return -1
      if (startedAt === null) return 1
      return started - startedAt
    }
    const id = this.#runId(row)
    return id < runId ? -1 : id > runId ? 1 : 0
  }

  #runId (row: number): string {
    return this.#whole.get(row)?.run_id ?? this.#idString(this.#number(row, ID))
  }

  /** The counter of a run id of the shared form (the first such id sets the prefix); NONE for any other id. */
  #idNumber (runId: string): number {
    if (runId.length !== ID_LENGTH || (this.#idPrefix !== null && !runId.startsWith(this.#idPrefix))) return NONE
    let n = 0
    for (let i = ID_PREFIX_LENGTH; i < ID_LENGTH; i++) {
      const c = runId.charCodeAt(i)
      // Lower-case hex digits only, so that the id is made again exactly.
      const digit = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1
      if (digit < 0) return NONE
      n = n * 16 + digit
    }
    this.#idPrefix ??= runId.slice(0, ID_PREFIX_LENGTH)
    return n
  }

  #idString (n: number): string {
    return (this.#idPrefix as string) + n.toString(16).padStart(ID_LENGTH - ID_PREFIX_LENGTH, '0')
  }

  /** Status, trigger and node in one number; NONE for a status or trigger that is not packed. */
  #tag (status: RunStatus, trigger: RunRecord['trigger'], nodeId: string): number {
    const s = PACKED_STATUSES.indexOf(status)
    const t = TRIGGERS.indexOf(trigger)
    if (s < 0 || t < 0) return NONE
    let node = this.#nodeIndex.get(nodeId)
    if (node === undefined) {
      node = this.#nodes.push(nodeId) - 1
      this.#nodeIndex.set(nodeId, node)
    }
    return s + 4 * t + 8 * node
  }

  #number (row: number, column: number): number {
    return (this.#numbers[Math.floor(row / CHUNK_ROWS)] as Float64Array)[(row % CHUNK_ROWS) * STRIDE + column] as number
  }

  #setNumber (row: number, column: number, value: number): void {
    (this.#numbers[Math.floor(row / CHUNK_ROWS)] as Float64Array)[(row % CHUNK_ROWS) * STRIDE + column] = value
  }

  #link (row: number, which: number): number {
    return (this.#links[Math.floor(row / CHUNK_ROWS)] as Int32Array)[(row % CHUNK_ROWS) * LINKS + which] as number
  }

  #setLink (row: number, which: number, value: number): void {
    (this.#links[Math.floor(row / CHUNK_ROWS)] as Int32Array)[(row % CHUNK_ROWS) * LINKS + which] = value
  }

  #newRow (): number {
    if (this.#free !== NONE) {
      const row = this.#free
      this.#free = this.#link(row, NEXT)
      return row
    }
    if (this.#used === this.#numbers.length * CHUNK_ROWS) {
      this.#numbers.push(new Float64Array(CHUNK_ROWS * STRIDE))
      this.#links.push(new Int32Array(CHUNK_ROWS * LINKS))
    }
    return this.#used++
  }

  /** Links a new row into a job's runs after `before` (NONE: first). */
  #insert (history: JobHistory, row: number, before: number): void {
    const after = before === NONE ? history.first : this.#link(before, NEXT)
    this.#setLink(row, PREV, before)
    this.#setLink(row, NEXT, after)
    if (before === NONE) history.first = row
    else this.#setLink(before, NEXT, row)
    if (after === NONE) history.last = row
    else this.#setLink(after, PREV, row)
    history.finishedCount++
  }

  #remove (history: JobHistory, row: number): void {
    const before = this.#link(row, PREV)
    const after = this.#link(row, NEXT)
    if (before === NONE) history.first = after
    else this.#setLink(before, NEXT, after)
    if (after === NONE) history.last = before
    else this.#setLink(after, PREV, before)
    history.finishedCount--
    this.#whole.delete(row)
    this.#setLink(row, NEXT, this.#free)
    this.#free = row
  }
}

/** Duration and lag as the runner computes them; a run with others is kept whole. */
const derivedDuration = (startedAt: number | null, finishedAt: number | null): number | null =>
  startedAt === null || finishedAt === null ? null : finishedAt - startedAt
const derivedLag = (scheduledAt: number, startedAt: number | null): number | null =>
  startedAt === null ? null : startedAt - scheduledAt
const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value)
const numberOrNaN = (value: unknown): number => typeof value === 'number' ? value : NaN
const nullIfNaN = (value: number): number | null => Number.isNaN(value) ? null : value
