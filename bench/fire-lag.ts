/**
 * Fire lag (actual start − scheduled time) for 1,000 every-second jobs on each store.
 *
 *   npm run bench                         # memory and sqlite, 10 s each
 *   JOBS=1000 SECONDS=10 CONCURRENCY=10 STORES=memory,sqlite npm run bench
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import scheduler, { MemoryStore, SqliteStore, type JobStore, type TaskContext } from '../src/index.js'

const JOBS = Number(process.env.JOBS ?? 1000)
const SECONDS = Number(process.env.SECONDS ?? 10)
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 10)
const STORES = (process.env.STORES ?? 'memory,sqlite').split(',')

function pct (sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN
}

async function run (name: string, store: JobStore): Promise<void> {
  const fires: Array<{ scheduled: number, lag: number }> = []
  const app = Fastify({ logger: false })
  await app.register(scheduler, {
    store,
    executors: { default: { maxConcurrency: CONCURRENCY } },
    tasks: {
      noop: (ctx: TaskContext) => {
        const scheduled = ctx.scheduledAt.getTime()
        fires.push({ scheduled, lag: Date.now() - scheduled })
      }
    }
  })
  await app.ready()
  const start = Math.ceil(Date.now() / 1000) * 1000 + 3000
  const t0 = performance.now()
  for (let i = 0; i < JOBS; i++) {
    await app.scheduler.addJob({ id: `job-${i}`, func: 'noop', trigger: 'interval', seconds: 1, start_date: new Date(start).toISOString() })
  }
  const addMs = performance.now() - t0
  await new Promise((resolve) => setTimeout(resolve, start - Date.now()))
  const cpu0 = process.cpuUsage()
  await new Promise((resolve) => setTimeout(resolve, SECONDS * 1000))
  const cpu = process.cpuUsage(cpu0)
  // Fires scheduled in [start, start + SECONDS) are measured; wait for the last ones to start.
  const end = start + SECONDS * 1000
  const inWindow = (): Array<{ scheduled: number, lag: number }> => fires.filter((f) => f.scheduled >= start && f.scheduled < end)
  for (let waited = 0; inWindow().length < JOBS * SECONDS && waited < 5000; waited += 50) {
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  const measured = inWindow()
  const fired = measured.length
  const sorted = measured.map((f) => f.lag).sort((a, b) => a - b)
  const missed = app.scheduler.metrics.runs.missed
  await app.close()
  const mem = process.memoryUsage()
  console.log(`${name.padEnd(7)} jobs=${JOBS} seconds=${SECONDS} concurrency=${CONCURRENCY} fired=${fired}/${JOBS * SECONDS} missed=${missed} ` +
    `lag p50=${pct(sorted, 0.5)}ms p99=${pct(sorted, 0.99)}ms max=${sorted.at(-1) ?? NaN}ms ` +
    `cpu=${((cpu.user + cpu.system) / 1000 / SECONDS / 10).toFixed(1)}% addJob=${(addMs / JOBS).toFixed(3)}ms/job ` +
    `heap=${(mem.heapUsed / 1048576).toFixed(1)}MB rss=${(mem.rss / 1048576).toFixed(1)}MB`)
}

const dir = mkdtempSync(join(tmpdir(), 'apsched-bench-'))
try {
  for (const name of STORES) {
    if (name === 'memory') await run('memory', new MemoryStore())
    else if (name === 'sqlite') await run('sqlite', new SqliteStore({ path: join(dir, 'bench.sqlite') }))
    else throw new Error(`unknown store ${name}`)
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
