import { ConflictingIdError } from '../src/errors.js'
import type {
  AcquiredJob, JobRelease, JobStore, RunResult, SchedulerSharedState, StoreChange
} from '../src/store.js'
import type { JobRecord, RunRecord } from '../src/types.js'

interface StoredJob {
  job: JobRecord
  leaseOwner: string | null
  leaseExpires: number | null
}

/** A job's runs, oldest first (the order history is trimmed in), plus its running ones. */
interface History {
  runs: RunRecord[]
  running: Set<RunRecord>
}

/**
 * Keeps everything in this process. Several schedulers may share one instance (workers simulated
 * in one process): every method does its whole read-modify-write without awaiting, so each call is
 * atomic with respect to the others.
 */
export class MemoryStore implements JobStore {
  readonly notifiesAcrossProcesses = false
  readonly #jobs = new Map<string, StoredJob>()
  readonly #runs = new Map<string, RunRecord>()
  readonly #running = new Map<string, RunRecord>()
  readonly #history = new Map<string, History>()
  readonly #listeners = new Set<(change: StoreChange) => void>()
  #state: SchedulerSharedState = { paused: false }

  async open (): Promise<void> {}
  async close (): Promise<void> {}

  async addJob (job: JobRecord): Promise<void> {
    if (this.#jobs.has(job.id)) throw new ConflictingIdError(job.id)
    this.#jobs.set(job.id, { job: structuredClone(job), leaseOwner: null, leaseExpires: null })
    this.#emit({ type: 'job_added', jobId: job.id, nextRunTime: job.next_run_time })
  }

  async getJob (id: string): Promise<JobRecord | null> {
    const stored = this.#jobs.get(id)
    return stored === undefined ? null : structuredClone(stored.job)
  }

  async getJobs (): Promise<JobRecord[]> {
    return [...this.#jobs.values()].map((s) => s.job).sort(compareJobs).map((job) => structuredClone(job))
  }

  async updateJob (job: JobRecord, expectedVersion?: number): Promise<JobRecord | null> {
    const stored = this.#jobs.get(job.id)
    if (stored === undefined) return null
    if (expectedVersion !== undefined && stored.job.version !== expectedVersion) return null
    // The claim survives: its holder notices the version change at release.
    stored.job = { ...structuredClone(job), version: stored.job.version + 1 }
    this.#emit({ type: 'job_modified', jobId: job.id, nextRunTime: stored.job.next_run_time })
    return structuredClone(stored.job)
  }

  async removeJob (id: string): Promise<boolean> {
    if (!this.#deleteJob(id)) return false
    this.#emit({ type: 'job_removed', jobId: id })
    return true
  }

  async acquireDueJobs ({ owner, now, leaseMs, limit }: { owner: string, now: number, leaseMs: number, limit: number }): Promise<AcquiredJob[]> {
    if (limit <= 0) return []
    const due: StoredJob[] = []
    for (const stored of this.#jobs.values()) {
      const { job } = stored
      if (job.paused || job.next_run_time === null || job.next_run_time > now) continue
      if (stored.leaseExpires !== null && stored.leaseExpires > now) continue
      due.push(stored)
    }
    due.sort((a, b) => compareJobs(a.job, b.job))
    return due.slice(0, limit).map((stored) => {
      const takeover = stored.leaseOwner !== null
      stored.leaseOwner = owner
      stored.leaseExpires = now + leaseMs
      return { job: structuredClone(stored.job), running: this.#liveRunning(stored.job.id, now), takeover }
    })
  }

  async releaseJobs (owner: string, releases: JobRelease[]): Promise<boolean[]> {
    return releases.map((release) => this.#release(owner, release))
  }

  #release (owner: string, release: JobRelease): boolean {
    const id = release.id
    const stored = this.#jobs.get(id)
    if (stored === undefined || stored.leaseOwner !== owner) return false
    stored.leaseOwner = null
    stored.leaseExpires = null
    if (stored.job.version !== release.version) return false
    for (const run of release.runs) this.#putRun(structuredClone(run))
    if (release.remove) {
      this.#deleteJob(id)
    } else {
      // A version bump, so a writer that read the job before this fire cannot roll its schedule back.
      stored.job.next_run_time = release.next_run_time
      stored.job.next_fire_time = release.next_fire_time
      stored.job.version++
    }
    for (const jobId of new Set(release.runs.map((r) => r.job_id))) this.#trim(jobId, release.historyLimit)
    return true
  }

  async insertRuns (runs: RunRecord[], historyLimit: number): Promise<void> {
    for (const run of runs) {
      // History lives with its job: a finished run of a missing job would never be cleaned up.
      if (run.status !== 'running' && !this.#jobs.has(run.job_id)) continue
      this.#putRun(structuredClone(run))
    }
    for (const jobId of new Set(runs.map((r) => r.job_id))) this.#trim(jobId, historyLimit)
  }

  async renewRunLeases (owner: string, runIds: string[], leaseExpires: number): Promise<string[]> {
    const held: string[] = []
    for (const id of runIds) {
      const run = this.#running.get(id)
      if (run === undefined || run.node_id !== owner) continue
      run.lease_expires = leaseExpires
      held.push(id)
    }
    return held
  }

  async finishRun (runId: string, owner: string, result: RunResult): Promise<boolean> {
    const run = this.#running.get(runId)
    if (run === undefined || run.node_id !== owner) return false
    this.#dropRun(run)
    if (!this.#jobs.has(run.job_id)) return true
    Object.assign(run, {
      status: result.status,
      started_at: result.started_at,
      finished_at: result.finished_at,
      error: structuredClone(result.error),
      duration_ms: result.duration_ms,
      lag_ms: result.lag_ms,
      lease_expires: null
    })
    this.#putRun(run) // re-inserted: started_at may have moved its place in the history order
    return true
  }

  async expireRuns (now: number): Promise<RunRecord[]> {
    const expired: RunRecord[] = []
    for (const run of [...this.#running.values()]) {
      if (run.lease_expires === null || run.lease_expires > now) continue
      this.#history.get(run.job_id)?.running.delete(run)
      this.#running.delete(run.run_id)
      run.status = 'abandoned'
      run.finished_at = now
      run.lease_expires = null
      if (!this.#jobs.has(run.job_id)) this.#dropRun(run)
      expired.push(structuredClone(run))
    }
    return expired
  }

  async getRuns (jobId: string, limit?: number): Promise<RunRecord[]> {
    const runs = this.#history.get(jobId)?.runs ?? []
    const count = limit === undefined ? runs.length : Math.max(0, Math.min(limit, runs.length))
    const out: RunRecord[] = []
    for (let i = runs.length - 1; out.length < count; i--) out.push(structuredClone(runs[i] as RunRecord))
    return out
  }

  async nextWakeTime (now: number): Promise<number | null> {
    let next: number | null = null
    for (const { job, leaseExpires } of this.#jobs.values()) {
      if (job.paused || job.next_run_time === null) continue
      // A live claim blocks the job until it lapses (or the holder releases it).
      const at = leaseExpires !== null && leaseExpires > now ? Math.max(job.next_run_time, leaseExpires) : job.next_run_time
      if (next === null || at < next) next = at
    }
    for (const run of this.#running.values()) {
      if (run.lease_expires !== null && (next === null || run.lease_expires < next)) next = run.lease_expires
    }
    return next
  }

  async getSchedulerState (): Promise<SchedulerSharedState> {
    return { ...this.#state }
  }

  async setSchedulerState (state: SchedulerSharedState): Promise<void> {
    this.#state = { paused: state.paused }
    this.#emit({ type: 'scheduler_state', paused: state.paused })
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

  #deleteJob (id: string): boolean {
    if (!this.#jobs.delete(id)) return false
    const history = this.#history.get(id)
    if (history === undefined) return true
    for (const run of history.runs) {
      if (run.status !== 'running') this.#runs.delete(run.run_id)
    }
    history.runs = history.runs.filter((run) => run.status === 'running')
    if (history.runs.length === 0) this.#history.delete(id)
    return true
  }

  #liveRunning (jobId: string, now: number): number {
    let count = 0
    for (const run of this.#history.get(jobId)?.running ?? []) {
      if (run.lease_expires === null || run.lease_expires > now) count++
    }
    return count
  }

  /** Stores a run (replacing one with the same id) in its job's history order. */
  #putRun (run: RunRecord): void {
    const previous = this.#runs.get(run.run_id)
    if (previous !== undefined) this.#dropRun(previous)
    let history = this.#history.get(run.job_id)
    if (history === undefined) {
      history = { runs: [], running: new Set() }
      this.#history.set(run.job_id, history)
    }
    const { runs } = history
    let i = runs.length // runs mostly arrive in order: search back from the end
    while (i > 0 && compareRuns(runs[i - 1] as RunRecord, run) > 0) i--
    runs.splice(i, 0, run)
    this.#runs.set(run.run_id, run)
    if (run.status === 'running') {
      history.running.add(run)
      this.#running.set(run.run_id, run)
    }
  }

  #dropRun (run: RunRecord): void {
    this.#runs.delete(run.run_id)
    this.#running.delete(run.run_id)
    const history = this.#history.get(run.job_id)
    if (history === undefined) return
    history.running.delete(run)
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
    const keep: RunRecord[] = []
    let i = 0
    for (; excess > 0 && i < runs.length; i++) {
      const run = runs[i] as RunRecord
      if (run.status === 'running') {
        keep.push(run)
      } else {
        this.#runs.delete(run.run_id)
        excess--
      }
    }
    runs.splice(0, i, ...keep)
    if (runs.length === 0) this.#history.delete(jobId)
  }
}

function compareJobs (a: JobRecord, b: JobRecord): number {
  if (a.next_run_time !== b.next_run_time) {
    if (a.next_run_time === null) return 1
    if (b.next_run_time === null) return -1
    return a.next_run_time - b.next_run_time
  }
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0
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
