/**
 * A thread that reports a scenario's figures when the main thread cannot: a scheduler that never
 * yields to timers starves the harness's own sleeps too. After the deadline (watched by
 * watchdog-boot.mjs) it reads the shared fire log, writes the figures (marked `starved`) to the
 * result file the harness watches, and the harness then kills the stuck process.
 */
import { writeFileSync } from 'node:fs'
import { workerData } from 'node:worker_threads'
import { analyseOnce, analyseRecurring, driftPerPeriod } from './analyse.js'
import { FireLog, type FireLogBuffers } from './fire-log.js'

export interface WatchdogData {
  buffers: FireLogBuffers
  /** Float64: [from, to, at, done, addMs], set by the main thread. */
  meta: SharedArrayBuffer
  kind: 'cron-second' | 'once' | 'interval'
  jobs: number
  periodMs: number
  /** Epoch ms after `to` (or `at`) at which the figures are written unless done. */
  graceMs: number
  file: string
}

/** Writes the figures from the fire log; `end` is the window's end (or the one-shots' instant). */
export function writeStarvedFigures (end: number): void {
  const data = workerData as WatchdogData
  const meta = new Float64Array(data.meta)
  const log = new FireLog(0, data.buffers)
  const figures = data.kind === 'once'
    ? analyseOnce(log, { jobs: data.jobs, at: meta[2] as number })
    : { ...analyseRecurring(log, { jobs: data.jobs, from: meta[0] as number, to: meta[1] as number, periodMs: data.periodMs }), ...(data.kind === 'interval' ? { driftMsPerPeriod: driftPerPeriod(log, { from: meta[0] as number, to: meta[1] as number, periodMs: data.periodMs }) } : {}) }
  writeFileSync(data.file, JSON.stringify({ addMs: meta[4], ...figures, rssMB: Math.round(process.memoryUsage.rss() / 1048576), starved: `the main thread did not come back for ${Math.round((Date.now() - end) / 1000)} s after the window: figures read by a watchdog thread` }))
}
