/**
 * The worst event-loop delay single API requests cause with hard trigger definitions: cron
 * definitions that never fire (or hardly ever), sparse schedules asked for 100 next fire times,
 * and a seeded random search over sparse cron fields. Each request is sent alone through the full
 * Fastify pipeline (inject); perf_hooks.monitorEventLoopDelay records how long the loop was held.
 * Each request is sent REPEAT times and the least delay is kept: on a shared machine a request
 * can be descheduled or meet a GC pause, which says nothing about what the request itself costs
 * (the first, cold run is printed beside it).
 *
 *   npm run bench:triggers                 # RANDOM=300 SEED=1 REPEAT=5
 *   RANDOM=2000 SEED=7 node --import tsx bench/trigger-worst-case.ts
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import scheduler, { MemoryStore } from '../src/index.js'

const RANDOM = Number(process.env.RANDOM ?? 300)
const SEED = Number(process.env.SEED ?? 1)
const REPEAT = Number(process.env.REPEAT ?? 5)

interface Case { name: string, method: 'POST' | 'GET', url?: string, body?: Record<string, unknown> }

const cron = (name: string, fields: Record<string, unknown>): Case =>
  ({ name, method: 'POST', body: { func: 'noop', trigger: 'cron', ...fields } })

/** Definitions that never fire, or never before their end_date: validation must prove it quickly. */
const NEVER: Case[] = [
  cron("day 'last fri', week 1", { day: 'last fri', week: 1 }),
  cron("day '5th fri', week 1", { day: '5th fri', week: 1 }),
  cron("day '1st mon', week 53", { day: '1st mon', week: 53 }),
  cron("day '5-7,31', week 26, dow 0", { day: '5-7,31', week: '26', day_of_week: '0' }),
  cron('month 2, day 30', { month: 2, day: 30 }),
  cron('month 2,4,6,9,11, day 31', { month: '2,4,6,9,11', day: 31 }),
  cron('year 9999, Feb 29', { year: '9999', month: 2, day: 29 }),
  cron('year 2100-9999/400 +1, Feb 29', { year: '2101-9999/400', month: 2, day: 29 }),
  cron('week 53, month 6', { week: 53, month: 6 }),
  cron("day 'last', day 1-27 weekday, week 1, month 7", { day: 'last', week: 1, month: 7 }),
  cron('crontab 0 0 30 2 *', { crontab: '0 0 30 2 *' }),
  cron('crontab 0 0 31 4,6,9,11 *', { crontab: '0 0 31 4,6,9,11 *' }),
  cron('Feb 29 Monday, end 2031', { month: 2, day: 29, day_of_week: 'mon', end_date: '2031-01-01T00:00:00+00:00' }),
  cron('every second, Feb 29 Mon, end 2100', { second: '*', month: 2, day: 29, day_of_week: 'mon', end_date: '2100-01-01T00:00:00+00:00' }),
  cron('23:59:59 Dec 31 Monday, Apia, end 2200', { second: 59, minute: 59, hour: 23, day: 31, month: 12, day_of_week: 'mon', timezone: 'Pacific/Apia', end_date: '2200-01-01T00:00:00+00:00' })
]

/** Rare schedules: GET …/next?count=100 walks far ahead. */
const SPARSE: Array<{ name: string, body: Record<string, unknown> }> = [
  { name: 'Feb 29 on a Monday', body: { trigger: 'cron', month: 2, day: 29, day_of_week: 'mon' } },
  { name: "'5th fri' of February", body: { trigger: 'cron', month: 2, day: '5th fri' } },
  { name: 'Dec 31 23:59:59 Monday (Apia)', body: { trigger: 'cron', month: 12, day: 31, day_of_week: 'mon', hour: 23, minute: 59, second: 59, timezone: 'Pacific/Apia' } },
  { name: 'week 53 Sunday, 02:30 (New York)', body: { trigger: 'cron', week: 53, day_of_week: 'sun', hour: 2, minute: 30, timezone: 'America/New_York' } },
  { name: 'every 400th year, Feb 29', body: { trigger: 'cron', year: '2000-9999/400', month: 2, day: 29 } },
  { name: 'repeated hour on fall-back days only (Berlin)', body: { trigger: 'cron', month: '10', day: 'last sun', hour: 2, minute: '*/10', second: '*/10', timezone: 'Europe/Berlin' } },
  { name: 'crontab 0 0 29 2 1 (either day field)', body: { trigger: 'cron', crontab: '0 0 29 2 1' } },
  { name: "'last' day, 'last sun' and week 9", body: { trigger: 'cron', day: 'last,last sun', week: 9, month: 2 } }
]

/** mulberry32: a small seeded generator, so a found worst case can be reproduced. */
function rng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function randomSparse (r: () => number): Record<string, unknown> {
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!
  const body: Record<string, unknown> = { trigger: 'cron' }
  if (r() < 0.5) body.day = pick(['29', '30', '31', 'last', '5th fri', '5th mon', 'last sun', '1st mon', '28-31', '5-7,31', '29,last', '31,5th sat'])
  if (r() < 0.5) body.month = pick(['2', '2,4', '4,6,9,11', '12', '1', '*/5', '7'])
  if (r() < 0.5) body.week = pick(['1', '53', '52', '26', '9', '1,53', '*/26'])
  if (r() < 0.5) body.day_of_week = pick(['0', 'sun', 'mon', 'fri', 'sat,sun', '6'])
  if (r() < 0.3) body.year = pick(['*/4', '*/100', '2100-9999/400', '9999', '*/28', '2030-2040'])
  if (r() < 0.3) body.second = pick(['*', '59', '*/7'])
  if (r() < 0.3) body.hour = pick(['2', '23', '*/5'])
  if (r() < 0.3) body.timezone = pick(['Europe/Berlin', 'America/New_York', 'Pacific/Apia', 'Australia/Lord_Howe', 'Asia/Kathmandu'])
  if (r() < 0.3) body.end_date = pick(['2031-01-01T00:00:00+00:00', '2100-01-01T00:00:00+00:00', '3000-01-01T00:00:00+00:00'])
  if (r() < 0.2) return { trigger: 'cron', crontab: `${pick(['0', '*/7'])} 0 ${pick(['29', '30', '31', '29-31', '*'])} ${pick(['2', '4,6', '*'])} ${pick(['*', '1', '0-6', 'sat'])}`, ...(body.end_date === undefined ? {} : { end_date: body.end_date }) }
  return body
}

const histogram = monitorEventLoopDelay({ resolution: 1 })
histogram.enable()

/** The longest the event loop was held while this request ran, in ms. */
async function measure (fn: () => Promise<unknown>): Promise<{ delayMs: number, cpuMs: number, result: unknown }> {
  await sleep(5)
  histogram.reset()
  const cpu = process.cpuUsage()
  const result = await fn()
  const used = process.cpuUsage(cpu)
  await sleep(5) // let the monitor's timer run once after the request
  return { delayMs: histogram.max / 1e6, cpuMs: (used.user + used.system) / 1000, result }
}

const app = Fastify({ logger: false })
// Not started: jobs firing every second meanwhile would add their own work to the measured delays.
await app.register(scheduler, { store: new MemoryStore(), apiEnabled: true, autoStart: false, tasks: { noop: () => {} } })
await app.ready()

interface Row { name: string, delayMs: number, firstMs: number, cpuMs: number, status: number, note: string }
const rows: Row[] = []
let seq = 0
/** Sends the request REPEAT times (POSTs with a fresh id each time); keeps the least delay. */
const inject = async (c: Case): Promise<Row> => {
  const delays: number[] = []
  const cpus: number[] = []
  let res: { statusCode: number, body: string } | undefined
  for (let k = 0; k < REPEAT; k++) {
    const body = c.body === undefined ? undefined : { ...c.body, id: `${String(c.body.id ?? 'job')}-${seq++}` }
    const m = await measure(async () => await app.inject({ method: c.method, url: c.url ?? '/scheduler/jobs', payload: body }))
    delays.push(m.delayMs)
    cpus.push(m.cpuMs)
    res ??= m.result as { statusCode: number, body: string }
  }
  const note = res!.statusCode >= 400 ? (JSON.parse(res!.body) as { message: string }).message.slice(0, 70) : ''
  return { name: c.name, delayMs: Math.min(...delays), firstMs: delays[0]!, cpuMs: Math.min(...cpus), status: res!.statusCode, note }
}

for (const c of NEVER) rows.push(await inject(c))
for (const s of SPARSE) {
  const add = await app.inject({ method: 'POST', url: '/scheduler/jobs', payload: { func: 'noop', ...s.body } })
  if (add.statusCode !== 200) { rows.push({ name: `next x100: ${s.name}`, delayMs: NaN, firstMs: NaN, cpuMs: NaN, status: add.statusCode, note: add.body.slice(0, 70) }); continue }
  const id = (JSON.parse(add.body) as { id: string }).id
  rows.push(await inject({ name: `next x100: ${s.name}`, method: 'GET', url: `/scheduler/jobs/${id}/next?count=100` }))
}

const r = rng(SEED)
const random: Row[] = []
for (let i = 0; i < RANDOM; i++) {
  const body = randomSparse(r)
  const row = await inject({ name: `random ${JSON.stringify(body)}`, method: 'POST', body: { id: `r${i}`, func: 'noop', ...body } })
  random.push(row)
  if (row.status === 200) random.push(await inject({ name: `random next x100 ${JSON.stringify(body)}`, method: 'GET', url: `/scheduler/jobs/r${i}-${seq - REPEAT}/next?count=100` }))
}
random.sort((a, b) => b.delayMs - a.delayMs)

const fmt = (row: Row): string => `${row.delayMs.toFixed(1).padStart(9)} ms ${`(first ${row.firstMs.toFixed(1)})`.padStart(14)} ${`cpu ${row.cpuMs.toFixed(1)}`.padStart(9)}  ${String(row.status)}  ${row.name}${row.note === '' ? '' : `  (${row.note})`}`
console.log(`event-loop delay per request (monitorEventLoopDelay max, resolution 1 ms; least of ${REPEAT} sends), and the CPU time the process used meanwhile (least of ${REPEAT})`)
for (const row of rows) console.log(fmt(row))
console.log(`random sparse definitions (seed ${SEED}, ${RANDOM} posts + their next?count=100), worst 5:`)
for (const row of random.slice(0, 5)) console.log(fmt(row))
const worst = [...rows, ...random].reduce((a, b) => (b.delayMs > a.delayMs ? b : a))
console.log(`WORST single request: ${worst.delayMs.toFixed(1)} ms, least of ${REPEAT} sends  (${worst.name})`)
const worstFirst = [...rows, ...random].reduce((a, b) => (b.firstMs > a.firstMs ? b : a))
console.log(`worst first send: ${worstFirst.firstMs.toFixed(1)} ms  (${worstFirst.name})`)
const worstCpu = [...rows, ...random].reduce((a, b) => (b.cpuMs > a.cpuMs ? b : a))
console.log(`most CPU time for one request: ${worstCpu.cpuMs.toFixed(1)} ms  (${worstCpu.name})`)
console.log(`load average while running: ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')}`)
await app.close()
