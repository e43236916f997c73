/**
 * Fault: a flood of manual runs. 2,000 `POST …/run?wait=false` of a job whose task takes 100 ms,
 * then 20 s of a one-second job (grace 1 s) on the default executor (10 slots). Prints how the
 * requests were answered, what the one-second job did (runs, missed records, job_missed events)
 * and /health.
 *
 *   node --import tsx bench/faults-manual-runs.ts                     # the flooded job has max_instances 1
 *   MAX_INSTANCES=2000 node --import tsx bench/faults-manual-runs.ts  # ... or 2000
 */
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import scheduler, { MemoryStore } from '../src/index.js'

const MAX_INSTANCES = Number(process.env.MAX_INSTANCES ?? 1)
const app = Fastify({ logger: false })
await app.register(scheduler, {
  store: new MemoryStore(),
  apiEnabled: true,
  tasks: { work: async () => { await sleep(100) }, tick: () => {} }
})
await app.ready()
await app.scheduler.addJob({ id: 'flooded', func: 'work', trigger: 'interval', hours: 1, max_instances: MAX_INSTANCES })
const missedEvents: unknown[] = []
app.scheduler.on('job_missed', (e: { job_id: string }) => { if (e.job_id === 'every-second') missedEvents.push(e) })

const statuses: Record<number, number> = {}
await Promise.all(Array.from({ length: 2000 }, async () => {
  const res = await app.inject({ method: 'POST', url: '/scheduler/jobs/flooded/run?wait=false' })
  statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1
}))
await app.scheduler.addJob({ id: 'every-second', func: 'tick', trigger: 'interval', seconds: 1, misfire_grace_time: 1 })
const healthSeen: Record<string, number> = {}
for (let i = 0; i < 20; i++) {
  await sleep(1000)
  const h = await app.inject({ method: 'GET', url: '/scheduler/health' })
  healthSeen[h.statusCode] = (healthSeen[h.statusCode] ?? 0) + 1
}
const runs = await app.scheduler.getJobRuns('every-second')
const byStatus: Record<string, number> = {}
for (const r of runs) byStatus[r.status] = (byStatus[r.status] ?? 0) + 1
console.log(`2000 POST /run?wait=false of a 100 ms job with max_instances ${MAX_INSTANCES}: answers ${JSON.stringify(statuses)}`)
console.log(`every-second job over the next 20 s: runs ${JSON.stringify(byStatus)}, job_missed events ${missedEvents.length}`)
console.log(`/health answers over those 20 s (one a second): ${JSON.stringify(healthSeen)}`)
await app.close().catch(() => {})
process.exit(0)
