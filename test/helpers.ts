import Fastify, { type FastifyInstance } from 'fastify'
import scheduler, { ManualClock, MemoryStore, type SchedulerPluginOptions, type TaskContext } from '../src/index.js'

export const T0 = Date.UTC(2030, 0, 1, 0, 0, 0)

export interface Call { id: string, scheduledAt: number, at: number, args: unknown[], runId: string }

/** A Fastify app with the plugin on a ManualClock and a recording task `record`. */
export async function makeApp (opts: SchedulerPluginOptions & { start?: number } = {}): Promise<{
  app: FastifyInstance
  clock: ManualClock
  calls: Call[]
  logs: Array<Record<string, unknown>>
}> {
  const clock = (opts.clock as ManualClock | undefined) ?? new ManualClock(opts.start ?? T0)
  const calls: Call[] = []
  const logs: Array<Record<string, unknown>> = []
  const stream = { write: (line: string) => { logs.push(JSON.parse(line)) } }
  // A generous plugin timeout: registering takes seconds on a loaded machine (first compile of the routes).
  const app = Fastify({ pluginTimeout: 60_000, logger: { level: 'info', stream } })
  const { start: _start, ...pluginOpts } = opts
  await app.register(scheduler, {
    store: pluginOpts.jobstores === undefined ? (pluginOpts.store ?? new MemoryStore()) : undefined,
    ...pluginOpts,
    clock,
    tasks: {
      record: (ctx: TaskContext) => { calls.push({ id: ctx.job.id, scheduledAt: ctx.scheduledAt.getTime(), at: clock.now(), args: ctx.args, runId: ctx.runId }) },
      fail: () => { throw new TypeError('boom') },
      ...pluginOpts.tasks
    }
  })
  await app.ready()
  return { app, clock, calls, logs }
}

export function deferred<T = void> (): { promise: Promise<T>, resolve: (v: T) => void } {
  let resolve!: (v: T) => void
  const promise = new Promise<T>((r) => { resolve = r })
  return { promise, resolve }
}
