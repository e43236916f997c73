/**
 * BullMQ 6 on Redis: per-second cron and interval jobs are job schedulers, one-shots are delayed
 * jobs. The due time is the scheduler's slot (`opts.prevMillis`) or the instant carried in the data.
 * Each run has its own queue; several processes of one run share the queue named by ctx.shared.
 */
import { randomBytes } from 'node:crypto'
import { Queue, Worker, type ConnectionOptions, type Job } from 'bullmq'
import { nowMs } from '../lib/clock.js'
import type { Adapter, AdapterContext, JobSpec } from './types.js'

const PREFIX = 'apsched-bench'
export const BULLMQ_CONCURRENCY = Number(process.env.BENCH_BULLMQ_CONCURRENCY ?? 100)

export function redisConnection (): ConnectionOptions {
  const url = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
  return { host: url.hostname, port: Number(url.port || 6379), maxRetriesPerRequest: null }
}

export class BullmqAdapter implements Adapter {
  readonly name = 'bullmq'
  #queue: Queue | null = null
  #worker: Worker | null = null
  #sharedRun = false

  async open (ctx: AdapterContext): Promise<void> {
    this.#sharedRun = ctx.shared !== ''
    const name = this.#sharedRun ? ctx.shared : `run-${process.pid}-${randomBytes(4).toString('hex')}`
    const connection = redisConnection()
    this.#queue = new Queue(name, { connection, prefix: PREFIX })
    await this.#queue.waitUntilReady()
    const onFire = ctx.onFire
    this.#worker = new Worker(name, async (job: Job<{ n: number, at?: number }>) => {
      const start = nowMs()
      const due = job.data.at ?? job.opts.prevMillis ?? Number(String(job.id).split(':').at(-1))
      onFire(job.data.n, due, start)
    }, { connection, prefix: PREFIX, concurrency: BULLMQ_CONCURRENCY, autorun: false })
  }

  async add (jobs: JobSpec[]): Promise<void> {
    const queue = this.#queue as Queue
    const opts = { removeOnComplete: true, removeOnFail: true }
    const once = jobs.flatMap((spec) => spec.kind === 'once' ? [spec] : [])
    if (once.length > 0) {
      const now = Date.now()
      await queue.addBulk(once.map((spec) => ({ name: 'once', data: { n: spec.n, at: spec.at }, opts: { ...opts, delay: Math.max(0, spec.at - now) } })))
    }
    await Promise.all(jobs.map(async (spec) => {
      try {
        if (spec.kind === 'cron-second') {
          await queue.upsertJobScheduler(`j${spec.n}`, { pattern: '* * * * * *' }, { name: 'cron', data: { n: spec.n }, opts })
        } else if (spec.kind === 'interval') {
          await queue.upsertJobScheduler(`j${spec.n}`, { every: spec.everyMs, startDate: spec.firstAt }, { name: 'every', data: { n: spec.n }, opts })
        }
      } catch (err) {
        // Several processes upsert the same schedulers into one queue: another one's iteration is already there.
        if (!this.#sharedRun || !/already exists/.test((err as Error).message)) throw err
      }
    }))
  }

  async start (): Promise<void> { void (this.#worker as Worker).run() }

  async close (): Promise<void> {
    await this.#worker?.close()
    if (!this.#sharedRun) await this.#queue?.obliterate({ force: true })
    await this.#queue?.close()
  }
}

/** Deletes a multi-process run's queue once its workers have closed. */
export async function dropBullmqQueue (name: string): Promise<void> {
  const queue = new Queue(name, { connection: redisConnection(), prefix: PREFIX })
  try {
    await queue.obliterate({ force: true })
  } finally {
    await queue.close()
  }
}
