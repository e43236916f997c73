/**
 * Single-process fire scenarios: N jobs of one kind on one adapter, fires recorded from inside the
 * task. S1/S2: per-second cron; S3: one-shots at one instant; S5: every-N-ms intervals.
 */
import { Worker } from 'node:worker_threads'
import { join } from 'node:path'
import { adapterInfo } from '../adapters/index.js'
import type { Adapter, JobSpec } from '../adapters/types.js'
import { analyseOnce, analyseRecurring, driftPerPeriod } from '../lib/analyse.js'
import { nowMs, sleep } from '../lib/clock.js'
import { FireLog } from '../lib/fire-log.js'
import { round } from '../lib/stats.js'
import { redisCpuSeconds } from '../adapters/ours.js'

export interface FireParams {
  kind: 'cron-second' | 'once' | 'interval'
  jobs: number
  /** Length of the measured window (recurring kinds). */
  seconds?: number
  /** Fires before the window are not measured (start-up). */
  warmupMs?: number
  everyMs?: number
  /** How far ahead of now the first fire (once, interval) is set, so that adding ends before it. */
  leadMs?: number
  /** How long to wait for late fires after the window (or the instant). */
  settleMs: number
  /** Adding stops (and the run fails) after this long. */
  addTimeoutMs: number
  /** misfire_grace_time of our jobs (seconds); default: the plugin's default. */
  graceSeconds?: number
}

export const ADD_BATCH = 500

/** Adds jobs in batches; returns how long it took, or throws when it ran out of time. */
export async function addInBatches (adapter: Adapter, specs: JobSpec[], timeoutMs: number): Promise<number> {
  const t0 = nowMs()
  for (let i = 0; i < specs.length; i += ADD_BATCH) {
    if (nowMs() - t0 > timeoutMs) throw new Error(`adding took longer than ${timeoutMs} ms: ${i} of ${specs.length} jobs added`)
    await adapter.add(specs.slice(i, i + ADD_BATCH))
  }
  return round(nowMs() - t0, 0)
}

/** Samples RSS while running; the peak is what a job count costs in memory. */
export function rssSampler (): { stop: () => number } {
  let peak = process.memoryUsage.rss()
  const timer = setInterval(() => { peak = Math.max(peak, process.memoryUsage.rss()) }, 100)
  return { stop: () => { clearInterval(timer); return round(Math.max(peak, process.memoryUsage.rss()) / 1048576, 0) } }
}

async function closeWithin (adapter: Adapter, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), ms) })
  const closed = adapter.close().then(() => true)
  const ok = await Promise.race([closed, timedOut])
  clearTimeout(timer)
  return ok
}

export async function runFires (adapterName: string, p: FireParams, dir: string, starvedFile = join(dir, 'starved.json')): Promise<Record<string, unknown>> {
  const info = adapterInfo(adapterName)
  if (!info.kinds.includes(p.kind)) return { skipped: `${adapterName} has no ${p.kind} jobs` }
  const adapter = await info.create()
  const periodMs = p.kind === 'interval' ? (p.everyMs ?? 1000) : 1000
  const periods = p.kind === 'once' ? 1 : Math.ceil(((p.seconds ?? 10) * 1000 + (p.warmupMs ?? 0) + p.settleMs + (p.leadMs ?? 0) + 60_000) / periodMs)
  const log = new FireLog(Math.min(p.jobs * periods, 20_000_000))
  const meta = new Float64Array(new SharedArrayBuffer(5 * 8))
  const watchdog = new Worker(new URL('../lib/watchdog-boot.mjs', import.meta.url), {
    workerData: { buffers: log.buffers, meta: meta.buffer, kind: p.kind, jobs: p.jobs, periodMs, graceMs: p.settleMs + 15_000, file: starvedFile }
  })
  watchdog.unref()
  watchdog.on('error', (err) => { console.error(`bench watchdog: ${err.message}`) })
  await adapter.open({ dir, shared: '', node: 'bench-0', onFire: log.record, misfireGraceSeconds: p.graceSeconds })
  const firstAt = Math.ceil((nowMs() + (p.leadMs ?? 0)) / 1000) * 1000
  const specs: JobSpec[] = Array.from({ length: p.jobs }, (_, n): JobSpec =>
    p.kind === 'cron-second'
      ? { kind: 'cron-second', n }
      : p.kind === 'once' ? { kind: 'once', n, at: firstAt } : { kind: 'interval', n, everyMs: p.everyMs ?? 1000, firstAt })
  const result: Record<string, unknown> = {}
  let closed = true
  const rss = rssSampler()
  try {
    result.addMs = await addInBatches(adapter, specs, p.addTimeoutMs)
    meta[4] = result.addMs as number
    // The window is fixed before starting: a scheduler that keeps the event loop busy from its
    // first pass on may not give control back, and the watchdog needs the window to report.
    const origin = p.kind === 'cron-second' ? Math.ceil(nowMs() / 1000) * 1000 : firstAt
    const from = origin + Math.ceil((p.warmupMs ?? 0) / periodMs) * periodMs
    const to = from + (p.seconds ?? 10) * 1000
    if (p.kind === 'once') meta[2] = firstAt
    else { meta[0] = from; meta[1] = to }
    if (p.kind !== 'cron-second' && nowMs() > firstAt - 100) {
      // Adding ran into the first fire: the figures would measure the adding. The harness retries with a longer lead.
      return { ...result, overrun: true }
    }
    const cpu0 = process.cpuUsage()
    // The Redis server's own CPU over the same span, beside ours (the whole server: keep others off it).
    const redis0 = info.needsRedis ? await redisCpuSeconds() : null
    await adapter.start()
    if (p.kind === 'once') {
      const deadline = firstAt + p.settleMs
      while (log.distinctJobs() < p.jobs && nowMs() < deadline) await sleep(50)
    } else {
      const expected = p.jobs * Math.round((to - from) / periodMs)
      await sleep(to - nowMs())
      while (log.countDueIn(from, to) < expected && nowMs() < to + p.settleMs) await sleep(50)
    }
    // The peak while the scheduler ran: the harness's own analysis below is not part of it.
    result.rssMB = rss.stop()
    const cpu = process.cpuUsage(cpu0)
    result.cpuMs = round((cpu.user + cpu.system) / 1000, 0)
    if (p.kind === 'once') {
      Object.assign(result, analyseOnce(log, { jobs: p.jobs, at: firstAt }))
    } else {
      Object.assign(result, analyseRecurring(log, { jobs: p.jobs, from, to, periodMs }))
      if (p.kind === 'interval') result.driftMsPerPeriod = driftPerPeriod(log, { from, to, periodMs })
      if (process.env.BENCH_WAVES !== undefined) printWaves(log, from, to)
    }
    if (redis0 !== null) result.redisCpuS = round(await redisCpuSeconds() - redis0, 2)
  } finally {
    meta[3] = 1
    void watchdog.terminate()
    rss.stop()
    closed = await closeWithin(adapter, 30_000)
  }
  if (!closed) result.closeTimedOut = true
  return result
}

/** BENCH_WAVES=1: the latest fire of each due instant in the window, worst first (to stderr), to tell one late wave from a spread. */
function printWaves (log: FireLog, from: number, to: number): void {
  const worst = new Map<number, number>()
  const { due, start } = log
  for (let i = 0; i < due.length; i++) {
    const d = due[i] as number
    if (d >= from && d < to) worst.set(d, Math.max(worst.get(d) ?? -Infinity, (start[i] as number) - d))
  }
  const waves = [...worst].sort((a, b) => b[1] - a[1]).slice(0, 8)
  console.error(`waves (instant − window start: latest start; window start at ${(from - performance.timeOrigin).toFixed(0)} ms of process time): ${waves.map(([d, late]) => `+${d - from}: ${late.toFixed(1)} ms`).join(', ')}`)
}
