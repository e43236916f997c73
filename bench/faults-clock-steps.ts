/**
 * Fault: the wall clock steps an hour forward, then (in a second app) an hour back, while jobs run.
 * The host clock is not touched: an injected ManualClock steps its wall time while its monotonic
 * time and timers go on, as NTP or an operator stepping a real host's clock would. Also: 500 manual
 * runs (wait=false) against historyLimit 5.
 *
 * Forward: a date job running at the step, a date job waiting for the only slot, a date job whose
 * run date the step passes over, an every-10 s interval job and an every-15 s cron job; a date job
 * due half a second after the step wakes the loop between two lease renewals. Prints each date
 * job's outcome, abandoned runs, the interval and cron fires and misses in the minute after the
 * step, the warning logged, /health and the clock metrics. Back: the interval and cron fires in the
 * minute after the step.
 *
 *   node --import tsx bench/faults-clock-steps.ts
 */
import Fastify, { type FastifyInstance } from 'fastify'
import scheduler, { ManualClock, MemoryStore, type SchedulerPluginOptions } from '../src/index.js'

const T0 = Date.UTC(2030, 0, 1)
const HOUR = 3600_000
const s = (n: number): number => n * 1000
const at = (ms: number): string => new Date(T0 + ms).toISOString()

interface Rig { app: FastifyInstance, clock: ManualClock, fires: Array<{ id: string, mono: number }>, logs: Array<{ level: number, msg: string }>, outcomes: Array<[string, string]>, release: () => void }

async function rig (opts: Partial<SchedulerPluginOptions> = {}): Promise<Rig> {
  const clock = new ManualClock(T0)
  const fires: Rig['fires'] = []
  const logs: Rig['logs'] = []
  let release = (): void => {}
  const held = new Promise<void>((resolve) => { release = resolve })
  const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => { logs.push(JSON.parse(line)) } } } })
  await app.register(scheduler, {
    store: new MemoryStore(),
    apiEnabled: true,
    clock,
    leaseMs: 3000,
    tasks: {
      tick: (ctx) => { fires.push({ id: ctx.job.id, mono: clock.monotonic?.() ?? clock.now() }) },
      hold: async () => { await held }
    },
    ...opts
  })
  await app.ready()
  const outcomes: Array<[string, string]> = []
  for (const event of ['job_executed', 'job_error', 'job_missed']) app.scheduler.on(event, (e: { job_id: string }) => outcomes.push([e.job_id, event]))
  return { app, clock, fires, logs, outcomes, release }
}

const metricLines = async (app: FastifyInstance): Promise<string> =>
  (await app.inject({ method: 'GET', url: '/scheduler/metrics' })).body.split('\n')
    .filter((l) => /^apscheduler_(clock_|job_runs_total)/.test(l)).join('; ')

// ---- forward
{
  const r = await rig({ executors: { default: { maxConcurrency: 1 }, periodic: { maxConcurrency: 2 } } })
  const { app, clock } = r
  await app.scheduler.addJob({ id: 'date-running', func: 'hold', trigger: 'date', run_date: at(s(1)) })
  await app.scheduler.addJob({ id: 'date-queued', func: 'tick', trigger: 'date', run_date: at(s(2)), misfire_grace_time: null })
  await app.scheduler.addJob({ id: 'date-stepped-over', func: 'tick', trigger: 'date', run_date: at(s(30)) })
  await app.scheduler.addJob({ id: 'waker', func: 'tick', trigger: 'date', run_date: at(2500), misfire_grace_time: null })
  await app.scheduler.addJob({ id: 'every-10s', func: 'tick', trigger: 'interval', seconds: 10, start_date: at(s(10)), executor: 'periodic' })
  await app.scheduler.addJob({ id: 'cron-15s', func: 'tick', trigger: 'cron', second: '*/15', executor: 'periodic' })
  await clock.advance(s(2))
  const fromMono = clock.monotonic()
  clock.step(HOUR)
  await clock.advance(s(10))
  r.release()
  await clock.advance(s(50))
  await app.scheduler.whenIdle()
  const inMinute = (id: string): number[] => r.fires.filter((f) => f.id === id && f.mono >= fromMono).map((f) => Math.round((f.mono - fromMono) / 1000))
  const missed = (id: string): number => r.outcomes.filter(([j, e]) => j === id && e === 'job_missed').length
  const health = await app.inject({ method: 'GET', url: '/scheduler/health' })
  console.log('STEP FORWARD 1 h (at +2 s; leaseMs 3000; the date jobs share 1 executor slot)')
  for (const id of ['date-running', 'date-queued', 'date-stepped-over']) {
    console.log(`  ${id}: ${r.outcomes.filter(([j]) => j === id).map(([, e]) => e).join(', ') || 'NO OUTCOME (removed without a run or a missed record)'}; still stored: ${await app.scheduler.getJob(id) !== null}`)
  }
  console.log(`  runs abandoned: ${app.scheduler.metrics.runs.abandoned}`)
  console.log(`  every-10s in the minute after (s after the step, real time): [${inMinute('every-10s').join(', ')}], missed ${missed('every-10s')}`)
  console.log(`  cron-15s in the minute after: ${inMinute('cron-15s').length} fires, missed ${missed('cron-15s')}`)
  console.log(`  warnings: ${JSON.stringify([...new Set(r.logs.filter((l) => l.level >= 40).map((l) => l.msg))])}`)
  console.log(`  /health: ${health.statusCode} ${health.body}`)
  console.log(`  metrics: ${await metricLines(app)}`)
  await app.close()
}

// ---- back
{
  const r = await rig()
  const { app, clock } = r
  await app.scheduler.addJob({ id: 'every-10s', func: 'tick', trigger: 'interval', seconds: 10 })
  await app.scheduler.addJob({ id: 'cron-15s', func: 'tick', trigger: 'cron', second: '*/15' })
  await clock.advance(s(32))
  const fromMono = clock.monotonic()
  clock.step(-HOUR)
  await clock.advance(s(60))
  await app.scheduler.whenIdle()
  const inMinute = (id: string): number[] => r.fires.filter((f) => f.id === id && f.mono >= fromMono).map((f) => Math.round((f.mono - fromMono) / 1000))
  const health = await app.inject({ method: 'GET', url: '/scheduler/health' })
  console.log('STEP BACK 1 h (at +32 s)')
  console.log(`  every-10s in the minute after (s after the step): [${inMinute('every-10s').join(', ')}]`)
  console.log(`  cron-15s in the minute after (s after the step): [${inMinute('cron-15s').join(', ')}]`)
  console.log(`  /health: ${health.statusCode} ${health.body}`)
  console.log(`  metrics: ${await metricLines(app)}`)
  await app.close()
}

// ---- historyLimit
{
  const r = await rig({ historyLimit: 5, executors: { default: { maxConcurrency: 50 } } })
  const { app } = r
  await app.scheduler.addJob({ id: 'manual', func: 'hold', trigger: 'interval', hours: 1, max_instances: 500 })
  const codes: Record<number, number> = {}
  let most = 0
  for (let i = 0; i < 500; i++) {
    const res = await app.inject({ method: 'POST', url: '/scheduler/jobs/manual/run?wait=false' })
    codes[res.statusCode] = (codes[res.statusCode] ?? 0) + 1
    most = Math.max(most, (await app.scheduler.getJobRuns('manual')).length)
  }
  r.release()
  await app.scheduler.whenIdle()
  console.log('500 POST …/run?wait=false, historyLimit 5, max_instances 500, 50 slots')
  console.log(`  answers ${JSON.stringify(codes)}; most history rows while queued/running: ${most}; rows after they finished: ${(await app.scheduler.getJobRuns('manual')).length}`)
  await app.close()
}
process.exit(0)
