/**
 * The targets of the scale and Redis issues, checked against the median figures of a run. Each
 * check names what it compares; a scenario's table shows a pass/fail per row of ours.
 */
export type Figures = Record<string, unknown>

export interface Check { text: string, pass: boolean }

const num = (f: Figures | undefined, key: string): number => {
  const v = f?.[key]
  return typeof v === 'number' ? v : NaN
}
const le = (value: number, limit: number): boolean => Number.isFinite(value) && value <= limit
const check = (text: string, pass: boolean): Check => ({ text, pass })

/** Per scenario and store: the checks of one adapter's median figures. `bestPeer` is the best peer's headline figure. */
export function checks (scenario: string, adapter: string, f: Figures, bestPeer: number): Check[] {
  const store = adapter.replace(/^ours-/, '')
  switch (scenario) {
    case 'S1': {
      const p99 = num(f, 'p99')
      if (store === 'memory') return [check('p99 ≤ 5 ms', le(p99, 5)), check('p99 ≤ best peer', le(p99, bestPeer)), check('0 missed', num(f, 'missed') === 0)]
      return [check('p99 ≤ 10 ms', le(p99, 10)), check('0 missed', num(f, 'missed') === 0)]
    }
    case 'S2': {
      const out = [check('0 missed', num(f, 'missed') === 0)]
      if (store === 'memory') out.push(check('p99 ≤ 50 ms', le(num(f, 'p99'), 50)), check('RSS ≤ 250 MB', le(num(f, 'rssMB'), 250)))
      else if (store === 'sqlite') out.push(check('p99 ≤ 150 ms', le(num(f, 'p99'), 150)))
      else out.push(check('p99 ≤ 100 ms', le(num(f, 'p99'), 100)))
      return out
    }
    case 'S3': {
      const limit = store === 'memory' ? 40 : store === 'sqlite' ? 150 : 300
      return [check(`last start ≤ ${limit} ms`, le(num(f, 'lastStartMs'), limit)), check('0 missed', num(f, 'missed') === 0)]
    }
    case 'S4':
      return [check('0 duplicates', num(f, 'duplicates') === 0), check('0 missed', num(f, 'missed') === 0), check('p99 ≤ 20 ms', le(num(f, 'p99'), 20))]
    case 'S2W':
      return [check('0 duplicates', num(f, 'duplicates') === 0), check('0 missed', num(f, 'missed') === 0), check('p99 ≤ 100 ms', le(num(f, 'p99'), 100))]
    case 'S5': {
      const out = [check('drift ≤ 0.1 ms/period', le(Math.abs(num(f, 'driftMsPerPeriod')), 0.1))]
      if (store === 'memory') out.push(check('p99 ≤ 5 ms', le(num(f, 'p99'), 5)))
      return out
    }
    case 'S7':
      return [
        check('GET p99 ≤ 1.3× bare', le(num(f, 'getP99Ratio'), 1.3)), check('GET req/s ≥ bare/1.3', le(num(f, 'getRpsRatio'), 1.3)),
        check('POST p99 ≤ 1.3× bare', le(num(f, 'postP99Ratio'), 1.3)), check('POST req/s ≥ bare/1.3', le(num(f, 'postRpsRatio'), 1.3))
      ]
    default:
      return []
  }
}

/** S6 is judged across its sizes: smallest against largest. */
export function sizeChecks (adapter: string, bySize: Array<{ size: number, f: Figures }>): Check[] {
  const sorted = [...bySize].sort((a, b) => a.size - b.size)
  const small = sorted[0]?.f
  const large = sorted.at(-1)?.f
  const ratio = (key: string): number => num(large, key) / num(small, key)
  const out = [
    check(`loop wakeup within 2× (${sorted.at(-1)?.size ?? '?'} vs ${sorted[0]?.size ?? '?'} jobs)`, le(ratio('wakeupP50Ms'), 2)),
    check('GET /jobs?limit=100 within 2×', le(ratio('listP50Ms'), 2))
  ]
  if (adapter === 'ours-memory') out.push(check('≤ 1 KB per job', sorted.every((s) => le(num(s.f, 'bytesPerJob'), 1024))))
  if (adapter === 'ours-sqlite') out.push(check('first fire ≤ 1 s after ready() at the largest size', le(num(large, 'firstFireMs'), 1000)))
  return out
}
