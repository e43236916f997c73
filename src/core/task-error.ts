/**
 * Turns whatever a task threw or rejected with into the `{ name, message, stack }` a run records.
 * Tasks can throw anything (strings, undefined, objects without a prototype, proxies whose every
 * access throws, errors with megabytes of text): this never throws itself, and caps every field,
 * so a failure is always recorded as an `error` run and answered in a bounded size.
 */
import { inspect } from 'node:util'
import type { RunError, RunRecord } from '../types.js'

/** Characters kept of each field; the rest is replaced by a note saying how long it was. */
export const ERROR_LIMITS = { name: 200, message: 8 * 1024, stack: 16 * 1024 } as const

/** Room for the truncation note, so capping a capped text again leaves it as it is. */
const NOTE_ROOM = 64

export function capText (text: string, limit: number): string {
  if (text.length <= limit + NOTE_ROOM) return text
  return `${text.slice(0, limit)}… [truncated: ${text.length} characters in all]`
}

/** A stored error capped again (records written before the caps, or by another writer). */
export function capError (error: RunRecord['error']): RunRecord['error'] {
  if (error === null || typeof error !== 'object') return null
  return {
    name: capText(typeof error.name === 'string' ? error.name : 'Error', ERROR_LIMITS.name),
    message: capText(typeof error.message === 'string' ? error.message : String(error.message), ERROR_LIMITS.message),
    stack: typeof error.stack === 'string' ? capText(error.stack, ERROR_LIMITS.stack) : null
  }
}

/** What a task threw or rejected with, as a run's error. Never throws. */
export function describeThrown (value: unknown): RunError {
  let name = 'Error'
  let message: string
  let stack: string | null = null
  if (typeof value === 'string') {
    message = value
  } else if (value === undefined || value === null || typeof value !== 'object') {
    message = `the task threw ${safeInspect(value)}`
  } else {
    const own = (key: string): unknown => { try { return (value as Record<string, unknown>)[key] } catch { return undefined } }
    const n = own('name')
    const m = own('message')
    const s = own('stack')
    if (typeof n === 'string' && n !== '') name = n
    if (typeof s === 'string') stack = s
    if (typeof m === 'string') message = m
    else if (isError(value)) message = ''
    else message = `the task threw a non-Error value: ${safeInspect(value)}`
  }
  return {
    name: capText(name, ERROR_LIMITS.name),
    message: capText(message, ERROR_LIMITS.message),
    stack: stack === null ? null : capText(stack, ERROR_LIMITS.stack)
  }
}

function isError (value: object): boolean {
  try { return value instanceof Error } catch { return false }
}

function safeInspect (value: unknown): string {
  try {
    return inspect(value, { depth: 2, breakLength: Infinity, maxArrayLength: 20, maxStringLength: ERROR_LIMITS.message, customInspect: false })
  } catch {
    try { return Object.prototype.toString.call(value) } catch { return 'an uninspectable value' }
  }
}
