/**
 * Fault: tasks that never settle. Three every-second jobs whose task hangs (ignoring its signal)
 * and one healthy every-second job share an executor of 3 slots for 10 s; then a waiting
 * `POST …/run` of the healthy job. Prints the healthy job's runs, the hung jobs' records, how the
 * manual run was answered, the timeout metrics and /health.
 *
 *   node --import tsx bench/faults-hung-tasks.ts              # no timeout configured
 *   TIMEOUT=2 node --import tsx bench/faults-hung-tasks.ts    # jobDefaults.timeout = 2 s
 */
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import scheduler, { MemoryStore, type SchedulerPluginOptions } from '../src/index.js'

const TIMEOUT = process.env.TIMEOUT === undefined ? undefined : Number(process.env.TIMEOUT)
const app = Fastify({ logger: false })
const opts: SchedulerPluginOptions = {
  store: new MemoryStore(),
  apiEnabled: true,
  executors: { default: { maxConcurrency: 3 } },
  tasks: { hang: async () => await new Promise(() => {}), tick: () => {} },
  ...(TIMEOUT === undefined ? {} : { jobDefaults: { timeout: TIMEOUT } as SchedulerPluginOptions['jobDefaults'] })
}
await app.register(scheduler, opts)
await app.ready()
for (let i = 0; i < 3; i++) await app.scheduler.addJob({ id: `hung-${i}`, func: 'hang', trigger: 'interval', seconds: 1 })
await app.scheduler.addJob({ id: 'healthy', func: 'tick', trigger: 'interval', seconds: 1 })
await sleep(10_000)

const t0 = performance.now()
const manual = await Promise.race([
  app.inject({ method: 'POST', url: '/scheduler/jobs/healthy/run' }).then((res) => `${res.statusCode} after ${Math.round(performance.now() - t0)} ms`),
  sleep(15_000).then(() => 'no answer within 15 s')
])
const count = (runs: Array<{ status: string, error: { name: string } | null }>): Record<string, number> => {
  const out: Record<string, number> = {}
  for (const r of runs) { const k = r.error === null ? r.status : `${r.status} (${r.error.name})`; out[k] = (out[k] ?? 0) + 1 }
  return out
}
const healthy = count(await app.scheduler.getJobRuns('healthy'))
const hung = count((await Promise.all([0, 1, 2].map(async (i) => await app.scheduler.getJobRuns(`hung-${i}`)))).flat())
const health = await app.inject({ method: 'GET', url: '/scheduler/health' })
const metrics = (await app.inject({ method: 'GET', url: '/scheduler/metrics' })).body.split('\n').filter((l) => /^apscheduler_(task_timeouts_total|tasks_overrunning|job_runs_total)/.test(l))
console.log(`timeout: ${TIMEOUT === undefined ? 'none' : `${TIMEOUT} s`}; 10 s with 3 hung jobs and 1 healthy job, 3 executor slots`)
console.log(`healthy job runs: ${JSON.stringify(healthy)}`)
console.log(`hung jobs' runs: ${JSON.stringify(hung)}`)
console.log(`POST /scheduler/jobs/healthy/run (waiting): ${manual}`)
console.log(`/health: ${health.statusCode} ${health.body}`)
console.log(metrics.join('\n'))
await app.close().catch(() => {})
process.exit(0)
