import cluster from 'node:cluster'
import { hostname } from 'node:os'
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { MemoryStore } from '../stores/memory.js'
import { hostAllowed, resolveOptions, type SchedulerPluginOptions } from './options.js'
import { Scheduler } from './scheduler.js'
import { TaskRegistry } from './tasks.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The scheduler core (the decorator name is configurable with the `decorator` option). */
    scheduler: Scheduler
  }
}

/** True in a cluster worker or a PM2 instance, where a MemoryStore would be one store per process. */
function inWorkerProcess (): boolean {
  return cluster.isWorker || process.env.pm_id !== undefined || process.env.NODE_APP_INSTANCE !== undefined
}

const schedulerPlugin: FastifyPluginAsync<SchedulerPluginOptions> = async (fastify: FastifyInstance, rawOptions) => {
  const options = resolveOptions(rawOptions)
  const tasks = new TaskRegistry()
  for (const [name, fn] of Object.entries(options.tasks)) tasks.register(name, fn)
  for (const [alias, path] of Object.entries(options.taskModules)) await tasks.registerModule(alias, path)

  const scheduler = new Scheduler({
    jobstores: options.jobstores,
    executors: options.executors,
    jobDefaults: options.jobDefaults,
    timezone: options.timezone,
    tasks,
    nodeId: options.nodeId,
    leaseMs: options.leaseMs,
    historyLimit: options.historyLimit,
    log: fastify.log,
    fastify,
    clock: options.clock,
    maxSleepMs: options.maxSleepMs,
    lookAheadMs: options.lookAheadMs,
    shutdownTimeoutMs: options.shutdownTimeoutMs
  })
  if (options.auth !== null) scheduler.authenticate(options.auth.authenticate)
  fastify.decorate(options.decorator, scheduler)
  fastify.addHook('onClose', async () => { await scheduler.close() })

  if (Object.values(options.jobstores).some((s) => s instanceof MemoryStore) && inWorkerProcess()) {
    fastify.log.warn('fastify-apscheduler: the memory job store cannot be shared between cluster/PM2 workers; every worker will run every job. Use a shared store: SqliteStore (one host) or RedisStore.')
  }

  await scheduler.open()
  for (const [i, job] of options.jobs.entries()) {
    if (job === null || typeof job !== 'object' || typeof job.id !== 'string') {
      throw new Error(`fastify-apscheduler: option 'jobs[${i}]' needs an 'id' so it can be upserted on every start`)
    }
  }
  // Several upserts in flight at once: a networked store (Redis) pipelines them instead of paying
  // one round trip after another for thousands of boot-time jobs.
  const entries = [...options.jobs.entries()]
  for (let from = 0; from < entries.length; from += UPSERT_BATCH) {
    await Promise.all(entries.slice(from, from + UPSERT_BATCH).map(async ([i, job]) => {
      try {
        await scheduler.upsertConfigJob(job)
      } catch (err) {
        throw new Error(`fastify-apscheduler: option 'jobs[${i}]' (id ${job.id}): ${(err as Error).message}`)
      }
    }))
  }

  if (options.apiEnabled) {
    const { registerApi } = await import('./api/routes.js')
    const { registerDashboard } = await import('./api/dashboard.js')
    await registerApi(fastify, scheduler, options, options.ui ? registerDashboard : undefined)
  }

  const allowed = hostAllowed(options.allowedHosts)
  if (!allowed) fastify.log.info(`fastify-apscheduler: host ${hostname()} is not in allowedHosts; this process serves the API but fires no jobs`)
  if (options.autoStart && allowed) {
    fastify.addHook('onReady', async () => { await scheduler.start() })
  }
}

/** Boot-time jobs upserted at once. */
const UPSERT_BATCH = 64

export const plugin = fp(schedulerPlugin, { name: 'fastify-apscheduler', fastify: '5.x' })
