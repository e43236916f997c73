/**
 * S6 size: N stored jobs (daily intervals, first fires spread over a day starting an hour ahead, so
 * none fires while measuring). Measures heap per job, how fast jobs go in (scheduler stopped, and
 * one at a time while it runs), the cost of one idle loop wakeup, `GET /jobs?limit=100`, and, for
 * a file store, the time from `ready()` to the first fire when a new app opens the filled file.
 */
import { statSync } from 'node:fs'
import Fastify, { type FastifyInstance } from 'fastify'
import type { JobDefinition, JobStore } from '../../src/index.js'
import { lib } from '../lib/ours-lib.js'
import { OURS_CONCURRENCY, ourStores } from '../adapters/ours.js'
import { nowMs, sleep } from '../lib/clock.js'
import { ascending, percentile, round } from '../lib/stats.js'
import { WakeupClock } from '../lib/wakeup-clock.js'

export interface SizeParams {
  size: number
  /** Filling stops (and the size fails) after this long. */
  fillTimeoutMs?: number
}

const DAY = 86_400_000
const gc = (): void => { (globalThis as { gc?: () => void }).gc?.(); (globalThis as { gc?: () => void }).gc?.() }

function spreadJob (i: number, size: number, origin: number, prefix = 'j'): JobDefinition {
  return { id: `${prefix}${i}`, func: 'noop', trigger: 'interval', days: 1, start_date: new Date(origin + 3_600_000 + Math.floor(i * DAY / size)).toISOString() }
}

async function makeApp (store: JobStore, opts: { clock?: WakeupClock, autoStart?: boolean, onFire?: (id: string, start: number) => void }): Promise<FastifyInstance> {
  const app = Fastify({ logger: { level: process.env.BENCH_LOG_LEVEL ?? 'error' } })
  await app.register(lib.default, {
    store,
    autoStart: opts.autoStart ?? false,
    apiEnabled: true,
    maxSleepMs: 50,
    ...(opts.clock === undefined ? {} : { clock: opts.clock }),
    executors: { default: { maxConcurrency: OURS_CONCURRENCY } },
    tasks: { noop: (ctx) => { opts.onFire?.(ctx.job.id, nowMs()) } }
  })
  return app
}

export async function runSize (adapterName: string, p: SizeParams, dir: string): Promise<Record<string, unknown>> {
  const makeStore = ourStores[adapterName]
  if (makeStore === undefined) return { skipped: `${adapterName} is not one of our stores` }
  const fillTimeoutMs = p.fillTimeoutMs ?? 600_000
  const result: Record<string, unknown> = { size: p.size }
  const clock = new WakeupClock()
  const app = await makeApp(makeStore({ dir, shared: '' }), { clock })
  await app.ready()
  const origin = Date.now()
  try {
    gc()
    const heap0 = process.memoryUsage().heapUsed
    const t0 = nowMs()
    const CHUNK = 1000
    for (let i = 0; i < p.size; i += CHUNK) {
      if (nowMs() - t0 > fillTimeoutMs) throw new Error(`filling took longer than ${fillTimeoutMs / 1000} s: ${i} of ${p.size} jobs added`)
      const jobs: Array<Promise<unknown>> = []
      for (let j = i; j < Math.min(p.size, i + CHUNK); j++) jobs.push(app.scheduler.addJob(spreadJob(j, p.size, origin)))
      await Promise.all(jobs)
    }
    const fillMs = nowMs() - t0
    result.fillPerSec = round(p.size / fillMs * 1000, 0)
    gc()
    result.bytesPerJob = round((process.memoryUsage().heapUsed - heap0) / p.size, 0)
    result.rssMB = round(process.memoryUsage.rss() / 1048576, 0)
    if (adapterName === 'ours-sqlite') result.fileBytesPerJob = round(statSync(`${dir}/bench.sqlite`).size / p.size, 0)

    // Idle wakeups: nothing is due for an hour, so each timer (every 50 ms) is one loop pass.
    await app.scheduler.start()
    await sleep(500)
    clock.costs = []
    const w0 = nowMs()
    while (clock.costs.length < 40 && nowMs() - w0 < 15_000) await sleep(50)
    const wake = ascending(clock.costs)
    result.wakeups = wake.length
    result.wakeupP50Ms = round(percentile(wake, 0.5), 3)
    result.wakeupP99Ms = round(percentile(wake, 0.99), 3)

    // Adding while the scheduler runs, one request's worth at a time.
    const adds: number[] = []
    const a0 = nowMs()
    for (let i = 0; i < 1000 && nowMs() - a0 < 30_000; i++) {
      const s = nowMs()
      await app.scheduler.addJob(spreadJob(i, 1000, origin, 'extra'))
      adds.push(nowMs() - s)
    }
    result.addPerSec = round(adds.length / (nowMs() - a0) * 1000, 0)
    result.addP50Ms = round(percentile(ascending(adds), 0.5), 3)

    // A page of the job list over the API.
    const lists: number[] = []
    const s0 = nowMs()
    for (let i = 0; i < 20; i++) {
      const s = nowMs()
      const res = await app.inject({ method: 'GET', url: '/scheduler/jobs?limit=100' })
      lists.push(nowMs() - s)
      if (res.statusCode !== 200) throw new Error(`GET /scheduler/jobs answered ${res.statusCode}: ${res.body.slice(0, 200)}`)
      if (nowMs() - s0 > 30_000) break
    }
    const list = ascending(lists)
    result.listP50Ms = round(percentile(list, 0.5), 2)
    result.listP99Ms = round(percentile(list, 0.99), 2)

    if (adapterName === 'ours-sqlite') {
      // One job due now (any lateness allowed), written while no scheduler runs; then a new app opens the file.
      await app.scheduler.shutdown()
      await app.scheduler.addJob({ id: 'first', func: 'noop', trigger: 'date', run_date: new Date().toISOString(), misfire_grace_time: null })
      await app.close()
      let firstAt: number | null = null
      const reopened = await makeApp(makeStore({ dir, shared: '' }), { autoStart: true, onFire: (id, start) => { if (id === 'first') firstAt ??= start } })
      const r0 = nowMs()
      await reopened.ready()
      result.readyMs = round(nowMs() - r0, 1)
      while (firstAt === null && nowMs() - r0 < 60_000) await sleep(5)
      result.firstFireMs = firstAt === null ? NaN : round((firstAt as number) - r0, 1)
      await reopened.close()
    }
  } finally {
    await app.close()
  }
  return result
}
