import { EventEmitter } from 'node:events'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { systemClock, type Clock } from './clock.js'
import { ClaimCycle } from './core/claim-cycle.js'
import { rescheduleAfterStep } from './core/clock-step.js'
import type { ClockStep } from './core/clock-watch.js'
import { newRun, runToInfo, type RunInfo } from './core/run-records.js'
import { Runner, type InFlight } from './core/runner.js'
import { ConflictingIdError, JobNotFoundError, SchedulerStateError, ValidationError } from './errors.js'
import { Executor } from './executor.js'
import { jobToInfo, normalizeJob, patchJob, scheduleFromNow, type JobDefaults, type JobDefinition, type JobInfo, type NormalizeContext } from './job.js'
import { Metrics } from './metrics.js'
import { listRank, type JobStore } from './store.js'
import { storeNow } from './core/store-clock.js'
import { TaskRegistry, type TaskFunction } from './tasks.js'
import { formatDate } from './time.js'
import { compileTrigger } from './triggers/index.js'
import type { JobRecord, RunRecord } from './types.js'

export { runToInfo, type RunInfo } from './core/run-records.js'

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
  /** Case-insensitive prefix of the job's id or name. */
  q?: string
  jobstore?: string
}

/** Ids /health lists per store at most. */
const OVERDUE_LIST_LIMIT = 100

export type AuthenticateFn = (credentials: { username: string, password: string }, request: unknown) => boolean | Promise<boolean>

/**
 * The public face of the scheduler: jobs (add, query, modify, remove, run now), lifecycle, events.
 * The work is done by the claim cycle (core/claim-cycle.ts: timers, claims, fire decisions) and
 * the runner (core/runner.ts: executors, task calls, run leases); stores persist (store.ts).
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
  readonly #runner: Runner
  /** Per job: the manual run being checked and started in this process. */
  readonly #manualGates = new Map<string, Promise<void>>()
  readonly #cycle: ClaimCycle
  readonly #unsubscribe: Array<() => void> = []
  /** Boot-time job definitions (upserted again into a store whose data was replaced). */
  readonly #configJobs = new Map<string, JobDefinition>()

  #started = false
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
    for (const [name, { maxConcurrency }] of Object.entries(config.executors)) {
      this.#executors.set(name, new Executor(name, maxConcurrency))
    }
    const emit = (event: string, payload: () => unknown): void => { if (this.listenerCount(event) > 0) this.emit(event, payload()) }
    const listening = (event: string): boolean => this.listenerCount(event) > 0
    this.#runner = new Runner({
      nodeId: this.nodeId,
      leaseMs: this.leaseMs,
      clock: this.clock,
      log: config.log,
      metrics: this.metrics,
      tasks: this.tasks,
      fastify: config.fastify,
      executors: this.#executors,
      shutdownTimeoutMs: config.shutdownTimeoutMs ?? 10_000,
      emit,
      listening
    })
    this.#cycle = new ClaimCycle({
      stores: this.#stores,
      executors: this.#executors,
      runner: this.#runner,
      nodeId: this.nodeId,
      leaseMs: this.leaseMs,
      historyLimit: this.historyLimit,
      clock: this.clock,
      log: config.log,
      metrics: this.metrics,
      maxSleepMs: config.maxSleepMs ?? 1000,
      emit,
      listening,
      onClockStep: async (step) => { await this.#onClockStep(step) }
    })
  }

  /**
   * A step of the wall clock: logged, counted, shown in /health, and the schedules it affects are
   * moved (interval jobs keep their real-time period; cron jobs follow the wall clock), once per
   * step across the processes sharing a store. Stores judged by their own clock (Redis) are not
   * affected by a step of this host's clock.
   */
  async #onClockStep (step: ClockStep): Promise<void> {
    this.metrics.recordClockStep(step.at, step.ms)
    const moved: Record<string, number> = {}
    for (const [alias, store] of Object.entries(this.#stores)) {
      if (store.now !== undefined) continue
      try {
        const n = await rescheduleAfterStep(store, step, this.clock.now())
        if (n !== null) moved[alias] = n
      } catch (err) {
        this.#log.error({ err, jobstore: alias }, 'could not move the schedules after a wall-clock step')
      }
    }
    this.#log.warn({ stepMs: step.ms, at: new Date(step.at).toISOString(), movedSchedules: moved },
      `the wall clock stepped ${step.ms > 0 ? 'forward' : 'back'} by ${Math.abs(step.ms) / 1000} s (wall and monotonic time disagree); interval schedules moved with it, cron and date schedules follow the wall clock`)
  }

  /** The last wall-clock step this process noticed and how many, for /health (null: none). */
  get clockSteps (): { count: number, last_at: string, last_ms: number } | null {
    const last = this.metrics.lastClockStep
    return last === null ? null : { count: this.metrics.clockSteps, last_at: formatDate(last.at, 'UTC'), last_ms: last.ms }
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
    return this.#cycle.paused ? 'paused' : 'running'
  }

  get running (): boolean { return this.#started }

  /** Opens the stores and listens for changes. Called by the plugin at register time. */
  async open (): Promise<void> {
    if (this.#opened) return
    for (const [alias, store] of Object.entries(this.#stores)) {
      store.attach?.({ log: this.#log, clock: this.clock, reopened: () => { void this.#upsertConfigJobsAgain(alias) } })
      await store.open()
      this.#unsubscribe.push(store.subscribe((change) => { this.#cycle.notify(store, change) }))
    }
    this.#opened = true
  }

  /**
   * The store's data was replaced under it (a deleted SQLite file reopened as a new one): the
   * boot-time jobs go into it again, as a restart would put them.
   */
  async #upsertConfigJobsAgain (jobstore: string): Promise<void> {
    const definitions = [...this.#configJobs.values()]
    let failed = 0
    for (const definition of definitions) {
      try {
        await this.upsertConfigJob(definition)
      } catch (err) {
        failed++
        this.#log.error({ err, jobId: definition.id, jobstore }, 'could not upsert a boot-time job into the reopened job store')
      }
    }
    this.#log.warn({ jobstore, jobs: definitions.length - failed, failed }, 'upserted the boot-time jobs into the reopened job store')
  }

  async start (): Promise<void> {
    if (this.#started) throw new SchedulerStateError('Scheduler is already running', 400)
    await this.open()
    this.#cycle.paused = (await this.#cycle.defaultStore().getSchedulerState()).paused
    this.#started = true
    this.emit('scheduler_started', { node_id: this.nodeId })
    this.#log.info({ nodeId: this.nodeId }, 'scheduler started')
    this.#cycle.start()
  }

  /** Stops firing in this process. With `wait`, lets running tasks finish (bounded), then aborts the rest. */
  async shutdown ({ wait = true }: { wait?: boolean } = {}): Promise<void> {
    if (!this.#started) throw new SchedulerStateError('Scheduler is not running', 400)
    this.#started = false
    await this.#cycle.stop()
    await this.#runner.stop(wait)
    this.emit('scheduler_shutdown', { node_id: this.nodeId })
    this.#log.info({ nodeId: this.nodeId }, 'scheduler shut down')
  }

  /** Shutdown for Fastify's onClose: never throws, releases everything, closes the stores. */
  async close (): Promise<void> {
    if (this.#started) await this.shutdown({ wait: true })
    else await this.#runner.stop(true)
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
    this.#cycle.wake()
  }

  async #setShared (paused: boolean): Promise<void> {
    this.#cycle.paused = paused
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
      await this.#cycle.current
      await this.#runner.settled()
      await Promise.all([...this.#executors.values()].map((e) => e.idle()))
      if (this.#cycle.current === null && this.#runner.inflightCount === 0) return
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
    this.#configJobs.set(record.id, definition)
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

  /**
   * Jobs in list order (by next run; jobs without one, then paused ones, last), filtered; `total`
   * counts every match before limit/offset. Each store serves its page from its indexes; with
   * several stores the pages are merged.
   */
  async queryJobs (query: JobQuery = {}): Promise<{ jobs: JobInfo[], total: number }> {
    const { jobstore, limit, offset = 0, ...filters } = query
    const stores = Object.entries(this.#stores).filter(([alias]) => jobstore === undefined || jobstore === alias)
    if (stores.length === 1) {
      const [alias, store] = stores[0] as [string, JobStore]
      const page = await store.queryJobs({ ...filters, limit, offset })
      return { jobs: page.jobs.map((record) => jobToInfo(record, alias)), total: page.total }
    }
    // Each store's first offset + limit matches, merged: the page is among them.
    const merged: Array<{ record: JobRecord, alias: string }> = []
    let total = 0
    for (const [alias, store] of stores) {
      const page = await store.queryJobs({ ...filters, limit: limit === undefined ? undefined : offset + limit, offset: 0 })
      total += page.total
      for (const record of page.jobs) merged.push({ record, alias })
    }
    merged.sort((a, b) => compareListOrder(a.record, b.record))
    const end = limit === undefined ? undefined : offset + limit
    return { jobs: merged.slice(offset, end).map(({ record, alias }) => jobToInfo(record, alias)), total }
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
      ...record, paused: true, paused_reason: reason ?? null, next_run_time: null, next_fire_time: null, updated_at: this.#now()
    }), 'job_modified')
  }

  async resumeJob (id: string): Promise<JobInfo> {
    return await this.#update(id, (record) => {
      if (!record.paused) return record
      const next: JobRecord = { ...record, paused: false, paused_reason: null, updated_at: this.#now() }
      scheduleFromNow(next, this.#now())
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
    const { record, store, jobstore } = found
    // The check and the start are one step per job in this process: two requests cannot both pass.
    const previous = this.#manualGates.get(id) ?? Promise.resolve()
    const started = previous.then(async () => await this.#startManualRun(store, jobstore, record))
    const gate = started.then(() => {}, () => {})
    this.#manualGates.set(id, gate)
    void gate.then(() => { if (this.#manualGates.get(id) === gate) this.#manualGates.delete(id) })
    const { run, flight } = await started
    const info = jobToInfo(record, jobstore)
    if (!wait) return { job: info, run_id: run.run_id }
    const outcome = await flight.done()
    if (outcome.error !== null) throw Object.assign(new Error(outcome.error.message), { name: outcome.error.name, statusCode: 500 })
    return { job: (await this.getJob(id)) ?? info, run_id: run.run_id }
  }

  /**
   * Starts a manual run unless the job already runs max_instances instances (counted across every
   * process sharing the store: 409) or its executor already has its fill of manual runs waiting
   * for a slot (429), or as many runs wait or run as its history keeps (historyLimit, 429): manual
   * runs never crowd out scheduled fires, nor push the history past its limit.
   */
  async #startManualRun (store: JobStore, jobstore: string, record: JobRecord): Promise<{ run: RunRecord, flight: InFlight }> {
    const executor = this.#runner.executorOf(record)
    if (!executor.acceptsManual) {
      this.metrics.manualRefused.queue_full++
      throw Object.assign(new SchedulerStateError(`Too many manual runs are waiting for executor ${executor.name} (at most ${executor.manualQueueLimit}); try again later`, 429), { retryAfterSeconds: 1 })
    }
    const now = storeNow(store, this.clock)
    const live = (await store.getRuns(record.id)).filter((r) => r.status === 'running' && (r.lease_expires === null || r.lease_expires > now)).length
    const running = Math.max(live, this.#runner.inflightOf(record.id))
    if (running >= record.max_instances) {
      this.metrics.manualRefused.max_instances++
      throw new SchedulerStateError(`Job ${record.id} is already running ${running} instance${running === 1 ? '' : 's'}, its max_instances (${record.max_instances}); try again when a run has finished`, 409)
    }
    if (running >= this.historyLimit) {
      // Each run waiting or running is a history row: historyLimit of them fill the history.
      this.metrics.manualRefused.history_full++
      throw Object.assign(new SchedulerStateError(`Job ${record.id} already has ${running} runs waiting or running, as many as its history keeps (historyLimit ${this.historyLimit}); try again when a run has finished`, 429), { retryAfterSeconds: 1 })
    }
    const run = newRun(record, now, now, 'manual', this.nodeId, this.leaseMs)
    await store.insertRuns([run], this.historyLimit)
    const [flight] = this.#runner.submit(store, jobstore, record, [run], true)
    return { run, flight: flight as InFlight }
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
    return this.#fireTimes(found.record, count)
  }

  /** The next `count` fire times of a record (for a paused one: as if resumed now). */
  #fireTimes (record: JobRecord, count: number): string[] {
    const trigger = compileTrigger(record.trigger)
    const out: string[] = []
    let at = record.paused ? trigger.first(this.#now()) : record.next_fire_time
    while (at !== null && out.length < count) {
      out.push(formatDate(at, record.trigger.timezone))
      at = trigger.next(at)
    }
    return out
  }

  /** Stores that are not usable now (unreachable, or lost their data), by alias, with the reason. */
  async storeProblems (): Promise<Record<string, string>> {
    const out: Record<string, string> = {}
    for (const [alias, store] of Object.entries(this.#stores)) {
      if (store.health === undefined) continue
      try {
        const health = await store.health()
        if (!health.ok) out[alias] = health.reason ?? 'unavailable'
      } catch (err) {
        out[alias] = (err as Error).message
      }
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
    return { job: jobToInfo(record, jobstore), next_run_times: this.#fireTimes(record, count) }
  }

  /** Jobs overdue by more than their misfire grace (a health signal), at most `limit` per store. */
  async overdueJobs (limit = OVERDUE_LIST_LIMIT): Promise<string[]> {
    if (!this.#started || this.#cycle.paused) return []
    const out: string[] = []
    for (const store of Object.values(this.#stores)) out.push(...await store.overdueJobs(storeNow(store, this.clock), limit))
    return out
  }

  // ---------------------------------------------------------------- internals: helpers

  /**
   * The instant new schedules are computed from: the default store's time when it keeps its own
   * (Redis: the server's clock), so a process whose clock is off does not skip or repeat fires.
   */
  #now (): number {
    return storeNow(this.#cycle.defaultStore(), this.clock)
  }

  #context (): NormalizeContext {
    return {
      timezone: this.timezone,
      jobDefaults: this.#jobDefaults,
      tasks: this.tasks,
      jobstores: Object.keys(this.#stores),
      executors: [...this.#executors.keys()],
      now: this.#now()
    }
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

/** JOB_LIST_ORDER (src/store.ts): list rank, next run (none first), id. */
function compareListOrder (a: JobRecord, b: JobRecord): number {
  const rank = listRank(a) - listRank(b)
  if (rank !== 0) return rank
  const at = (a.next_run_time ?? -Infinity) - (b.next_run_time ?? -Infinity)
  if (at !== 0 && !Number.isNaN(at)) return at
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0
}
