/**
 * Fault: tasks that throw or reject with something other than a small Error.
 * For each value: the status and size of `POST /run` (waiting), then, once the lease had time to
 * lapse, the recorded run's status, error and the size of the `GET /runs` answer.
 *
 *   node --import tsx bench/faults-errors.ts
 */
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import scheduler, { MemoryStore } from '../src/index.js'

const huge = 'x'.repeat(5 * 1024 * 1024)
const values: Record<string, () => unknown> = {
  'Object.create(null)': () => Object.create(null),
  'a string': () => 'boom',
  undefined: () => undefined,
  null: () => null,
  '42': () => 42,
  'Symbol()': () => Symbol('s'),
  '{ message, name }': () => ({ name: 'HttpError', message: 'upstream 502' }),
  'Proxy that throws on every access': () => new Proxy({}, { get () { throw new Error('trap') }, getPrototypeOf () { throw new Error('trap') }, ownKeys () { throw new Error('trap') } }),
  'Error whose message getter throws': () => Object.defineProperty(new Error('x'), 'message', { get () { throw new Error('getter') } }),
  'Error with a 5 MB message': () => new Error(huge),
  'Error with a 5 MB stack': () => Object.assign(new Error('big stack'), { stack: huge })
}

const app = Fastify({ logger: false })
const tasks: Record<string, () => Promise<never>> = {}
for (const [name, make] of Object.entries(values)) {
  tasks[name] = async () => { throw make() } // eslint-disable-line @typescript-eslint/only-throw-error
}
await app.register(scheduler, { store: new MemoryStore(), apiEnabled: true, leaseMs: 1000, tasks })
await app.ready()
const rows: Array<Record<string, unknown>> = []
for (const name of Object.keys(values)) {
  const id = `job-${rows.length}`
  await app.scheduler.addJob({ id, func: name, trigger: 'interval', hours: 1 })
  const run = await app.inject({ method: 'POST', url: `/scheduler/jobs/${id}/run` })
  rows.push({ thrown: name, id, runStatus: run.statusCode, runBytes: run.body.length })
}
await sleep(2500) // past leaseMs: an unrecorded run is then marked abandoned
for (const row of rows) {
  const runs = await app.inject({ method: 'GET', url: `/scheduler/jobs/${String(row.id)}/runs` })
  const [last] = runs.json() as Array<{ status: string, error: { name: string, message: string } | null }>
  row.recorded = last?.status
  row.error = last?.error === null || last?.error === undefined ? null : `${last.error.name}: ${last.error.message.slice(0, 40)}`
  row.runsBytes = runs.body.length
  delete row.id
}
console.table(rows)
await app.close()
