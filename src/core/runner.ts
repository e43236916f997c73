import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { Clock } from '../clock.js'
import type { Executor } from '../executor.js'
import { jobToInfo } from '../job.js'
import type { Metrics } from '../metrics.js'
import type { JobStore, RunResult } from '../store.js'
import type { TaskContext, TaskRegistry } from '../tasks.js'
import type { JobRecord, RunRecord } from '../types.js'

export interface RunOutcome { error: RunRecord['error'] }

/** A run handed to the runner, with the instant it was due (jitter included). */
export interface RunSubmission { run: RunRecord, dueAt: number }

interface InFlight {
  run: RunRecord
  store: JobStore
  controller: AbortController
  done: Promise<RunOutcome>
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
  emit: (event: string, payload: unknown) => void
}

/**
 * Runs what the claim cycle (or a manual run) decided: hands runs to their executor, calls the
 * task, records the result (fenced by this process's lease), renews the leases of running runs
 * every leaseMs / 3, and abandons what is left at shutdown.
 */
export class Runner {
  readonly #c: RunnerConfig
  readonly #inflight = new Map<string, InFlight>()
  #renewTimer: unknown = null

  constructor (config: RunnerConfig) {
    this.#c = config
  }

  get inflightCount (): number { return this.#inflight.size }

  /** Resolves when every run handed over so far has finished. */
  async settled (): Promise<void> {
    await Promise.all([...this.#inflight.values()].map((f) => f.done))
  }

  /**
   * Hands runs of one job to its executor as one instance: they take one slot and run one after
   * another. Each run's promise resolves with its outcome (never rejects).
   */
  submit (store: JobStore, jobstore: string, job: JobRecord, runs: RunSubmission[]): Array<Promise<RunOutcome>> {
    const { executors } = this.#c
    const executor = executors.get(job.executor) ?? executors.get('default') as Executor
    const queued = runs.map(({ run, dueAt }) => {
      const controller = new AbortController()
      let resolveDone!: (outcome: RunOutcome) => void
      const done = new Promise<RunOutcome>((resolve) => { resolveDone = resolve })
      this.#inflight.set(run.run_id, { run, store, controller, done })
      this.#c.emit('job_submitted', { job_id: job.id, jobstore, run_id: run.run_id, scheduled_run_time: new Date(run.scheduled_at) })
      return { run, dueAt, controller, done, resolveDone }
    })
    this.#ensureRenewal()
    executor.submit(async () => {
      for (const { run, dueAt, controller, resolveDone } of queued) {
        let outcome: RunOutcome = { error: null }
        try {
          outcome = await this.#execute(store, jobstore, job, run, dueAt, controller)
        } catch (err) {
          this.#c.log.error({ err, jobId: job.id }, 'failed to record a job run')
        } finally {
          this.#inflight.delete(run.run_id)
          resolveDone(outcome)
        }
      }
    })
    return queued.map((q) => q.done)
  }

  async #execute (store: JobStore, jobstore: string, job: JobRecord, run: RunRecord, dueAt: number, controller: AbortController): Promise<RunOutcome> {
    const { clock, nodeId, metrics, emit } = this.#c
    if (controller.signal.aborted) {
      // Abandoned (shutdown, or its lease was lost) while it waited for a slot: it never starts.
      return { error: { name: 'AbortError', message: 'the run was abandoned before it started', stack: null } }
    }
    const startedAt = clock.now()
    const graceMs = job.misfire_grace_time === null ? Infinity : job.misfire_grace_time * 1000
    if (run.trigger === 'scheduled' && startedAt - dueAt > graceMs) {
      // It waited in a busy executor past its grace. Fenced like any result: a lost lease records nothing.
      if (await store.finishRun(run.run_id, nodeId, { status: 'missed', started_at: null, finished_at: startedAt, error: null, duration_ms: null, lag_ms: null })) {
        metrics.recordRun('missed')
        emit('job_missed', { job_id: job.id, jobstore, scheduled_run_time: new Date(run.scheduled_at) })
      }
      return { error: null }
    }
    const lag = startedAt - run.scheduled_at
    if (run.trigger === 'scheduled') metrics.recordLag(lag)
    const log = this.#c.log.child({ jobId: job.id, runId: run.run_id })
    const fn = this.#c.tasks.get(job.func)
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
        fastify: this.#c.fastify,
        log,
        signal: controller.signal
      }
      retval = await fn(ctx)
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err))
      error = { name: e.name, message: e.message, stack: e.stack ?? null }
    }
    const finishedAt = clock.now()
    const result: RunResult = {
      status: error === null ? 'success' : 'error',
      started_at: startedAt,
      finished_at: finishedAt,
      error,
      duration_ms: finishedAt - startedAt,
      lag_ms: lag
    }
    if (!await store.finishRun(run.run_id, nodeId, result)) {
      log.warn('run finished after its lease was lost; its result is not recorded')
      return { error }
    }
    metrics.recordRun(result.status as 'success' | 'error')
    if (error === null) {
      emit('job_executed', { job_id: job.id, jobstore, run_id: run.run_id, scheduled_run_time: new Date(run.scheduled_at), retval, duration_ms: result.duration_ms })
    } else {
      log.error({ err: error }, 'job raised an error')
      emit('job_error', { job_id: job.id, jobstore, run_id: run.run_id, scheduled_run_time: new Date(run.scheduled_at), error })
    }
    return { error }
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

  async #renew (): Promise<void> {
    const { clock, leaseMs, nodeId, log } = this.#c
    const byStore = new Map<JobStore, string[]>()
    for (const flight of this.#inflight.values()) {
      const ids = byStore.get(flight.store) ?? []
      ids.push(flight.run.run_id)
      byStore.set(flight.store, ids)
    }
    const expires = clock.now() + leaseMs
    for (const [store, ids] of byStore) {
      try {
        const held = new Set(await store.renewRunLeases(nodeId, ids, expires))
        for (const id of ids) {
          const flight = this.#inflight.get(id)
          if (!held.has(id) && flight !== undefined && !flight.controller.signal.aborted) {
            log.warn({ jobId: flight.run.job_id, runId: id }, 'lost the lease of a running job; aborting it')
            flight.controller.abort(new Error('lease lost'))
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
    const pending = [...this.#inflight.values()]
    if (pending.length === 0) { this.#clearRenewTimer(); return }
    if (wait) {
      // A real-time bound even under a test clock: it limits how long a process may hang on close.
      let timer: NodeJS.Timeout | undefined
      const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, this.#c.shutdownTimeoutMs) })
      await Promise.race([Promise.all(pending.map((f) => f.done)), timeout])
      clearTimeout(timer)
    }
    const left = [...this.#inflight.values()]
    for (const flight of left) {
      flight.controller.abort(new Error('scheduler shutdown'))
      // Release the lease now rather than let another process wait for it to lapse.
      const now = clock.now()
      const recorded = await flight.store.finishRun(flight.run.run_id, nodeId, {
        status: 'abandoned', started_at: flight.run.started_at, finished_at: now, error: { name: 'AbortError', message: 'scheduler shut down before the run finished', stack: null }, duration_ms: null, lag_ms: null
      }).catch((err: unknown) => { log.error({ err }, 'could not release a run lease'); return false })
      if (recorded) metrics.recordRun('abandoned')
      this.#inflight.delete(flight.run.run_id)
    }
    this.#clearRenewTimer()
  }
}
