/**
 * Fault: another process holds the SQLite write lock (a backup, an open `sqlite3` shell, a stopped
 * worker). A second OS process takes BEGIN IMMEDIATE for HOLD_MS, HOLDS times, GAP_MS apart, while
 * this process runs JOBS every-second jobs (coalesce off, misfire_grace_time GRACE s) and probes
 * the host app and the API every 250 ms. Prints the longest event-loop block, the fires lost, run
 * twice or recorded missed, the answers of the API and /health, and what was logged.
 *
 *   node --import tsx bench/faults-sqlite-lock.ts
 *   HOLD_MS=6000 HOLDS=2 GAP_MS=3000 JOBS=10 GRACE=10 node --import tsx bench/faults-sqlite-lock.ts
 */
import { fork } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import Fastify from 'fastify'
import scheduler, { SqliteStore } from '../src/index.js'

const HOLD_MS = Number(process.env.HOLD_MS ?? 6000)
const HOLDS = Number(process.env.HOLDS ?? 2)
const GAP_MS = Number(process.env.GAP_MS ?? 3000)
const JOBS = Number(process.env.JOBS ?? 10)
const GRACE = Number(process.env.GRACE ?? 10)
/** CONTROL=1: the same run without taking the lock, to see what the machine's load alone costs. */
const CONTROL = process.env.CONTROL === '1'
const HOLDER = fileURLToPath(new URL('../test/fixtures/sqlite-lock-holder.ts', import.meta.url))

const dir = mkdtempSync(join(tmpdir(), 'aps-lock-'))
const path = join(dir, 'jobs.db')
const logs: Array<{ level: number, msg: string, err?: { message?: string } }> = []
const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => { logs.push(JSON.parse(line)) } } } })
app.get('/ping', async () => 'pong')
await app.register(scheduler, { store: new SqliteStore({ path }), apiEnabled: true, tasks: { tick: () => {} } })
await app.ready()

const holder = fork(HOLDER, [path], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
const reply = async (type: string): Promise<void> => {
  for (;;) {
    const [message] = await once(holder, 'message') as [{ type: string }]
    if (message.type === type) return
  }
}
await reply('ready')

const start = Math.ceil(Date.now() / 1000) * 1000 + 1000
for (let i = 0; i < JOBS; i++) {
  await app.scheduler.addJob({ id: `job-${i}`, func: 'tick', trigger: 'interval', seconds: 1, start_date: new Date(start).toISOString(), coalesce: false, misfire_grace_time: GRACE })
}
await sleep(start + 2000 - Date.now())

interface Probe { what: string, status: number, ms: number, retryAfter?: string }
const probes: Probe[] = []
const pending: Array<Promise<void>> = []
let probeSeq = 0
const probe = (what: string, method: 'GET' | 'POST', url: string, payload?: unknown): void => {
  const t0 = performance.now()
  pending.push(app.inject({ method, url, ...(payload === undefined ? {} : { payload: payload as object }) }).then((res) => {
    const retryAfter = res.headers['retry-after']
    probes.push({ what, status: res.statusCode, ms: performance.now() - t0, ...(retryAfter === undefined ? {} : { retryAfter: String(retryAfter) }) })
  }))
}

const loop = monitorEventLoopDelay({ resolution: 10 })
loop.enable()
const t00 = performance.now()
const marks: string[] = []
let last = performance.now()
let lastCpu = process.cpuUsage()
// The longest gap between two 10 ms ticks, and the CPU time this process used in it. A long gap
// with little CPU was spent off the CPU: sleeping in SQLite's busy handler (a synchronous lock
// wait) or not scheduled at all on a loaded machine; only the first blocks the loop by design.
const longest = { wall: 0, cpu: 0 }
const tracker = setInterval(() => {
  const n = performance.now()
  const cpu = process.cpuUsage(lastCpu)
  const cpuMs = (cpu.user + cpu.system) / 1000
  if (n - last > longest.wall) { longest.wall = n - last; longest.cpu = cpuMs }
  if (n - last > 100) marks.push(`block ${Math.round(n - last)} ms (cpu ${Math.round(cpuMs)} ms) ending at ${Math.round(n - t00)}`)
  last = n
  lastCpu = process.cpuUsage()
}, 10)
for (let h = 0; h < HOLDS; h++) {
  if (!CONTROL) {
    holder.send({ type: 'hold' })
    await reply('held')
    marks.push(`held at ${Math.round(performance.now() - t00)}`)
  }
  const until = performance.now() + HOLD_MS
  while (performance.now() < until) {
    probe('host GET /ping', 'GET', '/ping')
    probe('API GET /jobs', 'GET', '/scheduler/jobs')
    probe('API GET /health', 'GET', '/scheduler/health')
    probe('API POST /jobs', 'POST', '/scheduler/jobs', { id: `probe-${probeSeq++}`, func: 'tick', trigger: 'interval', hours: 1 })
    await sleep(250)
  }
  if (!CONTROL) {
    holder.send({ type: 'release' })
    await reply('released')
    marks.push(`released at ${Math.round(performance.now() - t00)}`)
  }
  await sleep(GAP_MS)
}
await Promise.all(pending)
loop.disable()
clearInterval(tracker)
if (process.env.DEBUG_BLOCKS === '1') console.log(marks.join('\n'))
const end = Date.now()
await sleep(GRACE * 1000 + 1000) // late fires still within their grace get their chance
holder.send({ type: 'exit' })

// Every fire due from `start` to `end` must have a record: run (once) or missed.
let expected = 0
let ran = 0
let missed = 0
let lost = 0
let twice = 0
const statusCounts: Record<string, number> = {}
for (let i = 0; i < JOBS; i++) {
  const runs = await app.scheduler.getJobRuns(`job-${i}`)
  if (i === 0 && process.env.DEBUG_BLOCKS === '1') console.log(runs.map((r) => `${r.scheduled_at.slice(17, 19)} ${r.status} ${r.trigger}`).join(', '))
  const byFire = new Map<number, string[]>()
  for (const r of runs) statusCounts[r.status] = (statusCounts[r.status] ?? 0) + 1
  for (const r of runs) byFire.set(Date.parse(r.scheduled_at), [...byFire.get(Date.parse(r.scheduled_at)) ?? [], r.status])
  for (let at = start; at <= end; at += 1000) {
    expected++
    const statuses = byFire.get(at) ?? []
    const runsOf = statuses.filter((s) => s === 'success' || s === 'error' || s === 'running' || s === 'abandoned').length
    if (runsOf > 1) twice++
    if (runsOf >= 1) ran++
    else if (statuses.includes('missed')) missed++
    else lost++
  }
}
await app.close()
rmSync(dir, { recursive: true, force: true })

const summary: Record<string, Record<string, unknown>> = {}
for (const p of probes) {
  const s = summary[p.what] ??= { n: 0, statuses: {}, maxMs: 0, retryAfter: new Set<string>() }
  s.n = (s.n as number) + 1
  const statuses = s.statuses as Record<string, number>
  statuses[p.status] = (statuses[p.status] ?? 0) + 1
  s.maxMs = Math.max(s.maxMs as number, Math.round(p.ms))
  if (p.retryAfter !== undefined) (s.retryAfter as Set<string>).add(p.retryAfter)
}
console.log(`${CONTROL ? 'CONTROL (lock not taken): ' : ''}lock held ${HOLDS} x ${HOLD_MS} ms, ${JOBS} jobs every second, grace ${GRACE} s`)
console.log(`longest event-loop block: ${Math.round(loop.max / 1e6)} ms (monitorEventLoopDelay max; p99 ${Math.round(loop.percentile(99) / 1e6)} ms); longest gap between 10 ms ticks ${Math.round(longest.wall)} ms, of which ${Math.round(longest.cpu)} ms on CPU`)
console.log(`fires due: ${expected}, ran once: ${ran}, recorded missed: ${missed}, lost (no record): ${lost}, run twice: ${twice}; run records by status: ${JSON.stringify(statusCounts)}`)
console.table(Object.entries(summary).map(([what, s]) => ({ what, n: s.n, statuses: JSON.stringify(s.statuses), maxMs: s.maxMs, retryAfter: [...(s.retryAfter as Set<string>)].join(',') })))
const byMsg = new Map<string, number>()
for (const l of logs) byMsg.set(`${l.level >= 50 ? 'error' : 'warn'}: ${l.msg}`, (byMsg.get(`${l.level >= 50 ? 'error' : 'warn'}: ${l.msg}`) ?? 0) + 1)
console.log('log:', JSON.stringify(Object.fromEntries(byMsg)))
if (process.env.DEBUG_BLOCKS === '1') for (const l of logs) console.log(l.msg, l.err?.message)
