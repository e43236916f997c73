import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { jobToInfo, type JobInfo } from '../job.js'
import type { TaskContext } from '../tasks.js'
import type { JobRecord, RunRecord } from '../types.js'

/** What a task's context reads of its run in flight. */
export interface TaskOf {
  readonly job: JobRecord
  readonly jobstore: string
  readonly run: RunRecord
  readonly signal: AbortSignal
}

/**
 * The context a task receives. What costs something per fire (copies of the arguments, the job
 * formatted for the API, a child logger) is built on first read, so a task that reads none of it
 * pays for none of it. Each is built once and then kept.
 */
export class LazyTaskContext implements TaskContext {
  readonly runId: string
  readonly fastify: FastifyInstance
  readonly #of: TaskOf
  readonly #parentLog: FastifyBaseLogger
  #args: unknown[] | undefined
  #kwargs: Record<string, unknown> | undefined
  #info: JobInfo | undefined
  #log: FastifyBaseLogger | undefined
  #date: Date | undefined

  /** `of`: the run in flight, which holds its job, run record and abort signal (no copies per fire). */
  constructor (of: TaskOf, fastify: FastifyInstance, log: FastifyBaseLogger) {
    this.#of = of
    this.runId = of.run.run_id
    this.fastify = fastify
    this.#parentLog = log
  }

  /** A copy: the task may change it without touching the stored job. */
  get args (): unknown[] { return (this.#args ??= copyJson(this.#of.job.args)) }
  get kwargs (): Record<string, unknown> { return (this.#kwargs ??= copyJson(this.#of.job.kwargs)) }
  get job (): JobInfo { return (this.#info ??= structuredClone(jobToInfo(this.#of.job, this.#of.jobstore))) }
  /** Aborts on shutdown, or when this process lost the run's lease. */
  get signal (): AbortSignal { return this.#of.signal }
  get scheduledAt (): Date { return (this.#date ??= new Date(this.#of.run.scheduled_at)) }
  get log (): FastifyBaseLogger { return (this.#log ??= this.#parentLog.child({ jobId: this.#of.job.id, runId: this.runId })) }
}

/**
 * A copy of JSON arguments: a shallow one when nothing in them is an object (the usual case).
 * Arrays are copied item by item: `slice` of a frozen array (a stored job's) takes V8's slow path.
 */
function copyJson<T extends unknown[] | Record<string, unknown>> (value: T): T {
  if (Array.isArray(value)) {
    const copy = new Array<unknown>(value.length)
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i]
      if (item !== null && typeof item === 'object') return structuredClone(value)
      copy[i] = item
    }
    return copy as T
  }
  for (const key in value) {
    const item = value[key]
    if (item !== null && typeof item === 'object') return structuredClone(value)
  }
  return { ...value }
}
