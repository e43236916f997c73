// The dashboard's only way to the server: the REST API under the scheduler's prefix.
import { errorField } from './format.js'

export const API = document.documentElement.dataset.api ?? ''

export class ApiError extends Error {
  constructor (status, message) {
    super(message)
    this.status = status
    this.field = errorField(message)
  }
}

/**
 * Calls the API and returns `{ data, total, status }`. Statuses in `accept` (besides 2xx) are data,
 * not errors (the health route answers 503 when jobs are overdue). Same-origin requests carry the
 * page's Origin and the browser's cached Basic credentials, so no token handling is needed here.
 */
export async function call (method, path, { body, accept = [] } = {}) {
  const init = { method, headers: { accept: 'application/json' }, credentials: 'same-origin' }
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json'
    init.body = JSON.stringify(body)
  }
  let res
  try {
    res = await fetch(API + path, init)
  } catch (err) {
    throw new ApiError(0, `The server cannot be reached (${err.message})`)
  }
  const total = res.headers.get('x-total-count')
  const text = res.status === 204 ? '' : await res.text()
  const isJson = (res.headers.get('content-type') ?? '').includes('json')
  let data = text
  if (isJson && text !== '') {
    try { data = JSON.parse(text) } catch { data = text }
  }
  if (!res.ok && !accept.includes(res.status)) {
    const message = typeof data === 'object' && data !== null && typeof data.message === 'string' ? data.message : `HTTP ${res.status}`
    throw new ApiError(res.status, message)
  }
  return { data, total: total === null ? null : Number(total), status: res.status }
}

export const get = async (path, options) => (await call('GET', path, options)).data
export const post = async (path, body, options) => (await call('POST', path, { ...options, body })).data

export const jobPath = (id) => `/jobs/${encodeURIComponent(id)}`

/** Reads the Prometheus text of `GET P/metrics` into the few numbers the header shows. */
export function parseMetrics (text) {
  const out = { runs: { success: 0, error: 0, missed: 0, abandoned: 0 }, misfires: 0, lagCount: 0, lagSum: 0, buckets: new Map() }
  for (const line of String(text).split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue
    const m = /^([a-z_:]+)(\{[^}]*\})?\s+(\S+)/i.exec(line)
    if (m === null) continue
    const [, name, labels = '', raw] = m
    const value = Number(raw)
    if (!Number.isFinite(value)) continue
    const label = (key) => new RegExp(`${key}="([^"]*)"`).exec(labels)?.[1]
    if (name === 'apscheduler_job_runs_total') {
      const outcome = label('outcome')
      if (outcome !== undefined) out.runs[outcome] = (out.runs[outcome] ?? 0) + value
    } else if (name === 'apscheduler_job_misfires_total') out.misfires += value
    else if (name === 'apscheduler_fire_lag_seconds_sum') out.lagSum += value
    else if (name === 'apscheduler_fire_lag_seconds_count') out.lagCount += value
    else if (name === 'apscheduler_fire_lag_seconds_bucket') {
      const le = label('le')
      if (le !== undefined) out.buckets.set(le, (out.buckets.get(le) ?? 0) + value)
    }
  }
  return out
}

/** The upper bound (seconds) of the histogram bucket holding quantile `q`, or null. */
export function bucketQuantile (metrics, q) {
  if (metrics.lagCount === 0) return null
  const target = metrics.lagCount * q
  const bounds = [...metrics.buckets.entries()].map(([le, n]) => [le === '+Inf' ? Infinity : Number(le), n]).sort((a, b) => a[0] - b[0])
  for (const [le, n] of bounds) if (n >= target) return le
  return Infinity
}
