import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { jobToInfo, type JobInfo } from '../job.js'
import type { TaskContext } from '../tasks.js'
import type { JobRecord, RunRecord } from '../types.js'

/**
 * The context a task receives. What costs something per fire (copies of the arguments, the job
 * formatted for the API, a child logger) is built on first read, so a task that reads none of it
 * pays for none of it. Each is built once and then kept.
 */
export class LazyTaskContext implements TaskContext {
  readonly runId: string
  readonly fastify: FastifyInstance
  readonly #job: JobRecord
  readonly #abort: { readonly signal: AbortSignal }
  readonly #jobstore: string
  readonly #scheduledAt: number
  readonly #parentLog: FastifyBaseLogger
  #args: unknown[] | undefined
  #kwargs: Record<string, unknown> | undefined
  #info: JobInfo | undefined
  #log: FastifyBaseLogger | undefined
  #date: Date | undefined

  constructor (job: JobRecord, jobstore: string, run: RunRecord, fastify: FastifyInstance, log: FastifyBaseLogger, abort: { readonly signal: AbortSignal }) {
    this.#job = job
    this.#jobstore = jobstore
    this.runId = run.run_id
    this.#scheduledAt = run.scheduled_at
    this.fastify = fastify
    this.#parentLog = log
    this.#abort = abort
  }

  /** A copy: the task may change it without touching the stored job. */
  get args (): unknown[] { return (this.#args ??= copyJson(this.#job.args)) }
  get kwargs (): Record<string, unknown> { return (this.#kwargs ??= copyJson(this.#job.kwargs)) }
  get job (): JobInfo { return (this.#info ??= structuredClone(jobToInfo(this.#job, this.#jobstore))) }
  /** Aborts on shutdown, or when this process lost the run's lease. */
  get signal (): AbortSignal { return this.#abort.signal }
  get scheduledAt (): Date { return (this.#date ??= new Date(this.#scheduledAt)) }
  get log (): FastifyBaseLogger { return (this.#log ??= this.#parentLog.child({ jobId: this.#job.id, runId: this.runId })) }
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
