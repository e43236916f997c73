import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { Clock } from '../clock.js'
import type { Executor, Work } from '../executor.js'
import type { Metrics } from '../metrics.js'
import type { JobStore, RunFinish, RunResult } from '../store.js'
import type { TaskRegistry } from '../tasks.js'
import { describeThrown } from './task-error.js'
import type { JobRecord, RunRecord } from '../types.js'
import { storeNow, toLocalTime } from './store-clock.js'
import { LazyTaskContext } from './task-context.js'
import { dueAtOf } from './fire-decision.js'
import { earlyDelay } from './early-wake.js'

/** Finished runs written in one store call at most (group commit). */
const MAX_FINISH_BATCH = 500
/** How long before a wave decided ahead its runs are read once, so that their memory is warm when it starts. */
const WARM_LEAD_MS = 4
/** Instances (a job's runs of one instant) read per millisecond of lead on top of that: cold, 20,000 took about 18 ms. */
const WARM_RUNS_PER_MS = 1000

export interface RunOutcome { error: RunRecord['error'] }

function isThenable (value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as PromiseLike<unknown>).then === 'function'
}

/** What became of a finished run's write: written, refused (the lease was lost), or the store failed. */
type Recorded = boolean | { failed: unknown }

interface PendingFinish extends RunFinish {
  written: (recorded: Recorded) => void
}

/** What a flight calls back in its runner: the same two functions for every flight. */
interface FlightHooks {
  start: (flight: InFlight) => Promise<void> | undefined
  recorded: (flight: InFlight, recorded: Recorded) => void
}

/**
 * A run handed to the runner, until its result is written. The abort signal and the outcome
 * promise are made only when someone asks for them (most tasks never read `signal`, and only a
 * manual run with `wait` awaits its outcome). A flight is also its own executor work and, once
 * its task returned, its own group-commit entry: starting and finishing a fire allocate no object
 * for either, which keeps a wave of thousands of fires from filling the young generation.
 */
export class InFlight implements Work, PendingFinish, RunResult {
  readonly run: RunRecord
  readonly store: JobStore
  /** When it is due to start (jitter included): its misfire grace counts from here. */
  readonly dueAt: number
  readonly job: JobRecord
  readonly jobstore: string
  /**
   * The other runs of its instance (catch-up fires of one job, run one after another), itself
   * included; null for the usual instance of one run, which is then the flight itself.
   */
  readonly group: InFlight[] | null
  aborted = false
  /** Started by its executor; or recorded missed while it waited for a slot. */
  started = false
  expired = false
  /** Records it missed if it still waits for a slot when its grace ends. */
  graceTimer: unknown = null
  /** Decided ahead: waits for its time before it goes to its executor. */
  deferred = false
  /** Links of the runner's in-flight list (no map entry to add and drop per fire). */
  prev: InFlight | null = null
  next: InFlight | null = null
  listed = false
  #reason: unknown
  #controller: AbortController | null = null
  #settled = false
  /** The outcome's error, kept bare: an outcome object is made only for a caller who awaits it. */
  #error: RunRecord['error'] = null
  #waiters: Array<(outcome: RunOutcome) => void> | null = null
  readonly #hooks: FlightHooks
  // Its result (RunResult), set when its task returned. Non-integer initial values give the times
  // double fields, made here and written in place: finishing a fire allocates no number.
  status: 'success' | 'error' = 'success'
  started_at = 0.5
  finished_at = 0.5
  duration_ms = 0.5
  lag_ms = 0.5
  error: RunRecord['error'] = null
  /** The task's return value, for job_executed; dropped once the result is written. */
  retval: unknown = undefined

  constructor (run: RunRecord, store: JobStore, dueAt: number, job: JobRecord, jobstore: string, group: InFlight[] | null, hooks: FlightHooks) {
    this.run = run
    this.store = store
    this.dueAt = dueAt
    this.job = job
    this.jobstore = jobstore
    this.group = group
    this.#hooks = hooks
  }

  get runId (): string { return this.run.run_id }
  get jobId (): string { return this.run.job_id }
  get result (): RunResult { return this }

  /** Executor work: starts this run (the usual instance of one run). */
  start (): Promise<void> | undefined { return this.#hooks.start(this) }

  written (recorded: Recorded): void { this.#hooks.recorded(this, recorded) }

  get signal (): AbortSignal {
    if (this.#controller === null) {
      this.#controller = new AbortController()
      if (this.aborted) this.#controller.abort(this.#reason)
    }
    return this.#controller.signal
  }

  abort (reason: unknown): void {
    if (this.aborted) return
    this.aborted = true
    this.#reason = reason
    this.#controller?.abort(reason)
  }

  /** Resolves with the run's outcome once its result is written (never rejects). */
  async done (): Promise<RunOutcome> {
    if (this.#settled) return { error: this.#error }
    return await new Promise<RunOutcome>((resolve) => { (this.#waiters ??= []).push(resolve) })
  }

  settle (error: RunRecord['error']): void {
    this.#settled = true
    this.#error = error
    if (this.#waiters === null) return
    for (const resolve of this.#waiters) resolve({ error })
    this.#waiters = null
  }
}

/** The runs in flight, as an intrusive list: adding and removing one allocates nothing. */
class FlightList {
  #head: InFlight | null = null
  size = 0

  add (flight: InFlight): void {
    flight.next = this.#head
    flight.prev = null
    if (this.#head !== null) this.#head.prev = flight
    this.#head = flight
    flight.listed = true
    this.size++
  }

  delete (flight: InFlight): void {
    if (!flight.listed) return
    if (flight.prev !== null) flight.prev.next = flight.next
    else this.#head = flight.next
    if (flight.next !== null) flight.next.prev = flight.prev
    flight.prev = flight.next = null
    flight.listed = false
    this.size--
  }

  /** A snapshot, so that runs may settle while it is walked. */
  toArray (): InFlight[] {
    const out: InFlight[] = []
    for (let f = this.#head; f !== null; f = f.next) out.push(f)
    return out
  }
}

export interface RunnerConfig {
  nodeId: string
  leaseMs: number
  clock: Clock
  log: FastifyBaseLogger
  metrics: Metrics
  tasks: TaskRegistry
  fastify: FastifyInstance
  executors: ReadonlyMap<string, Executor>
  /** How long `stop(true)` waits for running tasks before abandoning them. */
  shutdownTimeoutMs: number
  /** Emits an event; the payload is built only when the event has listeners. */
  emit: (event: string, payload: () => unknown) => void
  /** Whether an event has listeners: the hot path builds no payload (nor closure) for none. */
  listening: (event: string) => boolean
}

/**
 * Runs what the claim cycle (or a manual run) decided: hands runs to their executor, calls the
 * task, records the result (fenced by this process's lease), renews the leases of running runs
 * every leaseMs / 3, and abandons what is left at shutdown.
 */
export class Runner {
  readonly #c: RunnerConfig
  readonly #inflight = new FlightList()
  /** Instances decided ahead of their time: per store, per due instant (store time), with its timer. */
  readonly #starts = new Map<JobStore, Map<number, { due: InFlight[], timer: unknown }>>()
  /** Runs in #inflight that were decided ahead and wait in #starts. */
  #deferred = 0
  readonly #idleWaiters: Array<() => void> = []
  /** Finished runs waiting for their group commit, per store. */
  readonly #finishing = new Map<JobStore, PendingFinish[]>()
  /** Group commits under way, per store. */
  readonly #writing = new Map<JobStore, Set<Promise<void>>>()
  #flushScheduled = false
  #renewTimer: unknown = null
  readonly #hooks: FlightHooks = {
    start: (flight) => this.#start(flight),
    recorded: (flight, recorded) => {
      const { retval } = flight
      flight.retval = undefined
      this.#settle(flight, this.#afterRecord(flight, flight, retval, recorded))
    }
  }

  /** What the last warm-up read (kept, so that its reads are not optimised away). */
  #warmth = 0
  /** Per store, a lower bound of the lease expiries of our runs in flight there (store time). */
  readonly #leasedUntil = new Map<JobStore, number>()

  constructor (config: RunnerConfig) {
    this.#c = config
  }

  /** Runs started or waiting for a slot; not those decided ahead and waiting for their time. */
  get inflightCount (): number { return this.#inflight.size - this.#deferred }

  /** Resolves when no run is in flight (runs decided ahead that wait for their time do not count). */
  async settled (): Promise<void> {
    if (this.inflightCount === 0) return
    await new Promise<void>((resolve) => this.#idleWaiters.push(resolve))
  }

  /**
   * Hands runs of one job to its executor as one instance: they take one slot and run one after
   * another. Returns their handles (`done()` resolves with a run's outcome).
   */
  submit (store: JobStore, jobstore: string, job: JobRecord, runs: RunRecord[], manual = false): InFlight[] {
    const flights: InFlight[] = new Array(runs.length)
    const group = runs.length === 1 ? null : flights
    for (let i = 0; i < runs.length; i++) {
      const run = runs[i] as RunRecord
      // A manual run is due when asked for; a scheduled one when its fire is (jitter included).
      const flight = new InFlight(run, store, manual ? run.scheduled_at : dueAtOf(job, run), job, jobstore, group, this.#hooks)
      flights[i] = flight
      this.#inflight.add(flight)
    }
    const lease = runs[0]?.lease_expires ?? null
    if (lease !== null && !(lease >= (this.#leasedUntil.get(store) ?? Infinity))) this.#leasedUntil.set(store, lease)
    this.#ensureRenewal()
    const first = flights[0] as InFlight
    // A fire decided ahead of its time (a store that claims ahead) goes to its executor when due.
    const wait = manual ? 0 : first.dueAt - storeNow(store, this.#c.clock)
    if (wait > 0) {
      this.#deferred += flights.length
      for (const flight of flights) flight.deferred = true
      // The instance itself waits (no closure per fire): it lives until its time, so it is kept small.
      this.#startAt(store, first.dueAt, first)
    } else {
      this.#hand(first, manual)
    }
    return flights
  }

  /** Gives an instance (its first flight) to its executor, and arms the grace timers of runs that must wait for a slot. */
  #hand (first: InFlight, manual: boolean, announce = this.#c.listening('job_submitted')): void {
    const { job, store, jobstore, group } = first
    const executor = this.executorOf(job)
    // Submitted when it goes to its executor: a fire decided ahead, at its time.
    if (announce) for (const flight of group ?? [first]) this.#emitRun('job_submitted', job, jobstore, flight.run)
    // The usual instance is its flight; a group's work is made when due, not when decided.
    const work: Work = group === null
      ? first
      : { start: async (): Promise<void> => { for (const flight of group) await this.#start(flight) } }
    // With a free slot the first run starts (and a task that does not await finishes) in here.
    executor.submit(work, manual)
    // A scheduled fire still waiting for a slot when its grace ends is recorded missed then, not
    // whenever a slot frees up (which could be never, with every slot held by hung tasks).
    const graceMs = job.misfire_grace_time === null ? Infinity : job.misfire_grace_time * 1000
    if (manual || !Number.isFinite(graceMs)) return
    // By index, and the timers armed apart: the usual fire, started already, allocates nothing here.
    const count = group === null ? 1 : group.length
    for (let i = 0; i < count; i++) {
      const flight = group === null ? first : group[i] as InFlight
      if (!flight.started && flight.run.trigger === 'scheduled') this.#armGrace(flight, graceMs, executor, work)
    }
  }

  /** Records a fire missed if it still waits for a slot when its grace ends. */
  #armGrace (flight: InFlight, graceMs: number, executor: Executor, work: Work): void {
    const { job, store, jobstore, group } = flight
    const wait = flight.dueAt + graceMs - storeNow(store, this.#c.clock)
    flight.graceTimer = this.#c.clock.setTimeout(() => {
      flight.graceTimer = null
      if (flight.started || flight.expired) return
      flight.expired = true
      if (group === null || group.every((f) => f.expired)) executor.withdraw(work)
      void this.#recordMissed(store, jobstore, job, flight.run, storeNow(store, this.#c.clock)).then((error) => { this.#settle(flight, error) })
    }, Math.max(0, wait))
  }

  /**
   * Hands instances to their executor at `due` (store time), never before: one timer per instant,
   * however many fires share it (so a wave starts in one go, before any other work). Instances
   * meet by their due instant, not by the timer's time on our clock, which would differ by a
   * millisecond when the clocks were read either side of a tick. The timer is armed early (see
   * early-wake.ts) and waits out the rest, so a long sleep's lateness does not land on the wave.
   */
  #startAt (store: JobStore, due: number, first: InFlight): void {
    let instants = this.#starts.get(store)
    if (instants === undefined) { instants = new Map(); this.#starts.set(store, instants) }
    const waiting = instants.get(due)
    if (waiting !== undefined) { waiting.due.push(first); return }
    const entry = { due: [first], timer: null as unknown }
    instants.set(due, entry)
    const at = toLocalTime(due, store, this.#c.clock)
    let warmed = false
    const arm = (): void => {
      // A large wave takes a while to read: it starts reading earlier, and still ends before its time.
      const target = warmed ? at : at - WARM_LEAD_MS - entry.due.length / WARM_RUNS_PER_MS
      entry.timer = this.#c.clock.setTimeout(() => {
        if (this.#c.clock.now() < target) { arm(); return }
        if (!warmed) {
          warmed = true
          try {
            this.#warmth = touchWave(entry.due)
          } catch {
            // Only a speed-up: whatever it met must not keep the wave from starting.
          }
          if (this.#c.clock.now() < at) { arm(); return }
        }
        instants.delete(due)
        // Asked once per wave, not per fire (a listener added by a task meanwhile hears the next wave).
        const announce = this.#c.listening('job_submitted')
        for (const instance of entry.due) {
          const flights = instance.group
          if (flights === null) instance.deferred = false
          else for (const flight of flights) flight.deferred = false
          this.#deferred -= flights === null ? 1 : flights.length
          try {
            this.#hand(instance, false, announce)
          } catch (err) {
            this.#c.log.error({ err }, 'failed to start a job run')
          }
        }
      }, earlyDelay(target - this.#c.clock.now()))
    }
    arm()
  }

  /** The executor a job runs on. */
  executorOf (job: JobRecord): Executor {
    const { executors } = this.#c
    return executors.get(job.executor) ?? executors.get('default') as Executor
  }

  /** Live runs of a job in this process (started or waiting for a slot). */
  inflightOf (jobId: string): number {
    let n = 0
    for (const flight of this.#inflight.toArray()) if (flight.run.job_id === jobId) n++
    return n
  }

  /**
   * Writes the finished runs of `store` that wait for their group commit, and waits for writes
   * already under way. The claim cycle calls it before claiming: a run that finished before the
   * claim must not count against max_instances because its result was not written yet.
   */
  async flushFinished (store: JobStore): Promise<void> {
    const pending = this.#finishing.get(store)
    if (pending !== undefined) {
      this.#finishing.delete(store)
      void this.#flush(store, pending)
    }
    const writing = this.#writing.get(store)
    if (writing !== undefined) await Promise.all(writing)
  }

  /** Records a scheduled run that could not start within its grace as missed (event and metric). */
  async #recordMissed (store: JobStore, jobstore: string, job: JobRecord, run: RunRecord, now: number): Promise<RunRecord['error']> {
    const recorded = await new Promise<Recorded>((resolve) => {
      this.#record(store, { runId: run.run_id, jobId: run.job_id, result: { status: 'missed', started_at: null, finished_at: now, error: null, duration_ms: null, lag_ms: null }, written: resolve })
    })
    if (typeof recorded === 'object') {
      this.#c.log.error({ err: recorded.failed, jobId: job.id, runId: run.run_id }, 'failed to record a job run')
      return describeThrown(recorded.failed)
    }
    if (recorded) {
      this.#c.metrics.recordRun('missed')
      this.#c.emit('job_missed', () => ({ job_id: job.id, jobstore, scheduled_run_time: new Date(run.scheduled_at) }))
      this.#c.log.warn({ jobId: job.id, scheduledAt: new Date(run.scheduled_at).toISOString() }, 'job fire missed: no executor slot within misfire_grace_time')
    }
    return null
  }

  #settle (flight: InFlight, error: RunRecord['error']): void {
    this.#inflight.delete(flight)
    flight.settle(error)
    if (this.#inflight.size === 0) this.#leasedUntil.clear()
    if (this.inflightCount === 0) for (const resolve of this.#idleWaiters.splice(0)) resolve()
  }

  /**
   * Starts one run in its executor slot, unless it was recorded missed while it waited. Returns
   * a promise only while the slot stays taken (a task that returned one and has not settled):
   * a task that returns at once is run and its result queued without a promise made for it.
   */
  #start (flight: InFlight): Promise<void> | undefined {
    if (flight.expired) return undefined
    const { job, jobstore } = flight
    flight.started = true
    if (flight.graceTimer !== null) {
      this.#c.clock.clearTimeout(flight.graceTimer)
      flight.graceTimer = null
    }
    try {
      return this.#execute(jobstore, job, flight)
    } catch (err) {
      this.#c.log.error({ err, jobId: job.id, runId: flight.run.run_id }, 'failed to run a job')
      this.#settle(flight, describeThrown(err))
      return undefined
    }
  }

  /** Runs one task and queues its result for the group commit; the flight settles once it is written. */
  #execute (jobstore: string, job: JobRecord, flight: InFlight): Promise<void> | undefined {
    const { run, store } = flight
    if (flight.aborted) {
      // Abandoned (shutdown, or its lease was lost) while it waited for a slot: it never starts.
      this.#settle(flight, { name: 'AbortError', message: 'the run was abandoned before it started', stack: null })
      return undefined
    }
    const startedAt = storeNow(store, this.#c.clock)
    const graceMs = job.misfire_grace_time === null ? Infinity : job.misfire_grace_time * 1000
    if (run.trigger === 'scheduled' && startedAt - flight.dueAt > graceMs) {
      // It waited in a busy executor past its grace. Fenced like any result: a lost lease records nothing.
      return this.#recordMissed(store, jobstore, job, run, startedAt).then((error) => { this.#settle(flight, error) })
    }
    const lag = startedAt - run.scheduled_at
    if (run.trigger === 'scheduled') this.#c.metrics.recordLag(lag)
    const fn = this.#c.tasks.get(job.func)
    const ctx = new LazyTaskContext(flight, this.#c.fastify, this.#c.log)
    let retval: unknown
    try {
      if (fn === undefined) throw new Error(`Task '${job.func}' is not registered in this process`)
      retval = fn(ctx)
    } catch (err) {
      this.#finish(flight, startedAt, lag, describeThrown(err), undefined)
      return undefined
    }
    if (isThenable(retval)) return this.#finishAsync(flight, ctx, startedAt, lag, retval)
    this.#finish(flight, startedAt, lag, null, retval)
    return undefined
  }

  async #finishAsync (flight: InFlight, ctx: LazyTaskContext, startedAt: number, lag: number, task: PromiseLike<unknown>): Promise<void> {
    let error: RunRecord['error'] = null
    let retval: unknown
    try {
      retval = await this.#awaitTask(flight.job, flight, ctx, task)
    } catch (err) {
      error = describeThrown(err)
    }
    this.#finish(flight, startedAt, lag, error, retval)
  }

  /** Queues a finished task's result for the group commit; the flight settles once it is written. */
  #finish (flight: InFlight, startedAt: number, lag: number, error: RunRecord['error'], retval: unknown): void {
    const store = flight.store
    const finishedAt = storeNow(store, this.#c.clock)
    flight.status = error === null ? 'success' : 'error'
    flight.started_at = startedAt
    flight.finished_at = finishedAt
    flight.duration_ms = finishedAt - startedAt
    flight.lag_ms = lag
    flight.error = error
    flight.retval = retval
    // The executor slot is free once the task returned; the result is written with others.
    this.#record(store, flight)
  }

  /** Awaits a task's promise, within the job's `timeout` when it has one. */
  async #awaitTask (job: JobRecord, flight: InFlight, ctx: LazyTaskContext, task: PromiseLike<unknown>): Promise<unknown> {
    const timeoutMs = job.timeout === undefined || job.timeout === null ? null : job.timeout * 1000
    if (timeoutMs === null) return await task
    const { metrics } = this.#c
    let timer: unknown = null
    let timedOut = false
    try {
      // The slot is freed when the timeout passes, whether or not the task heeds its signal.
      return await Promise.race([task, new Promise<never>((_resolve, reject) => {
        timer = this.#c.clock.setTimeout(() => {
          timer = null
          timedOut = true
          const reason = new DOMException(`the task did not finish within its timeout of ${String(job.timeout)} s`, 'TimeoutError')
          flight.abort(reason)
          reject(reason)
        }, timeoutMs)
      })])
    } finally {
      if (timer !== null) this.#c.clock.clearTimeout(timer)
      if (timedOut) {
        metrics.timeouts++
        metrics.overrunning++
        ctx.log.warn({ timeout: job.timeout }, 'job run timed out: its signal was aborted and its executor slot freed')
        // Counted until the task settles: one that ignores its signal may never do so.
        Promise.resolve(task).then(() => {}, () => {}).finally(() => { metrics.overrunning-- })
      }
    }
  }

  /** Metrics, events and logs of a run whose result write came back; the error a waiting caller hears. */
  #afterRecord (flight: InFlight, result: RunResult, retval: unknown, recorded: Recorded): RunRecord['error'] {
    const { run, job, jobstore } = flight
    // The task's logger, made again only for what is logged (the task context is not kept until the write).
    const runLog = (): FastifyBaseLogger => this.#c.log.child({ jobId: job.id, runId: run.run_id })
    const { error } = result
    if (typeof recorded === 'object') {
      // The store could not record the run: a waiting caller hears it rather than a success.
      this.#c.log.error({ err: recorded.failed, jobId: job.id, runId: run.run_id }, 'failed to record a job run')
      return describeThrown(recorded.failed)
    }
    if (!recorded) {
      runLog().warn('run finished after its lease was lost; its result is not recorded')
      return error
    }
    this.#c.metrics.recordRun(result.status as 'success' | 'error')
    if (error === null) {
      if (this.#c.listening('job_executed')) this.#emitRun('job_executed', job, jobstore, run, { retval, duration_ms: result.duration_ms })
    } else {
      runLog().error({ err: error }, 'job raised an error')
      this.#emitRun('job_error', job, jobstore, run, { error })
    }
    return error
  }

  /** A run's event; its own method, so that callers allocate no closure when nobody listens. */
  #emitRun (event: string, job: JobRecord, jobstore: string, run: RunRecord, extra?: Record<string, unknown>): void {
    this.#c.emit(event, () => ({ job_id: job.id, jobstore, run_id: run.run_id, scheduled_run_time: new Date(run.scheduled_at), ...extra }))
  }

  /**
   * Queues a run's result for the next group commit (one store call for every run that finished
   * in the same turn of the event loop, or MAX_FINISH_BATCH of them). `written` hears whether the
   * store wrote it (false: the lease was lost), or how the store failed.
   */
  #record (store: JobStore, finish: PendingFinish): void {
    let pending = this.#finishing.get(store)
    if (pending === undefined) {
      pending = []
      this.#finishing.set(store, pending)
    }
    pending.push(finish)
    if (pending.length >= MAX_FINISH_BATCH) {
      this.#finishing.delete(store)
      // Not inline: a burst of tasks starting in one turn (fires decided ahead) starts first.
      const batch = pending
      queueMicrotask(() => { void this.#flush(store, batch) })
    } else if (!this.#flushScheduled) {
      this.#flushScheduled = true
      setImmediate(() => {
        this.#flushScheduled = false
        const all = [...this.#finishing]
        this.#finishing.clear()
        for (const [s, batch] of all) void this.#flush(s, batch)
      })
    }
  }

  async #flush (store: JobStore, batch: PendingFinish[]): Promise<void> {
    let writing = this.#writing.get(store)
    if (writing === undefined) {
      writing = new Set()
      this.#writing.set(store, writing)
    }
    const write = this.#write(store, batch)
    writing.add(write)
    await write
    writing.delete(write)
    if (writing.size === 0) this.#writing.delete(store)
  }

  async #write (store: JobStore, batch: PendingFinish[]): Promise<void> {
    const { nodeId } = this.#c
    let written: boolean[]
    try {
      // The pending entries are RunFinish objects already (their callback is not the store's business).
      written = await store.finishRuns(nodeId, batch)
    } catch {
      // One bad write must not lose the batch: each on its own.
      for (const f of batch) {
        let recorded: Recorded
        try {
          recorded = (await store.finishRuns(nodeId, [{ runId: f.runId, jobId: f.jobId, result: f.result }]))[0] === true
        } catch (err) {
          recorded = { failed: err }
        }
        f.written(recorded)
      }
      return
    }
    for (let i = 0; i < batch.length; i++) (batch[i] as PendingFinish).written(written[i] === true)
  }

  /** Renews this process's run leases every leaseMs/3 while anything runs. */
  #ensureRenewal (): void {
    if (this.#renewTimer !== null) return
    this.#renewTimer = this.#c.clock.setTimeout(() => {
      this.#renewTimer = null
      void this.#renew().finally(() => { if (this.#inflight.size > 0) this.#ensureRenewal() })
    }, Math.floor(this.#c.leaseMs / 3))
  }

  #clearRenewTimer (): void {
    if (this.#renewTimer !== null) this.#c.clock.clearTimeout(this.#renewTimer)
    this.#renewTimer = null
  }

  /**
   * Renews our leases in `store` at once when one of them is due for renewal by `now` (store time):
   * the renewal timer ran late, or the wall clock stepped forward. The claim cycle calls it before
   * it expires lapsed leases, so a process never expires its own live runs.
   */
  async renewLapsing (store: JobStore, now: number): Promise<void> {
    const until = this.#leasedUntil.get(store)
    if (until === undefined || until - now >= this.#c.leaseMs / 3) return
    await this.#renew(store)
  }

  async #renew (only?: JobStore): Promise<void> {
    const { clock, leaseMs, nodeId, log } = this.#c
    const byStore = new Map<JobStore, InFlight[]>()
    for (const flight of this.#inflight.toArray()) {
      if (only !== undefined && flight.store !== only) continue
      const flights = byStore.get(flight.store) ?? []
      flights.push(flight)
      byStore.set(flight.store, flights)
    }
    if (only !== undefined && !byStore.has(only)) this.#leasedUntil.delete(only)
    for (const [store, flights] of byStore) {
      try {
        const expires = storeNow(store, clock) + leaseMs
        const held = new Set(await store.renewRunLeases(nodeId, flights.map((f) => f.run.run_id), expires))
        this.#leasedUntil.set(store, expires)
        for (const flight of flights) {
          if (!held.has(flight.run.run_id) && flight.listed && !flight.aborted) {
            log.warn({ jobId: flight.run.job_id, runId: flight.run.run_id }, 'lost the lease of a running job; aborting it')
            flight.abort(new Error('lease lost'))
          }
        }
      } catch (err) {
        log.error({ err }, 'could not renew run leases')
      }
    }
  }

  /** Stops running: with `wait`, lets running tasks finish (bounded), then abandons the rest. */
  async stop (wait: boolean): Promise<void> {
    const { clock, nodeId, log, metrics } = this.#c
    // Fires decided ahead that have not gone to their executor never start now: they are
    // abandoned below with whatever is still running, not waited for.
    for (const instants of this.#starts.values()) for (const { timer } of instants.values()) this.#c.clock.clearTimeout(timer)
    this.#starts.clear()
    this.#deferred = 0
    if (this.#inflight.size === 0) { this.#clearRenewTimer(); return }
    const pending = this.#inflight.toArray().filter((f) => !f.deferred)
    if (wait && pending.length > 0) {
      // A real-time bound even under a test clock: it limits how long a process may hang on close.
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, this.#c.shutdownTimeoutMs) })
      await Promise.race([Promise.all(pending.map(async (f) => await f.done())), timeout])
      clearTimeout(timer)
    }
    const byStore = new Map<JobStore, InFlight[]>()
    for (const flight of this.#inflight.toArray()) {
      flight.abort(new Error('scheduler shutdown'))
      // Pushed, not copied: thousands of runs decided ahead may be in flight.
      const flights = byStore.get(flight.store)
      if (flights === undefined) byStore.set(flight.store, [flight])
      else flights.push(flight)
    }
    // Release the leases now rather than let another process wait for them to lapse.
    for (const [store, flights] of byStore) {
      const now = storeNow(store, clock)
      const finishes = flights.map(({ run }) => ({
        runId: run.run_id,
        jobId: run.job_id,
        result: {
          status: 'abandoned' as const, started_at: run.started_at, finished_at: now, error: { name: 'AbortError', message: 'scheduler shut down before the run finished', stack: null }, duration_ms: null, lag_ms: null
        }
      }))
      const recorded = await store.finishRuns(nodeId, finishes)
        .catch((err: unknown) => { log.error({ err }, 'could not release run leases'); return [] as boolean[] })
      for (const ok of recorded) if (ok) metrics.recordRun('abandoned')
      for (const flight of flights) this.#settle(flight, { name: 'AbortError', message: 'scheduler shut down before the run finished', stack: null })
    }
    this.#clearRenewTimer()
  }
}

/**
 * Reads a field of each object a wave's start reads (its flights, their runs, jobs and arguments).
 * On a virtual machine, memory not touched for a second is slow to reach again (its page-table
 * entries have left the caches). On a 2-core VM here, 1,000 no-op runs took 7 ms to start
 * cold and 2 ms after this read.
 */
function touchWave (instances: InFlight[]): number {
  let sum = 0
  for (const first of instances) {
    const count = first.group === null ? 1 : first.group.length
    for (let i = 0; i < count; i++) {
      const flight = first.group === null ? first : first.group[i] as InFlight
      sum += flight.run.scheduled_at + flight.job.version + flight.job.args.length
    }
  }
  return sum
}
