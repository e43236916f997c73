/** Median figures per scenario and adapter, and the printed table (markdown, so the README can show it as is). */
import { adapterInfo } from './adapters/index.js'
import { median, round } from './lib/stats.js'
import { checks, sizeChecks, type Figures } from './targets.js'

export interface RunRecord { scenario: string, variant: string, adapter: string, run: number, wallMs: number, result: Figures }

/** Medians of every numeric figure over the runs that did not fail; the first run's other values. */
export function medianFigures (runs: Figures[]): Figures {
  const ok = runs.filter((r) => r.error === undefined && r.skipped === undefined)
  if (ok.length === 0) return { ...(runs[0] ?? {}), runs: runs.length }
  const out: Figures = { ...ok[0], runs: ok.length }
  for (const key of Object.keys(ok[0] as Figures)) {
    if (typeof (ok[0] as Figures)[key] === 'number') out[key] = round(median(ok.map((r) => r[key] as number)), 3)
  }
  if (ok.length < runs.length) out.failedRuns = runs.length - ok.length
  return out
}

interface Column { key: string, label: string, format?: (v: unknown, f: Figures) => string }

const ms = (v: unknown): string => typeof v === 'number' && Number.isFinite(v) ? `${round(v, v < 10 ? 1 : 0)}` : '–'
const plain = (v: unknown): string => v === undefined ? '–' : typeof v === 'number' ? `${round(v, 2)}` : String(v)

/** The columns of each scenario and the figure compared with the best peer (lower is better). */
const layout: Record<string, { columns: Column[], headline?: string, sharingPeersOnly?: boolean }> = {
  S1: { columns: [{ key: 'fired', label: 'fired' }, { key: 'missed', label: 'missed' }, { key: 'p50', label: 'p50 ms', format: ms }, { key: 'p99', label: 'p99 ms', format: ms }, { key: 'max', label: 'max ms', format: ms }, { key: 'cpuMs', label: 'CPU ms' }, { key: 'redisCpuS', label: 'Redis CPU s' }], headline: 'p99' },
  S2: { columns: [{ key: 'fired', label: 'fired' }, { key: 'missed', label: 'missed' }, { key: 'p50', label: 'p50 ms', format: ms }, { key: 'p99', label: 'p99 ms', format: ms }, { key: 'rssMB', label: 'RSS MB' }, { key: 'addMs', label: 'add ms' }, { key: 'cpuMs', label: 'CPU ms' }, { key: 'redisCpuS', label: 'Redis CPU s' }], headline: 'p99' },
  S3: { columns: [{ key: 'fired', label: 'fired' }, { key: 'missed', label: 'missed' }, { key: 'firstStartMs', label: 'first start ms', format: ms }, { key: 'p50', label: 'p50 ms', format: ms }, { key: 'lastStartMs', label: 'last start ms', format: ms }, { key: 'addMs', label: 'add ms' }, { key: 'cpuMs', label: 'CPU ms' }, { key: 'redisCpuS', label: 'Redis CPU s' }], headline: 'lastStartMs' },
  S4: { columns: [{ key: 'fired', label: 'fired' }, { key: 'missed', label: 'missed' }, { key: 'duplicates', label: 'duplicates' }, { key: 'duplicationFactor', label: 'dup. factor' }, { key: 'p50', label: 'p50 ms', format: ms }, { key: 'p99', label: 'p99 ms', format: ms }, { key: 'split', label: 'split', format: (v) => v === undefined ? '–' : Object.values(v as Record<string, number>).join('/') }, { key: 'cpuS', label: 'workers CPU s' }, { key: 'redisCpuS', label: 'Redis CPU s' }], headline: 'p99', sharingPeersOnly: true },
  S2W: { columns: [{ key: 'fired', label: 'fired' }, { key: 'missed', label: 'missed' }, { key: 'duplicates', label: 'duplicates' }, { key: 'duplicationFactor', label: 'dup. factor' }, { key: 'p50', label: 'p50 ms', format: ms }, { key: 'p99', label: 'p99 ms', format: ms }, { key: 'split', label: 'split', format: (v) => v === undefined ? '–' : Object.values(v as Record<string, number>).join('/') }, { key: 'cpuS', label: 'workers CPU s' }, { key: 'redisCpuS', label: 'Redis CPU s' }], headline: 'p99', sharingPeersOnly: true },
  S5: { columns: [{ key: 'fired', label: 'fired' }, { key: 'missed', label: 'missed' }, { key: 'driftMsPerPeriod', label: 'drift ms/period' }, { key: 'p50', label: 'p50 ms', format: ms }, { key: 'p99', label: 'p99 ms', format: ms }], headline: 'p99' },
  S6: { columns: [{ key: 'size', label: 'jobs' }, { key: 'bytesPerJob', label: 'heap B/job' }, { key: 'fillPerSec', label: 'fill jobs/s' }, { key: 'addPerSec', label: 'add while running jobs/s' }, { key: 'wakeupP50Ms', label: 'wakeup p50 ms' }, { key: 'listP50Ms', label: 'GET /jobs?limit=100 p50 ms' }, { key: 'readyMs', label: 'ready() ms' }, { key: 'firstFireMs', label: 'ready→first fire ms' }] },
  S7: { columns: [{ key: 'getRps', label: 'GET req/s' }, { key: 'bareGetRps', label: 'bare GET req/s' }, { key: 'getP99', label: 'GET p99 ms' }, { key: 'bareGetP99', label: 'bare GET p99 ms' }, { key: 'postRps', label: 'POST req/s' }, { key: 'barePostRps', label: 'bare POST req/s' }, { key: 'postP99', label: 'POST p99 ms' }, { key: 'barePostP99', label: 'bare POST p99 ms' }] }
}

function cell (col: Column, f: Figures): string {
  if (f.error !== undefined) return col === undefined ? '' : '–'
  return (col.format ?? plain)(f[col.key], f)
}

/** One markdown table per scenario; returns the text and whether every check of ours passed. */
export function table (scenario: string, title: string, medians: Array<{ adapter: string, variant: string, f: Figures }>): { text: string, checks: Array<{ adapter: string, text: string, pass: boolean }> } {
  const { columns, headline, sharingPeersOnly } = layout[scenario] ?? { columns: [] }
  // In S4 a peer that runs every fire in every process is no yardstick for lateness: compare with those that share.
  const peers = medians.filter((m) => !adapterInfo(m.adapter).ours && m.f.error === undefined && m.f.skipped === undefined &&
    (sharingPeersOnly !== true || adapterInfo(m.adapter).sharesAcrossProcesses))
  const peerValues = headline === undefined ? [] : peers.map((m) => m.f[headline]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v))
  const best = peerValues.length === 0 ? NaN : Math.min(...peerValues)
  const bestName = headline === undefined ? '' : peers.find((m) => m.f[headline] === best)?.adapter ?? ''
  const lines: string[] = [`### ${scenario}: ${title}`, '']
  const head = ['scheduler', ...columns.map((c) => c.label)]
  if (headline !== undefined) head.push(`${headline} ÷ best peer${bestName === '' ? '' : ` (${bestName})`}`)
  head.push('target')
  lines.push(`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`)
  const allChecks: Array<{ adapter: string, text: string, pass: boolean }> = []
  for (const m of medians) {
    if (m.f.skipped !== undefined) continue
    const info = adapterInfo(m.adapter)
    const row = [m.adapter + (m.f.runs !== undefined && m.f.runs !== 1 ? ` (${String(m.f.runs)} runs)` : '') + (m.f.starved !== undefined ? ' (starved¹)' : '')]
    if (m.f.error !== undefined) {
      row.push(`error: ${String(m.f.error).slice(0, 120)}`, ...columns.slice(1).map(() => ''))
    } else {
      row.push(...columns.map((c) => cell(c, m.f)))
    }
    if (headline !== undefined) {
      const v = m.f[headline]
      row.push(typeof v === 'number' && Number.isFinite(best) && best > 0 ? `${round(v / best, 2)}×` : '–')
    }
    let target = ''
    if (info.ours && scenario !== 'S6') {
      const cs = m.f.error !== undefined ? [{ text: 'ran', pass: false }] : checks(scenario, m.adapter, m.f, best)
      target = cs.map((c) => `${c.pass ? 'pass' : '**FAIL**'} ${c.text}`).join('; ')
      for (const c of cs) allChecks.push({ adapter: m.adapter, ...c })
    }
    row.push(target)
    lines.push(`| ${row.join(' | ')} |`)
  }
  const starved = medians.find((m) => m.f.starved !== undefined)
  if (starved !== undefined) lines.push('', `¹ Starved: ${String(starved.f.starved)}.`)
  if (scenario === 'S6') {
    for (const adapter of [...new Set(medians.map((m) => m.adapter))]) {
      const bySize = medians.filter((m) => m.adapter === adapter && m.f.error === undefined).map((m) => ({ size: Number(m.f.size), f: m.f }))
      const cs = bySize.length < 2 ? [{ text: 'ran at two sizes or more', pass: false }] : sizeChecks(adapter, bySize)
      for (const c of cs) allChecks.push({ adapter, ...c })
      lines.push('', `${adapter}: ${cs.map((c) => `${c.pass ? 'pass' : '**FAIL**'} ${c.text}`).join('; ')}`)
    }
  }
  return { text: lines.join('\n'), checks: allChecks }
}
