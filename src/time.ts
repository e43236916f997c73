/**
 * Wall-clock <-> instant conversions in IANA zones. Every instant is UTC epoch milliseconds.
 * Nothing here ever shifts a time silently: a wall time in a DST gap is an error for input, and
 * callers that search (cron) see `gap` and decide themselves.
 */
import { IANAZone } from 'luxon'
import { ValidationError } from './errors.js'

/** Year 1 .. 9999, the range ISO strings with 4-digit years can express. */
const MIN_INSTANT = new Date('0001-01-01T00:00:00Z').getTime()
export const MAX_INSTANT = new Date('9999-12-31T23:59:59.999Z').getTime()

const EXAMPLE = 'must be an ISO 8601 date-time, e.g. 2030-05-06T07:08:09+00:00'

// Zone objects of names already checked: luxon's validity check builds an Intl formatter per call,
// too slow for every fire. Bounded, because names are matched case-insensitively by Intl.
const zones = new Map<string, IANAZone>()
const MAX_CACHED_ZONES = 1000

export function isValidTimezone (tz: string): boolean {
  if (typeof tz !== 'string' || tz.length === 0) return false
  if (zones.has(tz)) return true
  if (!IANAZone.isValidZone(tz)) return false
  zone(tz)
  return true
}

/**
 * The zone's own spelling of a name Intl accepted in another case ('europe/berlin' →
 * 'Europe/Berlin'), so jobs report a proper IANA name. Aliases keep the name given.
 */
export function canonicalTimezone (tz: string): string {
  if (!isValidTimezone(tz)) return tz
  let resolved: string
  try {
    resolved = new Intl.DateTimeFormat('en-US', { timeZone: tz }).resolvedOptions().timeZone
  } catch {
    return tz
  }
  return resolved !== tz && resolved.toLowerCase() === tz.toLowerCase() ? resolved : tz
}

function zone (tz: string): IANAZone {
  let z = zones.get(tz)
  if (z === undefined) {
    z = new IANAZone(tz) // not IANAZone.create: its cache keeps every name ever asked, unbounded
    if (z.isValid && zones.size < MAX_CACHED_ZONES) zones.set(tz, z)
  }
  return z
}

const HOUR = 3600000
const MAX_CACHED_HOURS = 20000
/** Per zone: hours (epoch ms / 1 h) known to have one offset throughout, and that offset. */
const hourOffsets = new Map<string, Map<number, number>>()

/**
 * The zone's UTC offset at `ms`, in minutes (may be fractional for historic local mean time).
 * Asking Intl costs microseconds and cron searches ask often, so hours whose two ends have the
 * same offset are remembered (no zone changes its offset twice within one hour).
 */
export function offsetAt (ms: number, timezone: string): number {
  if (timezone === 'UTC') return 0
  const hour = Math.floor(ms / HOUR)
  let hours = hourOffsets.get(timezone)
  const hit = hours?.get(hour)
  if (hit !== undefined) return hit
  const z = zone(timezone)
  const first = z.offset(hour * HOUR)
  if (first !== z.offset(hour * HOUR + HOUR - 1)) return z.offset(ms)
  if (hours === undefined) {
    if (hourOffsets.size >= MAX_CACHED_ZONES) hourOffsets.clear()
    hours = new Map()
    hourOffsets.set(timezone, hours)
  }
  if (hours.size >= MAX_CACHED_HOURS) hours.clear()
  hours.set(hour, first)
  return first
}

export interface WallTime {
  year: number
  month: number // 1-12
  day: number
  hour: number
  minute: number
  second: number
  millisecond: number
  /** 0 = Monday ... 6 = Sunday (APScheduler numbering). */
  weekday: number
  /** Offset in minutes. */
  offset: number
}

export function wallTime (ms: number, timezone: string): WallTime {
  const offset = offsetAt(ms, timezone)
  const d = new Date(ms + Math.round(offset * 60000))
  return {
    year: d.getUTCFullYear(),
    month: d.getUTCMonth() + 1,
    day: d.getUTCDate(),
    hour: d.getUTCHours(),
    minute: d.getUTCMinutes(),
    second: d.getUTCSeconds(),
    millisecond: d.getUTCMilliseconds(),
    weekday: (d.getUTCDay() + 6) % 7,
    offset
  }
}

/** Date.UTC without the 0-99 => 1900s quirk. */
export function utcMs (y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): number {
  const date = new Date(Date.UTC(2000, mo - 1, d, h, mi, s, ms))
  date.setUTCFullYear(y, mo - 1, d)
  return date.getTime()
}

export type LocalResolution =
  | { kind: 'ok', ms: number, /** a later instant with the same wall time (fall-back), if any */ later: number | null }
  | { kind: 'gap', /** the instant just after the gap the wall time falls in */ ms: number }

/**
 * Every instant whose wall time in `timezone` is the given one. On fall-back there are two
 * (`ms` is the earlier); in a spring-forward gap there is none.
 */
export function resolveLocal (
  timezone: string, y: number, mo: number, d: number, h = 0, mi = 0, s = 0, msPart = 0
): LocalResolution {
  const local = utcMs(y, mo, d, h, mi, s, msPart)
  // The offsets in force around this wall time (transitions are far more than a day apart).
  const offsets = new Set([offsetAt(local - 86400000, timezone), offsetAt(local, timezone), offsetAt(local + 86400000, timezone)])
  const hits: number[] = []
  for (const o of offsets) {
    const t = local - Math.round(o * 60000)
    if (offsetAt(t, timezone) === o) hits.push(t)
  }
  if (hits.length > 0) {
    hits.sort((a, b) => a - b)
    return { kind: 'ok', ms: hits[0]!, later: hits.length > 1 ? hits[hits.length - 1]! : null }
  }
  // Gap: read the wall time with the offset before it, which lands after the gap.
  const before = offsetAt(local - 86400000, timezone)
  return { kind: 'gap', ms: local - Math.round(before * 60000) }
}

const ISO_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?)?)?$/

export function daysInMonth (y: number, month: number): number {
  return month === 2 ? (y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28) : [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]!
}

function pad (n: number, width = 2): string {
  return String(n).padStart(width, '0')
}

/**
 * A date input as epoch ms: an ISO 8601 string (offset => that instant; no offset => wall time in
 * `timezone`; date only => midnight there; 'T' or a space), a valid Date, or finite epoch ms.
 */
export function parseDateInput (value: unknown, timezone: string, field: string, round: 'down' | 'up' = 'down'): number {
  return readDateInput(value, timezone, field, round).ms
}

export interface DateInput {
  ms: number
  /** Seconds east of UTC when the input named its offset (`Z` = 0), so it can be written back so. */
  offset: number | null
}

/** parseDateInput, also telling the offset an ISO string gave explicitly. */
export function readDateInput (value: unknown, timezone: string, field: string, round: 'down' | 'up' = 'down'): DateInput {
  if (value instanceof Date) {
    const t = value.getTime()
    if (!Number.isFinite(t)) throw new ValidationError(field, 'is an invalid Date')
    return { ms: checkRange(t, field, timezone), offset: null }
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new ValidationError(field, `${EXAMPLE} or epoch milliseconds`)
    return { ms: checkRange(round === 'up' ? Math.ceil(value) : Math.floor(value), field, timezone), offset: null }
  }
  if (typeof value !== 'string') throw new ValidationError(field, EXAMPLE)
  const text = value.trim()
  const m = ISO_RE.exec(text)
  if (m === null) throw new ValidationError(field, `'${value}' ${EXAMPLE.replace('must be', 'is not')}`)
  const [, ys, mos, ds, hs, mis, ss, frac, z, sign, ohs, oms, oss] = m
  const y = Number(ys); const mo = Number(mos); const d = Number(ds)
  const h = Number(hs ?? 0); const mi = Number(mis ?? 0); const s = Number(ss ?? 0)
  // Keep millisecond precision: microseconds from Python clients are cut off, or rounded up where
  // the instant is a lower bound (start_date), so nothing fires before it.
  const msPart = frac === undefined ? 0 : Number(frac.slice(0, 3).padEnd(3, '0'))
  const up = round === 'up' && frac !== undefined && /[1-9]/.test(frac.slice(3)) ? 1 : 0
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo) || h > 23 || mi > 59 || s > 59) {
    throw new ValidationError(field, `'${value}' is not a valid date-time; ${EXAMPLE.replace('must be', 'use')}`)
  }
  if (z !== undefined || sign !== undefined) {
    let offsetMs = 0
    if (sign !== undefined) {
      const oh = Number(ohs); const om = Number(oms ?? 0); const os = Number(oss ?? 0)
      if (oh > 23 || om > 59 || os > 59) throw new ValidationError(field, `'${value}' has an invalid UTC offset`)
      offsetMs = (sign === '-' ? -1 : 1) * ((oh * 60 + om) * 60 + os) * 1000
    }
    return { ms: checkRange(utcMs(y, mo, d, h, mi, s, msPart) - offsetMs + up, field, timezone), offset: offsetMs / 1000 }
  }
  if (!isValidTimezone(timezone)) throw new ValidationError('timezone', `'${timezone}' is not a valid IANA time zone`)
  const r = resolveLocal(timezone, y, mo, d, h, mi, s, msPart)
  if (r.kind === 'gap') {
    const wall = `${pad(y, 4)}-${pad(mo)}-${pad(d)}T${pad(h)}:${pad(mi)}:${pad(s)}`
    throw new ValidationError(field, `${wall} does not exist in ${timezone} (daylight saving time gap); give an explicit UTC offset or another time`)
  }
  return { ms: checkRange(r.ms + up, field, timezone), offset: null }
}

/**
 * Years 0001-9999, both as an instant and as wall time in the zone the date is written back in
 * (`9999-12-31T23:00:00Z` would come out as year 10000 in Tokyo and could not be sent again).
 */
function checkRange (ms: number, field: string, timezone: string): number {
  const year = ms < MIN_INSTANT || ms > MAX_INSTANT || !isValidTimezone(timezone) ? null : wallTime(ms, timezone).year
  if (year === null ? ms < MIN_INSTANT || ms > MAX_INSTANT : year < 1 || year > 9999) {
    throw new ValidationError(field, `is outside the years 0001-9999${year === null || timezone === 'UTC' ? '' : ` (in ${timezone})`}`)
  }
  return ms
}

/**
 * ISO 8601 with the zone's offset, or with `offset` (seconds east of UTC) when given: a date sent
 * with an explicit offset is written back with it. A fraction only when non-zero, with 6 digits
 * (as Python writes it).
 */
export function formatDate (ms: number, timezone: string, offset: number | null = null): string {
  const w = offset === null ? wallTime(ms, timezone) : wallTime(ms + offset * 1000, 'UTC')
  if (offset !== null) w.offset = offset / 60
  let out = `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)}T${pad(w.hour)}:${pad(w.minute)}:${pad(w.second)}`
  if (w.millisecond !== 0) out += `.${pad(w.millisecond, 3)}000`
  const totalSeconds = Math.round(w.offset * 60)
  const abs = Math.abs(totalSeconds)
  out += `${totalSeconds < 0 ? '-' : '+'}${pad(Math.floor(abs / 3600))}:${pad(Math.floor(abs / 60) % 60)}`
  if (abs % 60 !== 0) out += `:${pad(abs % 60)}`
  return out
}
