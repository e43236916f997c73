import { createHash } from 'node:crypto'
import { ValidationError } from './errors.js'

/** Refuses anything that would not survive a JSON round trip, naming where it sits. */
export function assertJsonValue (value: unknown, path: string, depth = 0): void {
  if (depth > 64) throw new ValidationError(path, 'is nested too deeply')
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new ValidationError(path, 'must be a finite number (JSON has no NaN or Infinity)')
    return
  }
  if (Array.isArray(value)) {
    value.forEach((item, i) => assertJsonValue(item, `${path}[${i}]`, depth + 1))
    return
  }
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value)
    if (proto !== Object.prototype && proto !== null) throw new ValidationError(path, `must be JSON (got ${proto?.constructor?.name ?? 'an object'})`)
    for (const [key, item] of Object.entries(value)) assertJsonValue(item, `${path}.${key}`, depth + 1)
    return
  }
  throw new ValidationError(path, `must be JSON (got ${typeof value})`)
}

/** JSON with sorted keys, so equal definitions hash equally whatever their key order. */
export function stableStringify (value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    const entries = Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${stableStringify((value as Record<string, unknown>)[k])}`)
    return `{${entries.join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

export function hashOf (value: unknown): string {
  return createHash('sha256').update(stableStringify(value)).digest('hex').slice(0, 32)
}
