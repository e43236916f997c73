/** Nearest-rank percentile of an ascending array (NaN when empty). */
export function percentile (sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN
  const rank = Math.ceil(p * sorted.length) - 1
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))] as number
}

export function ascending (values: Iterable<number>): Float64Array {
  return Float64Array.from(values).sort()
}

export function median (values: number[]): number {
  const finite = values.filter((v) => Number.isFinite(v))
  if (finite.length === 0) return NaN
  return percentile(ascending(finite), 0.5)
}

/** Least-squares slope of y over x. */
export function slope (xs: number[], ys: number[]): number {
  const n = xs.length
  if (n < 2) return NaN
  let sx = 0; let sy = 0
  for (let i = 0; i < n; i++) { sx += xs[i] as number; sy += ys[i] as number }
  const mx = sx / n; const my = sy / n
  let num = 0; let den = 0
  for (let i = 0; i < n; i++) {
    const dx = (xs[i] as number) - mx
    num += dx * ((ys[i] as number) - my)
    den += dx * dx
  }
  return den === 0 ? NaN : num / den
}

export function round (value: number, digits = 1): number {
  if (!Number.isFinite(value)) return value
  const f = 10 ** digits
  return Math.round(value * f) / f
}

/** p50/p99/max of lateness values in ms. */
export function latenessSummary (values: number[]): { p50: number, p90: number, p99: number, max: number } {
  const sorted = ascending(values)
  return { p50: round(percentile(sorted, 0.5), 2), p90: round(percentile(sorted, 0.9), 2), p99: round(percentile(sorted, 0.99), 2), max: round(sorted[sorted.length - 1] ?? NaN, 2) }
}
