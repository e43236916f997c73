/**
 * `npm run bench`: every scenario, on fastify-apscheduler's stores and on the libraries a user would
 * pick instead, each run in its own child process, ours and peers alternating. Prints one table per
 * scenario (medians of the runs, ratios to the best peer of the same run, pass/fail against the
 * targets) and writes everything to bench/results/<timestamp>.json.
 *
 *   npm run bench                              # all scenarios, one run each (25-30 minutes, half of it S6's million jobs)
 *   npm run bench -- --only S1,S3 --runs 3     # some scenarios, median of 3 runs each
 *   npm run bench -- --quick                   # short and small: a smoke test of the harness
 *   npm run bench -- --adapters ours-memory,croner
 */
import { fork } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { parseArgs } from 'node:util'
import { adapterInfo } from './adapters/index.js'
import { medianFigures, table, type RunRecord } from './report.js'
import { scenarios, type Scenario } from './scenarios/index.js'
import type { Figures } from './targets.js'
import { probeStalls } from './lib/stall-probe.js'

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string' },
    only: { type: 'string' },
    quick: { type: 'boolean', default: false },
    adapters: { type: 'string' },
    out: { type: 'string' }
  }
})
const runsArg = args.runs === undefined ? undefined : Number(args.runs)
if (runsArg !== undefined && (!Number.isInteger(runsArg) || runsArg < 1)) throw new Error('--runs must be a positive integer')
const only = args.only?.split(',').map((s) => s.trim().toUpperCase())
const unknown = only?.filter((id) => !scenarios.some((s) => s.id === id)) ?? []
if (unknown.length > 0) throw new Error(`--only: unknown scenario ${unknown.join(', ')} (known: ${scenarios.map((s) => s.id).join(', ')})`)
const adapterFilter = args.adapters?.split(',').map((s) => s.trim())
for (const name of adapterFilter ?? []) adapterInfo(name)
const quick = args.quick

// The scenarios run transpiled (bench/build.mjs, before every `npm run bench`), without a TypeScript
// loader in the measured process; BENCH_FROM_SRC=1 runs them as TypeScript under tsx.
const CHILD = process.env.BENCH_FROM_SRC === '1'
  ? { path: new URL('./child.ts', import.meta.url).pathname, execArgv: ['--import', 'tsx'] }
  : { path: new URL('../dist-bench/bench/child.js', import.meta.url).pathname, execArgv: [] }
if (!existsSync(CHILD.path)) throw new Error(`${CHILD.path} is missing: run \`node bench/build.mjs\` (npm run bench does)`)
/** BENCH_NODE_FLAGS: Node/V8 flags for every scheduler's scenario process alike (e.g. GC settings). */
const NODE_FLAGS = (process.env.BENCH_NODE_FLAGS ?? '').split(/\s+/).filter((flag) => flag !== '')

/** Runs one scenario on one adapter in a fresh process; a child that overruns its time is killed. */
let childSeq = 0
async function runChild (scenario: string, adapter: string, params: unknown, timeoutMs: number): Promise<Figures> {
  // Where the child's watchdog thread writes its figures when the main thread is starved.
  const starvedFile = join(tmpdir(), `apsched-bench-${process.pid}-${childSeq++}.json`)
  const child = fork(CHILD.path, [JSON.stringify({ scenario, adapter, params, starvedFile })], {
    execArgv: ['--expose-gc', '--max-old-space-size=8192', ...NODE_FLAGS, ...CHILD.execArgv],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  return await new Promise<Figures>((resolve) => {
    let result: Figures | null = null
    const timer = setTimeout(() => { child.kill('SIGKILL'); result ??= { error: `timed out after ${timeoutMs / 1000} s` } }, timeoutMs)
    const watch = setInterval(() => {
      if (result !== null || !existsSync(starvedFile)) return
      try {
        result = JSON.parse(readFileSync(starvedFile, 'utf8')) as Figures
        child.kill('SIGKILL')
      } catch { /* written but not complete yet: next tick */ }
    }, 1000)
    child.on('message', (msg: { type: string, result: Figures }) => { if (msg.type === 'result') result = msg.result })
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      clearInterval(watch)
      rmSync(starvedFile, { force: true })
      resolve(result ?? { error: `child exited with ${code ?? signal ?? '?'} without a result` })
    })
  })
}

/** Ours and peers interleaved (ours-memory, toad, ours-sqlite, croner, …), rotated by run so no one always goes first. */
function alternate (names: string[], run: number): string[] {
  const ours = names.filter((n) => adapterInfo(n).ours)
  const peers = names.filter((n) => !adapterInfo(n).ours)
  const out: string[] = []
  for (let i = 0; i < Math.max(ours.length, peers.length); i++) {
    if (ours[i] !== undefined) out.push(ours[i] as string)
    if (peers[i] !== undefined) out.push(peers[i] as string)
  }
  const shift = run % Math.max(1, out.length)
  return [...out.slice(shift), ...out.slice(0, shift)]
}

const started = new Date()
const records: RunRecord[] = []
const sections: string[] = []
const allChecks: Array<{ scenario: string, adapter: string, text: string, pass: boolean }> = []
const medians: Record<string, Array<{ adapter: string, variant: string, f: Figures }>> = {}
const selected: Scenario[] = scenarios.filter((s) => only === undefined || only.includes(s.id))
const lead = new Map<string, number>() // S3/S5: lead learnt per adapter when adding overran the first fire

console.log(`fastify-apscheduler bench: ${selected.map((s) => s.id).join(', ')}${quick ? ' (quick)' : ''}; node ${process.version}, ${cpus().length} cores, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}${NODE_FLAGS.length > 0 ? `; scenario processes run with ${NODE_FLAGS.join(' ')}` : ''}`)
const stalls = probeStalls(quick ? 1000 : 5000)
console.log(`machine stalls: a busy loop was held up ${stalls.over1ms} times for more than 1 ms in ${stalls.seconds} s, the longest ${stalls.longestMs} ms`)
for (const scenario of selected) {
  const names = scenario.adapters.filter((a) => adapterFilter === undefined || adapterFilter.includes(a))
  const runs = runsArg ?? (quick ? 1 : scenario.defaultRuns)
  const variants = scenario.variants?.(quick) ?? [{ label: '', params: scenario.params(quick) }]
  for (const variant of variants) {
    for (let run = 0; run < runs; run++) {
      for (const adapter of alternate(names, run)) {
        const params = { ...(variant.params as object) } as Record<string, unknown>
        const key = `${scenario.id}:${adapter}`
        if (lead.has(key)) params.leadMs = lead.get(key)
        const t0 = Date.now()
        let result = await runChild(scenario.id, adapter, params, scenario.timeoutMs)
        for (let retry = 0; result.overrun === true && retry < 2; retry++) {
          // Adding the jobs took longer than the lead: retry with a lead that covers it.
          params.leadMs = Math.ceil(Number(result.addMs) * 1.5 + 2000)
          lead.set(key, params.leadMs as number)
          result = await runChild(scenario.id, adapter, params, scenario.timeoutMs)
        }
        const wallMs = Date.now() - t0
        records.push({ scenario: scenario.id, variant: variant.label, adapter, run, wallMs, result })
        const brief = result.error !== undefined ? `error: ${String(result.error)}` : result.skipped !== undefined ? `skipped: ${String(result.skipped)}` : JSON.stringify(result)
        console.log(`  ${scenario.id}${variant.label === '' ? '' : ` ${variant.label}`} run ${run + 1}/${runs} ${adapter} (${(wallMs / 1000).toFixed(0)} s): ${brief}`)
      }
    }
  }
  const rows: Array<{ adapter: string, variant: string, f: Figures }> = []
  for (const variant of variants) {
    for (const adapter of names) {
      const runsOf = records.filter((r) => r.scenario === scenario.id && r.variant === variant.label && r.adapter === adapter).map((r) => r.result)
      if (runsOf.length > 0) rows.push({ adapter, variant: variant.label, f: medianFigures(runsOf) })
    }
  }
  medians[scenario.id] = rows
  const t = table(scenario.id, scenario.title, rows)
  for (const c of t.checks) allChecks.push({ scenario: scenario.id, ...c })
  sections.push(t.text)
  console.log(`\n${t.text}\n`)
}

const passed = allChecks.filter((c) => c.pass).length
const summary = `Targets: ${passed} of ${allChecks.length} checks pass.` +
  (passed < allChecks.length ? ` Failing: ${allChecks.filter((c) => !c.pass).map((c) => `${c.scenario} ${c.adapter} ${c.text}`).join('; ')}.` : '')
console.log(summary)
const machine = { cores: cpus().length, cpu: cpus()[0]?.model, memoryGB: Math.round(totalmem() / 2 ** 30), node: process.version, platform: `${process.platform} ${process.arch}`, loadavgAtEnd: loadavg(), stallsAtStart: stalls, nodeFlags: NODE_FLAGS }
mkdirSync(new URL('./results/', import.meta.url), { recursive: true })
const out = args.out ?? new URL(`./results/${started.toISOString().replace(/[:.]/g, '-')}.json`, import.meta.url).pathname
writeFileSync(out, JSON.stringify({ started: started.toISOString(), finished: new Date().toISOString(), machine, args: { runs: runsArg, only, quick, adapters: adapterFilter }, checks: allChecks, medians, records, table: sections.join('\n\n') }, null, 2))
console.log(`results: ${out}`)
