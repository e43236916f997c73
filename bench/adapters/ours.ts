/** fastify-apscheduler as a Fastify plugin, on any of its stores. */
import { basename, join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import type { JobDefinition, JobStore, TaskContext } from '../../src/index.js'
import { lib } from '../lib/ours-lib.js'
import { nowMs } from '../lib/clock.js'
import type { Adapter, AdapterContext, JobSpec } from './types.js'

/** How each store is made for a scenario run; a new store adds one line here and one in adapters/index.ts. */
export const ourStores: Record<string, (ctx: { dir: string, shared: string }) => JobStore> = {
  'ours-memory': () => new lib.MemoryStore(),
  // In a multi-process run `shared` is the one file every process opens.
  'ours-sqlite': (ctx) => new lib.SqliteStore({ path: ctx.shared !== '' ? ctx.shared : join(ctx.dir, 'bench.sqlite') }),
  // REDIS_URL (default 127.0.0.1:6379); keys under {apsched-bench-<run>}, deleted afterwards.
  'ours-redis': (ctx) => new lib.RedisStore({ url: process.env.REDIS_URL, prefix: redisPrefix(ctx) })
}

export function redisPrefix (ctx: { dir: string, shared: string }): string {
  return `apsched-bench-${ctx.shared !== '' ? basename(ctx.shared) : basename(ctx.dir)}`
}

/** Deletes every key of one bench prefix. */
export async function dropRedisPrefix (prefix: string): Promise<void> {
  const client = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
  try {
    let cursor = '0'
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `{${prefix}}:*`, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) await client.del(...keys)
    } while (cursor !== '0')
  } finally {
    client.disconnect()
  }
}

/** The Redis server's CPU seconds (user + system) so far, to report its share beside ours. */
export async function redisCpuSeconds (): Promise<number> {
  const client = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')
  try {
    const info = await client.info('cpu')
    const get = (key: string): number => Number(new RegExp(`${key}:([0-9.]+)`).exec(info)?.[1] ?? NaN)
    return get('used_cpu_user') + get('used_cpu_sys')
  } finally {
    client.disconnect()
  }
}

/** Executor slots for every run of ours: tasks return at once, so slots only bound the batch in flight. */
export const OURS_CONCURRENCY = Number(process.env.BENCH_OURS_CONCURRENCY ?? 100)

export function jobDefinition (spec: JobSpec, graceSeconds?: number): JobDefinition {
  const base = { id: `j${spec.n}`, func: 'noop', args: [spec.n], ...(graceSeconds === undefined ? {} : { misfire_grace_time: graceSeconds }) }
  switch (spec.kind) {
    case 'cron-second': return { ...base, trigger: 'cron', second: '*' }
    case 'interval': return { ...base, trigger: 'interval', seconds: spec.everyMs / 1000, start_date: new Date(spec.firstAt).toISOString() }
    case 'once': return { ...base, trigger: 'date', run_date: new Date(spec.at).toISOString() }
  }
}

export class OursAdapter implements Adapter {
  readonly name: string
  app: FastifyInstance | null = null
  #grace: number | undefined
  #ctx: AdapterContext | null = null
  #redisCpu = 0

  constructor (name: string) { this.name = name }

  async open (ctx: AdapterContext): Promise<void> {
    const makeStore = ourStores[this.name]
    if (makeStore === undefined) throw new Error(`no store for ${this.name}`)
    this.#grace = ctx.misfireGraceSeconds
    this.#ctx = ctx
    if (this.name === 'ours-redis') this.#redisCpu = await redisCpuSeconds()
    const app = Fastify({ logger: { level: process.env.BENCH_LOG_LEVEL ?? 'error' } })
    await app.register(lib.default, {
      store: makeStore(ctx),
      nodeId: ctx.node,
      autoStart: false,
      ...(process.env.BENCH_LOOKAHEAD_MS !== undefined ? { lookAheadMs: Number(process.env.BENCH_LOOKAHEAD_MS) } : {}),
      executors: { default: { maxConcurrency: OURS_CONCURRENCY } },
      tasks: {
        noop: (task: TaskContext) => { ctx.onFire(task.args[0] as number, task.scheduledAt.getTime(), nowMs()) }
      }
    })
    await app.ready()
    this.app = app
  }

  async add (jobs: JobSpec[]): Promise<void> {
    const app = this.app as FastifyInstance
    await Promise.all(jobs.map(async (spec) => {
      try {
        await app.scheduler.addJob(jobDefinition(spec, this.#grace))
      } catch (err) {
        // Several processes add the same jobs to one shared store: the first one wins.
        if (!(err instanceof lib.ConflictingIdError)) throw err
      }
    }))
  }

  async start (): Promise<void> { await (this.app as FastifyInstance).scheduler.start() }

  async close (): Promise<void> {
    await this.app?.close()
    const ctx = this.#ctx
    if (this.name !== 'ours-redis' || ctx === null) return
    // Redis's own CPU over the run (the whole server: other clients of a shared Redis count too).
    const cpu = await redisCpuSeconds() - this.#redisCpu
    process.stderr.write(`ours-redis ${ctx.node}: redis-server CPU during the run ${cpu.toFixed(2)} s, this process ${(process.cpuUsage().user / 1e6).toFixed(2)} s user\n`)
    if (ctx.shared === '') await dropRedisPrefix(redisPrefix(ctx))
  }
}
