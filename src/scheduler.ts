import { EventEmitter } from 'node:events'
import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { systemClock, type Clock } from './clock.js'
import { ConflictingIdError, JobNotFoundError, SchedulerStateError, ValidationError } from './errors.js'
import { Executor } from './executor.js'
import { jobToInfo, normalizeJob, patchJob, scheduleFromNow, type JobDefaults, type JobDefinition, type JobInfo, type NormalizeContext } from './job.js'
import { Metrics } from './metrics.js'
import type { AcquiredJob, JobRelease, JobStore, RunResult } from './store.js'
import { TaskRegistry, type TaskContext, type TaskFunction } from './tasks.js'
import { formatDate } from './time.js'
import { applyJitter, compileTrigger } from './triggers/index.js'
import type { JobRecord, RunRecord } from './types.js'

export type SchedulerState = 'stopped' | 'running' | 'paused'

export interface SchedulerConfig {
  jobstores: Record<string, JobStore>
  executors: Record<string, { maxConcurrency: number }>
  jobDefaults: JobDefaults
  timezone: string
  tasks: TaskRegistry
  nodeId: string
  leaseMs: number
  historyLimit: number
  log: FastifyBaseLogger
  fastify: FastifyInstance
  clock?: Clock
  /** How long `shutdown({ wait: true })` waits for running tasks before aborting them. */
  shutdownTimeoutMs?: number
  /** Longest sleep of the timer loop, so clock jumps and suspends are noticed. */
  maxSleepMs?: number
}

export interface JobQuery {
  limit?: number
  offset?: number
  func?: string
  state?: 'scheduled' | 'paused'
  jobstore?: string
}

export interface RunInfo {
  run_id: string
  job_id: string
  scheduled_at: string
  started_at: string | null
  finished_at: string | null
  status: RunRecord['status']
  error: RunRecord['error']
  node_id: string
  trigger: RunRecord['trigger']
  duration_ms: number | null
  lag_ms: number | null
}

export type AuthenticateFn = (credentials: { username: string, password: string }, request: unknown) => boolean | Promise<boolean>

/** Fires the core could enumerate in one claim before it skips ahead (a long outage). */
const MAX_CATCH_UP = 1000
/** Missed fires recorded per claim (history keeps `historyLimit` anyway). */
const MAX_MISSED_RECORDS = 100

interface RunOutcome { error: RunRecord['error'] }

/** What one claimed job does at a wakeup, decided before anything is written. */
interface FireDecision {
  job: JobRecord
  /** Runs to start once the release is written. */
  runs: RunRecord[]
  missed: number[]
  /** Fires skipped by max_instances. */
  blocked: number[]
  skippedAhead: boolean
  release: JobRelease
}

interface InFlight {
  run: RunRecord
  store: JobStore
  controller: AbortController
  done: Promise<RunOutcome>
}

/**
 * The scheduler core: one timer loop per process sleeping until the earliest next run any store
 * knows of, atomic claims with leases, executors with concurrency limits, history and events.
 */
export class Scheduler extends EventEmitter {
  readonly nodeId: string
  readonly timezone: string
  readonly leaseMs: number
  readonly historyLimit: number
  readonly metrics = new Metrics()
  readonly tasks: TaskRegistry
  readonly clock: Clock
  authenticator: AuthenticateFn | null = null

  readonly #stores: Record<string, JobStore>
  readonly #executors = new Map<string, Executor>()
  readonly #jobDefaults: JobDefaults
  readonly #log: FastifyBaseLogger
  readonly #fastify: FastifyInstance
  readonly #shutdownTimeoutMs: number
  readonly #maxSleepMs: number
  readonly #inflight = new Map<string, InFlight>()
  readonly #unsubscribe: Array<() => void> = []

  #started = false
  #paused = false
  #timer: unknown = null
  #timerTarget: number | null = null
  #renewTimer: unknown = null
  #cycle: Promise<void> | null = null
  #cycleAgain = false
  #starved = false
  #opened = false

  constructor (config: SchedulerConfig) {
    super()
    this.nodeId = config.nodeId
    this.timezone = config.timezone
    this.leaseMs = config.leaseMs
    this.historyLimit = config.historyLimit
    this.tasks = config.tasks
    this.clock = config.clock ?? systemClock
    this.#stores = config.jobstores
    this.#jobDefaults = config.jobDefaults
    this.#log = config.log
    this.#fastify = config.fastify
    this.#shutdownTimeoutMs = config.shutdownTimeoutMs ?? 10_000
    this.#maxSleepMs = config.maxSleepMs ?? 1000
    for (const [name, { maxConcurrency }] of Object.entries(config.executors)) {
      const executor = new Executor(name, maxConcurrency)
      // Only a cycle that stopped for lack of slots has due jobs left waiting.
      executor.onSlotFree = () => { if (this.#started && this.#starved) { this.#starved = false; this.#wake() } }
      this.#executors.set(name, executor)
    }
  }

  // ---------------------------------------------------------------- events

  /** Listeners that throw (or reject) are logged; they never break the scheduler. */
  override emit (event: string | symbol, ...args: unknown[]): boolean {
    const listeners = this.rawListeners(event)
    for (const listener of listeners) {
      try {
        const result = (listener as (...a: unknown[]) => unknown).apply(this, args)
        if (result !== null && typeof result === 'object' && typeof (result as Promise<unknown>).then === 'function') {
          (result as Promise<unknown>).then(undefined, (err: unknown) => this.#log.error({ err, event }, 'scheduler event listener failed'))
        }
      } catch (err) {
        this.#log.error({ err, event }, 'scheduler event listener failed')
      }
    }
    return listeners.length > 0
  }

  // ---------------------------------------------------------------- lifecycle

  get state (): SchedulerState {
    if (!this.#started) return 'stopped'
    return this.#paused ? 'paused' : 'running'
  }

  get running (): boolean { return this.#started }

  /** Opens the stores and listens for changes. Called by the plugin at register time. */
  async open (): Promise<void> {
    if (this.#opened) return
    for (const store of Object.values(this.#stores)) {
      await store.open()
      this.#unsubscribe.push(store.subscribe((change) => {
        if (change.type === 'scheduler_state') this.#paused = change.paused
        if (this.#started) this.#wake()
      }))
    }
    this.#opened = true
  }

  async start (): Promise<void> {
    if (this.#started) throw new SchedulerStateError('Scheduler is already running', 400)
    await this.open()
    this.#paused = (await this.#defaultStore().getSchedulerState()).paused
    this.#started = true
    this.emit('scheduler_started', { node_id: this.nodeId })
    this.#log.info({ nodeId: this.nodeId }, 'scheduler started')
    this.#wake()
  }

  /** Stops firing in this process. With `wait`, lets running tasks finish (bounded), then aborts the rest. */
  async shutdown ({ wait = true }: { wait?: boolean } = {}): Promise<void> {
    if (!this.#started) throw new SchedulerStateError('Scheduler is not running', 400)
    this.#started = false
    this.#clearTimer()
    await this.#cycle
    await this.#stopRunning(wait)
    this.emit('scheduler_shutdown', { node_id: this.nodeId })
    this.#log.info({ nodeId: this.nodeId }, 'scheduler shut down')
  }

  /** Shutdown for Fastify's onClose: never throws, releases everything, closes the stores. */
  async close (): Promise<void> {
    if (this.#started) await this.shutdown({ wait: true })
    else await this.#stopRunning(true)
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe()
    for (const store of Object.values(this.#stores)) await store.close()
    this.#opened = false
  }

  /** Pauses firing on every process sharing the stores. */
  async pause (): Promise<void> {
    if (!this.#started) throw new SchedulerStateError('Scheduler is not running', 500)
    await this.#setShared(true)
    this.emit('scheduler_paused', { node_id: this.nodeId })
  }

  async resume (): Promise<void> {
    if (!this.#started) throw new SchedulerStateError('Scheduler is not running', 500)
    await this.#setShared(false)
    this.emit('scheduler_resumed', { node_id: this.nodeId })
    this.#wake()
  }

  async #setShared (paused: boolean): Promise<void> {
    this.#paused = paused
    for (const store of Object.values(this.#stores)) await store.setSchedulerState({ paused })
  }

  /** Registers a task at run time. */
  task (name: string, fn: TaskFunction): this {
    this.tasks.register(name, fn)
    return this
  }

  /** Sets the Basic-auth callback of the API (the later of this and the `auth` option wins). */
  authenticate (fn: AuthenticateFn): this {
    if (typeof fn !== 'function') throw new TypeError('authenticate(fn) needs a function')
    this.authenticator = fn
    return this
  }

  /** Resolves when no claim cycle and no task is in progress (tests use it with a ManualClock). */
  async whenIdle (): Promise<void> {
    for (;;) {
      await this.#cycle
      await Promise.all([...this.#inflight.values()].map((f) => f.done))
      await Promise.all([...this.#executors.values()].map((e) => e.idle()))
      if (this.#cycle === null && this.#inflight.size === 0) return
    }
  }

  // ---------------------------------------------------------------- jobs

  async addJob (definition: JobDefinition, { source = 'code' }: { source?: JobRecord['source'] } = {}): Promise<JobInfo> {
    const { record, jobstore, replaceExisting } = normalizeJob(definition, source, this.#context())
    const store = this.#stores[jobstore] as JobStore
    try {
      await store.addJob(record)
    } catch (err) {
      if (!(err instanceof ConflictingIdError) || !replaceExisting) throw err
      const existing = await store.getJob(record.id)
      if (existing === null) throw err
      const replaced = await store.updateJob({ ...record, created_at: existing.created_at, version: existing.version })
      if (replaced === null) throw new JobNotFoundError(record.id)
      this.emit('job_modified', { job_id: record.id, jobstore })
      return jobToInfo(replaced, jobstore)
    }
    this.emit('job_added', { job_id: record.id, jobstore })
    return jobToInfo(record, jobstore)
  }

  /**
   * Upserts a boot-time definition: an unchanged one keeps its stored state (next run, pause,
   * changes made over the API); a changed one replaces the definition, keeping a pause.
   */
  async upsertConfigJob (definition: JobDefinition): Promise<'added' | 'unchanged' | 'updated'> {
    const { record, jobstore } = normalizeJob(definition, 'config', this.#context())
    const store = this.#stores[jobstore] as JobStore
    for (let attempt = 0; attempt < 5; attempt++) {
      const existing = await store.getJob(record.id)
      if (existing === null) {
        try {
          await store.addJob(record)
          this.emit('job_added', { job_id: record.id, jobstore })
          return 'added'
        } catch (err) {
          if (err instanceof ConflictingIdError) continue // another process added it first
          throw err
        }
      }
      if (existing.config_hash === record.config_hash) return 'unchanged'
      const updated: JobRecord = { ...record, created_at: existing.created_at, version: existing.version }
      if (existing.paused) {
        updated.paused = true
        updated.paused_reason = existing.paused_reason
        updated.next_run_time = null
        updated.next_fire_time = null
      }
      if (await store.updateJob(updated, existing.version) !== null) {
        this.emit('job_modified', { job_id: record.id, jobstore })
        return 'updated'
      }
    }
    throw new Error(`fastify-apscheduler: could not upsert job ${record.id}: it kept changing`)
  }

  async getJob (id: string): Promise<JobInfo | null> {
    const found = await this.#find(id)
    return found === null ? null : jobToInfo(found.record, found.jobstore)
  }

  /** Jobs by next run (paused last); `total` counts every match before limit/offset. */
  async queryJobs (query: JobQuery = {}): Promise<{ jobs: JobInfo[], total: number }> {
    const all: JobInfo[] = []
    for (const [alias, store] of Object.entries(this.#stores)) {
      if (query.jobstore !== undefined && query.jobstore !== alias) continue
      for (const record of await store.getJobs()) {
        if (query.func !== undefined && record.func !== query.func) continue
        if (query.state === 'paused' && !record.paused) continue
        if (query.state === 'scheduled' && record.paused) continue
        all.push(jobToInfo(record, alias))
      }
    }
    if (Object.keys(this.#stores).length > 1) all.sort(compareJobs)
    const offset = query.offset ?? 0
    const end = query.limit === undefined ? undefined : offset + query.limit
    return { jobs: all.slice(offset, end), total: all.length }
  }

  async getJobs (query: JobQuery = {}): Promise<JobInfo[]> {
    return (await this.queryJobs(query)).jobs
  }

  /** Validates the change whole, then applies it atomically (retrying if a claim raced it). */
  async modifyJob (id: string, patch: Record<string, unknown>): Promise<JobInfo> {
    return await this.#update(id, (record) => patchJob(record, patch, this.#context()), 'job_modified')
  }

  async pauseJob (id: string, reason?: string | null): Promise<JobInfo> {
    if (reason !== undefined && reason !== null && (typeof reason !== 'string' || reason.length > 1024)) {
      throw new ValidationError('reason', 'must be a string of at most 1024 characters')
    }
    return await this.#update(id, (record) => ({
      ...record, paused: true, paused_reason: reason ?? null, next_run_time: null, next_fire_time: null, updated_at: this.clock.now()
    }), 'job_modified')
  }

  async resumeJob (id: string): Promise<JobInfo> {
    return await this.#update(id, (record) => {
      if (!record.paused) return record
      const next: JobRecord = { ...record, paused: false, paused_reason: null, updated_at: this.clock.now() }
      scheduleFromNow(next, this.clock.now())
      return next
    }, 'job_modified')
  }

  async removeJob (id: string): Promise<void> {
    const found = await this.#find(id)
    if (found === null || !await found.store.removeJob(id)) throw new JobNotFoundError(id)
    this.emit('job_removed', { job_id: id, jobstore: found.jobstore })
  }

  /**
   * Runs a job now, through its executor and history, without touching its schedule (a paused
   * job stays paused). With `wait`, resolves once the run finished and rejects with the task's error.
   */
  async runJob (id: string, { wait = true }: { wait?: boolean } = {}): Promise<{ job: JobInfo, run_id: string }> {
    const found = await this.#find(id)
    if (found === null) throw new JobNotFoundError(id)
    const now = this.clock.now()
    const run = this.#newRun(found.record, now, now, 'manual')
    await found.store.insertRuns([run], this.historyLimit)
    const [done] = this.#submit(found.store, found.jobstore, found.record, [{ run, dueAt: now }])
    const info = jobToInfo(found.record, found.jobstore)
    if (!wait) return { job: info, run_id: run.run_id }
    const outcome = await done
    if (outcome.error !== null) throw Object.assign(new Error(outcome.error.message), { name: outcome.error.name, statusCode: 500 })
    return { job: (await this.getJob(id)) ?? info, run_id: run.run_id }
  }

  async getJobRuns (id: string, limit?: number): Promise<RunInfo[]> {
    const found = await this.#find(id)
    if (found === null) throw new JobNotFoundError(id)
    const tz = found.record.trigger.timezone
    return (await found.store.getRuns(id, limit)).map((run) => runToInfo(run, tz))
  }

  /** The next `count` fire times from the trigger (for a paused job: as if resumed now). */
  async getNextRunTimes (id: string, count = 5): Promise<string[]> {
    if (!Number.isInteger(count) || count < 1 || count > 100) throw new ValidationError('count', 'must be an integer from 1 to 100')
    const found = await this.#find(id)
    if (found === null) throw new JobNotFoundError(id)
    const { record } = found
    const trigger = compileTrigger(record.trigger)
    const out: string[] = []
    let at = record.paused ? trigger.first(this.clock.now()) : record.next_fire_time
    while (at !== null && out.length < count) {
      out.push(formatDate(at, record.trigger.timezone))
      at = trigger.next(at)
    }
    return out
  }

  /**
   * Validates a definition as `addJob` would, without storing it, and returns the job it would
   * be with its next `count` fire times (the add/edit form previews these before saving).
   */
  previewJob (definition: unknown, count = 10): { job: JobInfo, next_run_times: string[] } {
    if (!Number.isInteger(count) || count < 1 || count > 100) throw new ValidationError('count', 'must be an integer from 1 to 100')
    const { record, jobstore } = normalizeJob(definition, 'api', this.#context())
    const trigger = compileTrigger(record.trigger)
    const out: string[] = []
    let at = record.paused ? trigger.first(this.clock.now()) : record.next_fire_time
    while (at !== null && out.length < count) {
      out.push(formatDate(at, record.trigger.timezone))
      at = trigger.next(at)
    }
    return { job: jobToInfo(record, jobstore), next_run_times: out }
  }

  /** Jobs overdue by more than their misfire grace (a health signal). */
  async overdueJobs (): Promise<string[]> {
    if (!this.#started || this.#paused) return []
    const now = this.clock.now()
    const out: string[] = []
    for (const store of Object.values(this.#stores)) {
      for (const job of await store.getJobs()) {
        if (job.next_run_time === null || job.paused) continue
        const grace = (job.misfire_grace_time ?? 60) * 1000
        if (now - job.next_run_time > Math.max(grace, 1000)) out.push(job.id)
      }
    }
    return out
  }

  // ---------------------------------------------------------------- internals: the loop

  #wake (): void {
    if (this.#cycle !== null) { this.#cycleAgain = true; return }
    this.#clearTimer()
    this.#cycle = this.#runCycle().catch((err: unknown) => {
      this.#log.error({ err }, 'scheduler cycle failed; retrying in a second')
      this.#arm(this.clock.now() + 1000)
    }).finally(() => {
      this.#cycle = null
      if (this.#cycleAgain && this.#started) { this.#cycleAgain = false; this.#wake() }
    })
  }

  async #runCycle (): Promise<void> {
    this.#cycleAgain = false
    this.#starved = false
    if (!this.#started) return
    const now = this.clock.now() // read once per wakeup: every decision below uses this instant
    this.#paused = (await this.#defaultStore().getSchedulerState()).paused
    let wakeAt: number | null = null
    for (const [alias, store] of Object.entries(this.#stores)) {
      // One failing store (or claim) must not hold back the others: it is retried in a second.
      let next: number | null
      try {
        next = await this.#cycleStore(store, alias, now)
      } catch (err) {
        this.#log.error({ err, jobstore: alias }, 'job store failed in a scheduler cycle; retrying in a second')
        next = this.clock.now() + 1000
      }
      if (next !== null && (wakeAt === null || next < wakeAt)) wakeAt = next
    }
    if (this.#started) this.#arm(wakeAt)
  }

  /** Expires lapsed runs, claims and fires due jobs of one store; returns when it next needs a look. */
  async #cycleStore (store: JobStore, jobstore: string, now: number): Promise<number | null> {
    for (const run of await store.expireRuns(now)) this.#recordAbandoned(run)
    if (!this.#paused) {
      for (;;) {
        const limit = Math.min(this.#freeSlots(), 100)
        if (limit === 0) { this.#starved = true; break }
        const acquired = await store.acquireDueJobs({ owner: this.nodeId, now, leaseMs: this.leaseMs, limit })
        await this.#fire(store, jobstore, acquired, now)
        if (acquired.length < limit || !this.#started) break
      }
    }
    // Paused, due jobs stay due: only a resume (notified) or the sleep cap wakes us.
    // Starved, the next free executor slot wakes us.
    if (this.#paused || this.#starved) return null
    return await store.nextWakeTime(now)
  }

  /** Sleeps until `target` (capped); an early timer re-arms for the rest instead of skipping. */
  #arm (target: number | null): void {
    this.#clearTimer()
    if (!this.#started) return
    const now = this.clock.now()
    const cap = now + this.#maxSleepMs
    const at = target === null ? cap : Math.min(target, cap)
    this.#timerTarget = at
    this.#timer = this.clock.setTimeout(() => this.#onTimer(), Math.max(0, at - now))
  }

  #onTimer (): void {
    this.#timer = null
    const target = this.#timerTarget
    const now = this.clock.now()
    if (target !== null && now < target) {
      // Node timers may fire a little early; wait out the remainder rather than treat it as "not due".
      // Re-armed through #arm, so a wall clock stepped back still sleeps at most maxSleepMs.
      this.#arm(target)
      return
    }
    this.#wake()
  }

  #clearTimer (): void {
    if (this.#timer !== null) this.clock.clearTimeout(this.#timer)
    this.#timer = null
    this.#timerTarget = null
  }

  #freeSlots (): number {
    let free = 0
    for (const executor of this.#executors.values()) free += executor.free
    return free
  }

  /**
   * Fires a batch of claimed jobs: decides each, writes every decision in one store call, then
   * starts the runs that were written. A claim that cannot be decided or written keeps its claim
   * until it lapses (leaseMs) and is then taken over; the others go on now.
   */
  async #fire (store: JobStore, jobstore: string, claims: AcquiredJob[], now: number): Promise<void> {
    const decisions: FireDecision[] = []
    for (const claim of claims) {
      try {
        decisions.push(this.#decide(claim, now))
      } catch (err) {
        this.#log.error({ err, jobId: claim.job.id, jobstore }, 'could not fire a claimed job')
      }
    }
    if (decisions.length === 0) return
    let written: boolean[]
    try {
      written = await store.releaseJobs(this.nodeId, decisions.map((d) => d.release))
    } catch {
      // One bad write must not hold back the batch: each on its own.
      written = []
      for (const d of decisions) {
        try {
          written.push((await store.releaseJobs(this.nodeId, [d.release]))[0] === true)
        } catch (err) {
          this.#log.error({ err, jobId: d.job.id, jobstore }, 'could not fire a claimed job')
          written.push(false)
        }
      }
    }
    // Not written: modified, paused or removed meanwhile, or the claim was lost; nothing fires.
    decisions.forEach((d, i) => { if (written[i] === true) this.#afterRelease(store, jobstore, d) })
  }

  /** What a claimed job does now: runs, misses, coalescing, max_instances, next fire. */
  #decide (claim: AcquiredJob, now: number): FireDecision {
    const { job } = claim
    if (claim.takeover) {
      this.metrics.leaseTakeovers++
      this.#log.warn({ jobId: job.id }, 'took over a job claim whose holder stopped renewing it')
    }
    const trigger = compileTrigger(job.trigger)
    const graceMs = job.misfire_grace_time === null ? Infinity : job.misfire_grace_time * 1000
    const runnable: number[] = []
    const missed: number[] = []
    let skippedAhead = false
    let nominal: number | null = job.next_fire_time ?? job.next_run_time
    let dueAt = job.next_run_time ?? nominal // jitter applies to the first fire only
    let seen = 0
    while (nominal !== null && dueAt !== null && dueAt <= now && seen < MAX_CATCH_UP) {
      if (now - dueAt > graceMs) missed.push(nominal)
      else runnable.push(nominal)
      nominal = trigger.next(nominal)
      dueAt = nominal
      seen++
    }
    if (nominal !== null && nominal <= now) {
      // A very long outage: skip ahead instead of enumerating every fire.
      nominal = trigger.first(now)
      skippedAhead = true
    }
    const toRun = job.coalesce && runnable.length > 1 ? runnable.slice(-1) : runnable
    // The fires due now run as one instance, one after another (as APScheduler runs a job's missed
    // run times): max_instances limits concurrent instances, it never drops a catch-up fire.
    const starting = claim.running < job.max_instances ? toRun : []
    const blocked = starting.length > 0 ? [] : toRun

    const jitter = job.trigger.type === 'date' ? null : job.trigger.jitter
    // The fire after next only bounds the jitter: not computed for the (usual) job without one.
    const nextRun = nominal === null || jitter === null || jitter <= 0 ? nominal : applyJitter(nominal, trigger.next(nominal), jitter)
    const runs = starting.map((at) => this.#newRun(job, at, now, 'scheduled'))
    const missedRuns = missed.slice(-MAX_MISSED_RECORDS).map((at) => this.#missedRun(job, at, now))
    return {
      job,
      runs,
      missed,
      blocked,
      skippedAhead,
      release: {
        id: job.id,
        version: job.version,
        next_run_time: nextRun,
        next_fire_time: nominal,
        remove: nominal === null,
        runs: [...missedRuns, ...runs],
        historyLimit: this.historyLimit
      }
    }
  }

  /** Events, metrics and run starts of a decision the store accepted. */
  #afterRelease (store: JobStore, jobstore: string, { job, runs, missed, blocked, skippedAhead, release }: FireDecision): void {
    for (const at of missed) {
      this.metrics.recordRun('missed')
      this.emit('job_missed', { job_id: job.id, jobstore, scheduled_run_time: new Date(at) })
    }
    if (missed.length > 0 || skippedAhead) {
      this.#log.warn({ jobId: job.id, missed: missed.length, skippedAhead }, 'job fires missed (later than misfire_grace_time)')
    }
    for (const at of blocked) {
      this.metrics.maxInstancesSkips++
      this.emit('job_max_instances', { job_id: job.id, jobstore, scheduled_run_time: new Date(at) })
      this.#log.warn({ jobId: job.id, maxInstances: job.max_instances }, 'job fire skipped: maximum number of running instances reached')
    }
    if (release.remove) this.emit('job_removed', { job_id: job.id, jobstore })
    if (runs.length > 0) {
      this.#submit(store, jobstore, job, runs.map((run) => ({
        run,
        // Jitter moves only the first fire.
        dueAt: run.scheduled_at === job.next_fire_time && job.next_run_time !== null ? job.next_run_time : run.scheduled_at
      })))
    }
  }

  // ---------------------------------------------------------------- internals: running tasks

  #newRun (job: JobRecord, scheduledAt: number, now: number, trigger: RunRecord['trigger']): RunRecord {
    return {
      run_id: randomUUID(),
      job_id: job.id,
      scheduled_at: scheduledAt,
      started_at: now,
      finished_at: null,
      status: 'running',
      error: null,
      node_id: this.nodeId,
      trigger,
      duration_ms: null,
      lag_ms: null,
      lease_expires: now + this.leaseMs
    }
  }

  #missedRun (job: JobRecord, scheduledAt: number, now: number): RunRecord {
    return {
      ...this.#newRun(job, scheduledAt, now, 'scheduled'),
      started_at: null,
      finished_at: now,
      status: 'missed',
      lease_expires: null
    }
  }

  /**
   * Hands runs of one job to its executor as one instance: they take one slot and run one after
   * another. Each run's promise resolves with its outcome (never rejects).
   */
  #submit (store: JobStore, jobstore: string, job: JobRecord, runs: Array<{ run: RunRecord, dueAt: number }>): Array<Promise<RunOutcome>> {
    const executor = this.#executors.get(job.executor) ?? this.#executors.get('default') as Executor
    const queued = runs.map(({ run, dueAt }) => {
      const controller = new AbortController()
      let resolveDone!: (outcome: RunOutcome) => void
      const done = new Promise<RunOutcome>((resolve) => { resolveDone = resolve })
      this.#inflight.set(run.run_id, { run, store, controller, done })
      this.emit('job_submitted', { job_id: job.id, jobstore, run_id: run.run_id, scheduled_run_time: new Date(run.scheduled_at) })
      return { run, dueAt, controller, done, resolveDone }
    })
    this.#ensureRenewal()
    executor.submit(async () => {
      for (const { run, dueAt, controller, resolveDone } of queued) {
        let outcome: RunOutcome = { error: null }
        try {
          outcome = await this.#execute(store, jobstore, job, run, dueAt, controller)
        } catch (err) {
          this.#log.error({ err, jobId: job.id }, 'failed to record a job run')
        } finally {
          this.#inflight.delete(run.run_id)
          resolveDone(outcome)
        }
      }
    })
    return queued.map((q) => q.done)
  }

  async #execute (store: JobStore, jobstore: string, job: JobRecord, run: RunRecord, dueAt: number, controller: AbortController): Promise<RunOutcome> {
    if (controller.signal.aborted) {
      // Abandoned (shutdown, or its lease was lost) while it waited for a slot: it never starts.
      return { error: { name: 'AbortError', message: 'the run was abandoned before it started', stack: null } }
    }
    const startedAt = this.clock.now()
    const graceMs = job.misfire_grace_time === null ? Infinity : job.misfire_grace_time * 1000
    if (run.trigger === 'scheduled' && startedAt - dueAt > graceMs) {
      // It waited in a busy executor past its grace. Fenced like any result: a lost lease records nothing.
      if (await store.finishRun(run.run_id, this.nodeId, { status: 'missed', started_at: null, finished_at: startedAt, error: null, duration_ms: null, lag_ms: null })) {
        this.metrics.recordRun('missed')
        this.emit('job_missed', { job_id: job.id, jobstore, scheduled_run_time: new Date(run.scheduled_at) })
      }
      return { error: null }
    }
    const lag = startedAt - run.scheduled_at
    if (run.trigger === 'scheduled') this.metrics.recordLag(lag)
    const log = this.#log.child({ jobId: job.id, runId: run.run_id })
    const fn = this.tasks.get(job.func)
    let error: RunRecord['error'] = null
    let retval: unknown
    try {
      if (fn === undefined) throw new Error(`Task '${job.func}' is not registered in this process`)
      const ctx: TaskContext = {
        args: structuredClone(job.args),
        kwargs: structuredClone(job.kwargs),
        job: jobToInfo(job, jobstore),
        runId: run.run_id,
        scheduledAt: new Date(run.scheduled_at),
        fastify: this.#fastify,
        log,
        signal: controller.signal
      }
      retval = await fn(ctx)
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err))
      error = { name: e.name, message: e.message, stack: e.stack ?? null }
    }
    const finishedAt = this.clock.now()
    const result: RunResult = {
      status: error === null ? 'success' : 'error',
      started_at: startedAt,
      finished_at: finishedAt,
      error,
      duration_ms: finishedAt - startedAt,
      lag_ms: lag
    }
    if (!await store.finishRun(run.run_id, this.nodeId, result)) {
      log.warn('run finished after its lease was lost; its result is not recorded')
      return { error }
    }
    this.metrics.recordRun(result.status as 'success' | 'error')
    if (error === null) {
      this.emit('job_executed', { job_id: job.id, jobstore, run_id: run.run_id, scheduled_run_time: new Date(run.scheduled_at), retval, duration_ms: result.duration_ms })
    } else {
      log.error({ err: error }, 'job raised an error')
      this.emit('job_error', { job_id: job.id, jobstore, run_id: run.run_id, scheduled_run_time: new Date(run.scheduled_at), error })
    }
    return { error }
  }

  #recordAbandoned (run: RunRecord): void {
    this.metrics.recordRun('abandoned')
    this.metrics.leaseTakeovers++
    this.#log.warn({ jobId: run.job_id, runId: run.run_id, nodeId: run.node_id }, 'run abandoned: its process stopped renewing the lease')
  }

  /** Renews this process's run leases every leaseMs/3 while anything runs. */
  #ensureRenewal (): void {
    if (this.#renewTimer !== null) return
    this.#renewTimer = this.clock.setTimeout(() => {
      this.#renewTimer = null
      void this.#renew().finally(() => { if (this.#inflight.size > 0) this.#ensureRenewal() })
    }, Math.floor(this.leaseMs / 3))
  }

  #clearRenewTimer (): void {
    if (this.#renewTimer !== null) this.clock.clearTimeout(this.#renewTimer)
    this.#renewTimer = null
  }

  async #renew (): Promise<void> {
    const byStore = new Map<JobStore, string[]>()
    for (const flight of this.#inflight.values()) {
      const ids = byStore.get(flight.store) ?? []
      ids.push(flight.run.run_id)
      byStore.set(flight.store, ids)
    }
    const expires = this.clock.now() + this.leaseMs
    for (const [store, ids] of byStore) {
      try {
        const held = new Set(await store.renewRunLeases(this.nodeId, ids, expires))
        for (const id of ids) {
          const flight = this.#inflight.get(id)
          if (!held.has(id) && flight !== undefined && !flight.controller.signal.aborted) {
            this.#log.warn({ jobId: flight.run.job_id, runId: id }, 'lost the lease of a running job; aborting it')
            flight.controller.abort(new Error('lease lost'))
          }
        }
      } catch (err) {
        this.#log.error({ err }, 'could not renew run leases')
      }
    }
  }

  async #stopRunning (wait: boolean): Promise<void> {
    const pending = [...this.#inflight.values()]
    if (pending.length === 0) { this.#clearRenewTimer(); return }
    if (wait) {
      // A real-time bound even under a test clock: it limits how long a process may hang on close.
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, this.#shutdownTimeoutMs) })
      await Promise.race([Promise.all(pending.map((f) => f.done)), timeout])
      clearTimeout(timer)
    }
    const left = [...this.#inflight.values()]
    for (const flight of left) {
      flight.controller.abort(new Error('scheduler shutdown'))
      // Release the lease now rather than let another process wait for it to lapse.
      const now = this.clock.now()
      const recorded = await flight.store.finishRun(flight.run.run_id, this.nodeId, {
        status: 'abandoned', started_at: flight.run.started_at, finished_at: now, error: { name: 'AbortError', message: 'scheduler shut down before the run finished', stack: null }, duration_ms: null, lag_ms: null
      }).catch((err: unknown) => { this.#log.error({ err }, 'could not release a run lease'); return false })
      if (recorded) this.metrics.recordRun('abandoned')
      this.#inflight.delete(flight.run.run_id)
    }
    this.#clearRenewTimer()
  }

  // ---------------------------------------------------------------- internals: helpers

  #context (): NormalizeContext {
    return {
      timezone: this.timezone,
      jobDefaults: this.#jobDefaults,
      tasks: this.tasks,
      jobstores: Object.keys(this.#stores),
      executors: [...this.#executors.keys()],
      now: this.clock.now()
    }
  }

  #defaultStore (): JobStore {
    return (this.#stores.default ?? Object.values(this.#stores)[0]) as JobStore
  }

  async #find (id: string): Promise<{ record: JobRecord, store: JobStore, jobstore: string } | null> {
    for (const [jobstore, store] of Object.entries(this.#stores)) {
      const record = await store.getJob(id)
      if (record !== null) return { record, store, jobstore }
    }
    return null
  }

  async #update (id: string, change: (record: JobRecord) => JobRecord, event: string): Promise<JobInfo> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const found = await this.#find(id)
      if (found === null) throw new JobNotFoundError(id)
      const next = change(found.record)
      if (next === found.record) return jobToInfo(found.record, found.jobstore)
      const stored = await found.store.updateJob(next, found.record.version)
      if (stored !== null) {
        this.emit(event, { job_id: id, jobstore: found.jobstore })
        return jobToInfo(stored, found.jobstore)
      }
      // The version moved (a claim advanced the job, or another writer): re-read and re-apply.
    }
    throw new SchedulerStateError(`Job ${id} is changing too often to be modified; try again`, 409)
  }
}

function compareJobs (a: JobInfo, b: JobInfo): number {
  if (a.next_run_time === null || b.next_run_time === null) {
    if (a.next_run_time === b.next_run_time) return a.id < b.id ? -1 : a.id > b.id ? 1 : 0
    return a.next_run_time === null ? 1 : -1
  }
  const d = Date.parse(a.next_run_time) - Date.parse(b.next_run_time)
  return d !== 0 ? d : a.id < b.id ? -1 : a.id > b.id ? 1 : 0
}

export function runToInfo (run: RunRecord, timezone: string): RunInfo {
  const fmt = (ms: number | null): string | null => ms === null ? null : formatDate(ms, timezone)
  return {
    run_id: run.run_id,
    job_id: run.job_id,
    scheduled_at: formatDate(run.scheduled_at, timezone),
    started_at: fmt(run.started_at),
    finished_at: fmt(run.finished_at),
    status: run.status,
    error: run.error,
    node_id: run.node_id,
    trigger: run.trigger,
    duration_ms: run.duration_ms,
    lag_ms: run.lag_ms
  }
}
