/** Trigger specs: validation, compilation, wire format, jitter. */
import { ValidationError } from '../errors.js'
import { formatDate, isValidTimezone, MAX_INSTANT, readDateInput } from '../time.js'
import { CRON_FIELDS, type CronField, type CronTriggerSpec, type GivenOffsets, type Trigger, type TriggerSpec, type TriggerType } from '../types.js'
import { compileCron } from './cron.js'
import { compileDate } from './date.js'
import { compileInterval, INTERVAL_UNITS, intervalMs, intervalParts } from './interval.js'

export const TRIGGER_FIELDS: Record<TriggerType, readonly string[]> = {
  date: ['run_date', 'timezone'],
  interval: ['weeks', 'days', 'hours', 'minutes', 'seconds', 'start_date', 'end_date', 'jitter', 'timezone'],
  cron: [...CRON_FIELDS, 'crontab', 'start_date', 'end_date', 'jitter', 'timezone']
}

export interface TriggerContext {
  /** The trigger's (already resolved) IANA zone. */
  timezone: string
  /** Creation time, epoch ms. */
  now: number
}

/** null and undefined both mean "not given", as None does in APScheduler. */
const given = (v: unknown): boolean => v !== undefined && v !== null

function parseJitter (value: unknown): number | null {
  if (!given(value)) return null
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ValidationError('jitter', 'must be a non-negative number of seconds, or null')
  }
  return value
}

/** Reads a date field, noting in `offsets` the offset it was given with, if any. */
function readDate (fields: Record<string, unknown>, field: keyof GivenOffsets, timezone: string, offsets: GivenOffsets, round: 'down' | 'up' = 'down'): number | null {
  if (!given(fields[field])) return null
  const { ms, offset } = readDateInput(fields[field], timezone, field, round)
  if (offset !== null) offsets[field] = offset
  return ms
}

function parseBounds (fields: Record<string, unknown>, timezone: string, offsets: GivenOffsets): { start: number | null, end: number | null } {
  // Rounded up to the millisecond: a trigger never fires before its start_date.
  const start = readDate(fields, 'start_date', timezone, offsets, 'up')
  const end = readDate(fields, 'end_date', timezone, offsets)
  if (start !== null && end !== null && end < start) throw new ValidationError('end_date', 'must not be earlier than start_date')
  return { start, end }
}

/** `offsets` on a spec only when some date named one (older records have none). */
const withOffsets = (offsets: GivenOffsets): { offsets?: GivenOffsets } => Object.keys(offsets).length > 0 ? { offsets } : {}

/** Validate and normalise one trigger's fields. Throws ValidationError naming the offending field. */
export function parseTriggerSpec (type: TriggerType, fields: Record<string, unknown>, ctx: TriggerContext): TriggerSpec {
  const accepted = TRIGGER_FIELDS[type] as readonly string[] | undefined
  if (accepted === undefined) throw new ValidationError('trigger', `'${String(type)}' is not a trigger type (date, interval or cron)`)
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined && !accepted.includes(key)) {
      throw new ValidationError(key, `is not a field of the ${type} trigger (accepted: ${accepted.join(', ')})`)
    }
  }
  const timezone = ctx.timezone
  if (!isValidTimezone(timezone)) throw new ValidationError('timezone', `'${String(timezone)}' is not a valid IANA time zone`)
  if (given(fields.timezone) && (typeof fields.timezone !== 'string' || !isValidTimezone(fields.timezone))) {
    throw new ValidationError('timezone', `'${String(fields.timezone)}' is not a valid IANA time zone`)
  }

  const offsets: GivenOffsets = {}
  if (type === 'date') {
    const runDate = readDate(fields, 'run_date', timezone, offsets) ?? ctx.now
    return { type, run_date: runDate, timezone, ...withOffsets(offsets) }
  }

  const jitter = parseJitter(fields.jitter)
  if (type === 'interval') {
    const parts = { weeks: 0, days: 0, hours: 0, minutes: 0, seconds: 0 }
    for (const [unit] of INTERVAL_UNITS) {
      const v = fields[unit]
      if (!given(v)) continue
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ValidationError(unit, 'must be a non-negative number')
      parts[unit] = v
    }
    const ms = intervalMs(parts)
    if (ms <= 0) {
      const named = INTERVAL_UNITS.find(([unit]) => given(fields[unit]))?.[0]
      if (named === undefined) throw new ValidationError('seconds', 'the interval must be longer than zero: give weeks, days, hours, minutes and/or seconds')
      const raw = INTERVAL_UNITS.reduce((sum, [unit, size]) => sum + parts[unit] * size, 0)
      throw new ValidationError(named, raw > 0
        ? `the interval is ${raw} ms, which rounds to 0: intervals are kept to the millisecond, so give at least 0.001 seconds`
        : 'the interval must be longer than zero (give weeks, days, hours, minutes and/or seconds)')
    }
    if (ms > MAX_INSTANT) throw new ValidationError(INTERVAL_UNITS.find(([unit]) => parts[unit] > 0)![0], 'the interval is too long')
    const { start, end } = parseBounds(fields, timezone, offsets)
    const startDate = start ?? ctx.now + ms
    if (end !== null && end < startDate) throw new ValidationError('end_date', 'must not be earlier than start_date (by default now + interval)')
    return { type, ...parts, start_date: startDate, end_date: end, jitter, timezone, ...withOffsets(offsets) }
  }

  // cron
  const cronFields: Partial<Record<CronField, string>> = {}
  for (const f of CRON_FIELDS) {
    const v = fields[f]
    if (!given(v)) continue
    if (typeof v === 'number' && Number.isFinite(v)) cronFields[f] = String(v)
    else if (typeof v === 'string') cronFields[f] = v
    else throw new ValidationError(f, 'must be a cron expression string or a number')
  }
  let crontab: string | null = null
  if (given(fields.crontab)) {
    if (typeof fields.crontab !== 'string' || fields.crontab.trim() === '') throw new ValidationError('crontab', 'must be a non-empty crontab string')
    const mixed = Object.keys(cronFields)
    if (mixed.length > 0) throw new ValidationError('crontab', `cannot be combined with ${mixed.join(', ')}; use either crontab or the cron fields`)
    crontab = fields.crontab
  }
  const { start, end } = parseBounds(fields, timezone, offsets)
  const spec: CronTriggerSpec = { type, fields: cronFields, crontab, start_date: start, end_date: end, jitter, timezone, origin: ctx.now, ...withOffsets(offsets) }
  if (compileCron(spec).first(ctx.now) === null) {
    throw new ValidationError('trigger', end !== null
      ? `cron expression never fires between now and end_date (${formatDate(end, timezone)})`
      : 'cron expression never fires (no date matches all its fields, or all matches are in the past)')
  }
  return spec
}

export function compileTrigger (spec: TriggerSpec): Trigger {
  switch (spec.type) {
    case 'date': return compileDate(spec)
    case 'interval': return compileInterval(spec)
    case 'cron': return compileCron(spec)
  }
}

/** The wire fields of a trigger (Flask-APScheduler's job_to_dict); the job layer adds timezone and jitter. */
export function triggerToJSON (spec: TriggerSpec): Record<string, unknown> {
  const tz = spec.timezone
  // Dates given with an explicit offset are written back with it (as upstream); others in the zone.
  const date = (ms: number, field: keyof GivenOffsets): string => formatDate(ms, tz, spec.offsets?.[field] ?? null)
  switch (spec.type) {
    case 'date':
      return { trigger: 'date', run_date: date(spec.run_date, 'run_date') }
    case 'interval': {
      const out: Record<string, unknown> = { trigger: 'interval', start_date: date(spec.start_date, 'start_date') }
      if (spec.end_date !== null) out.end_date = date(spec.end_date, 'end_date')
      return { ...out, ...intervalParts(intervalMs(spec)) }
    }
    case 'cron': {
      const out: Record<string, unknown> = { trigger: 'cron' }
      if (spec.crontab !== null) out.crontab = spec.crontab
      for (const f of CRON_FIELDS) if (spec.fields[f] !== undefined) out[f] = spec.fields[f]
      if (spec.start_date !== null) out.start_date = date(spec.start_date, 'start_date')
      if (spec.end_date !== null) out.end_date = date(spec.end_date, 'end_date')
      return out
    }
  }
}

/**
 * `nominal` plus a random delay in [0, jitter] seconds (whole ms), kept strictly before the next
 * nominal fire so jitter never reorders or swallows fires.
 */
export function applyJitter (nominal: number, nextNominal: number | null, jitterSeconds: number | null, random: () => number = Math.random): number {
  if (jitterSeconds === null || !(jitterSeconds > 0)) return nominal
  let max = Math.floor(jitterSeconds * 1000)
  if (nextNominal !== null) max = Math.min(max, nextNominal - nominal - 1)
  if (max <= 0) return nominal
  return nominal + Math.min(max, Math.floor(random() * (max + 1)))
}

/** Up to `count` fire times from `now` on (the first one at or after `now`). */
export function nextFireTimes (trigger: Trigger, now: number, count: number): number[] {
  const out: number[] = []
  let t = count > 0 ? trigger.first(now) : null
  while (t !== null && out.length < count) {
    out.push(t)
    if (out.length < count) t = trigger.next(t)
  }
  return out
}
