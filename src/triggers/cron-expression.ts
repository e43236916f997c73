/**
 * Cron expressions as exact matchers on wall-clock fields: APScheduler 3 field expressions and
 * standard crontab strings. cron-calendar.ts and cron.ts search them for fire times.
 */
import { ValidationError } from '../errors.js'
import { CRON_FIELDS, type CronField } from '../types.js'

const MIN: Record<CronField, number> = { year: 1970, month: 1, day: 1, week: 1, day_of_week: 0, hour: 0, minute: 0, second: 0 }
const MAX: Record<CronField, number> = { year: 9999, month: 12, day: 31, week: 53, day_of_week: 6, hour: 23, minute: 59, second: 59 }
/** APScheduler 3 CronTrigger.DEFAULT_VALUES, for fields less significant than the last one given. */
const DEFAULTS: Record<CronField, string> = { year: '*', month: '1', day: '1', week: '*', day_of_week: '*', hour: '0', minute: '0', second: '0' }

const MONTH_NAMES = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec']
const APS_WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']
const CRONTAB_WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat']
const NTH: Record<string, number> = { '1st': 1, '2nd': 2, '3rd': 3, '4th': 4, '5th': 5, last: -1 }

export interface NthWeekday {
  /** 1-5, or -1 for the last one in the month. */
  n: number
  /** 0 = Monday ... 6 = Sunday. */
  weekday: number
}

/** A cron schedule as per-field value masks. Weekdays are 0 = Monday throughout. */
export interface CronMatcher {
  second: Uint8Array
  minute: Uint8Array
  hour: Uint8Array
  /** Index 1-31. */
  dom: Uint8Array
  domLast: boolean
  domNth: NthWeekday[]
  month: Uint8Array
  /** Index 1-53; null = any week. */
  week: Uint8Array | null
  dow: Uint8Array
  year: (y: number) => boolean
  /** The year field as ranges (within 1970-9999), to jump straight to the next matching year. */
  yearRanges: Range[]
  /** Crontab (Vixie) rule: when both day fields are restricted, a day matches if either does. */
  dayOr: boolean
  /** Whether each day field is unrestricted: judged from the text given (it starts with '*'). */
  domStar: boolean
  dowStar: boolean
}

export interface Range { first: number, last: number, step: number }

interface TokenSpec {
  min: number
  max: number
  names?: string[]
  /** Value of the first name. */
  nameBase?: number
  strictStep?: boolean
  /** Added to the message of a range written backwards (e.g. crontab's Sunday = 0). */
  backwardsHint?: string
}

/** Parse one comma-free token ('*', '*\/n', 'a', 'a-b', 'a-b/n', 'a/n'); null = not this syntax. */
function parseRangeToken (tok: string, spec: TokenSpec, err: (msg: string) => never): Range | null {
  const m = /^(\*|[a-z0-9]+)(?:-([a-z0-9]+))?(?:\/([0-9]+))?$/.exec(tok)
  if (m === null || (spec.names === undefined && /[a-z]/.test(tok))) return null
  const [, a, b, stepText] = m
  const step = stepText === undefined ? null : Number(stepText)
  if (step === 0) err(`'${tok}': the step must be higher than 0`)
  const value = (text: string): number => {
    if (/^[0-9]+$/.test(text)) return Number(text)
    const i = spec.names?.indexOf(text) ?? -1
    if (i < 0) err(`'${tok}': '${text}' is not a number or a name (${spec.names![0]} ... ${spec.names![spec.names!.length - 1]})`)
    return i + (spec.nameBase ?? 0)
  }
  let first: number
  let last: number
  if (a === '*') {
    if (b !== undefined) return null
    first = spec.min; last = spec.max
  } else {
    first = value(a!)
    last = b !== undefined ? value(b) : step !== null ? spec.max : first
    if (first < spec.min || first > spec.max || last > spec.max) err(`'${tok}' is out of range ${spec.min}-${spec.max}`)
    if (first > last) err(`'${tok}': the start of a range must not be higher than its end${spec.backwardsHint ?? ''}`)
  }
  // As APScheduler: a step wider than the range it steps over is a mistake (crontab allows it).
  if (step !== null && spec.strictStep === true && step > last - first) {
    err(`'${tok}': the step ${step} is larger than the range it steps over (${last - first})`)
  }
  return { first, last, step: step ?? 1 }
}

function splitList (text: string, err: (msg: string) => never): string[] {
  const norm = text.trim().toLowerCase().replace(/\s*([-/])\s*/g, '$1').replace(/\s+/g, ' ')
  if (norm === '') err('must not be empty')
  const parts = norm.split(/\s*,\s*/)
  if (parts.some(p => p === '')) err(`'${text}' has an empty item in its list`)
  return parts
}

function mask (size: number, ranges: Range[]): Uint8Array {
  const out = new Uint8Array(size)
  for (const r of ranges) for (let v = r.first; v <= r.last; v += r.step) out[v] = 1
  return out
}

function full (m: Uint8Array, min: number, max: number): boolean {
  for (let v = min; v <= max; v++) if (m[v] !== 1) return false
  return true
}

function yearMatcher (ranges: Range[]): { year: (y: number) => boolean, yearRanges: Range[] } {
  const year = (y: number): boolean => ranges.some(r => y >= r.first && y <= r.last && (y - r.first) % r.step === 0)
  return { year, yearRanges: ranges }
}

/** The first year >= y that the year ranges allow, or null. */
export function nextYear (ranges: Range[], y: number): number | null {
  let best: number | null = null
  for (const r of ranges) {
    if (y > r.last) continue
    const v = y <= r.first ? r.first : r.first + Math.ceil((y - r.first) / r.step) * r.step
    if (v <= r.last && (best === null || v < best)) best = v
  }
  return best
}

/**
 * APScheduler 3 CronTrigger defaults: fields more significant than the last given one are '*',
 * less significant ones take their minimum; nothing given = every second.
 */
export function resolveCronDefaults (given: Partial<Record<CronField, string>>): Record<CronField, string> {
  const out = {} as Record<CronField, string>
  const lastGiven = CRON_FIELDS.reduce((acc, f, i) => given[f] !== undefined ? i : acc, -1)
  CRON_FIELDS.forEach((f, i) => {
    out[f] = given[f] ?? (i < lastGiven || lastGiven < 0 ? '*' : DEFAULTS[f])
  })
  return out
}

/** Parse one APScheduler field expression; errors name the field. */
export function parseCronField (field: CronField, expr: string): { ranges: Range[], last: boolean, nth: NthWeekday[] } {
  const err = (msg: string): never => { throw new ValidationError(field, msg) }
  const spec: TokenSpec = { min: MIN[field], max: MAX[field], strictStep: true }
  if (field === 'month') { spec.names = MONTH_NAMES; spec.nameBase = 1 }
  if (field === 'day_of_week') { spec.names = APS_WEEKDAYS; spec.nameBase = 0 }
  const ranges: Range[] = []
  const nth: NthWeekday[] = []
  let last = false
  for (const tok of splitList(expr, err)) {
    if (field === 'day') {
      if (tok === 'last') { last = true; continue }
      const m = /^([a-z0-9]+) ([a-z]+)$/.exec(tok)
      if (m !== null) {
        const n = Object.hasOwn(NTH, m[1]!) ? NTH[m[1]!] : undefined
        const weekday = APS_WEEKDAYS.indexOf(m[2]!)
        if (n === undefined) err(`'${tok}': '${m[1]}' must be one of 1st, 2nd, 3rd, 4th, 5th, last`)
        if (weekday < 0) err(`'${tok}': '${m[2]}' is not a weekday name (mon ... sun)`)
        nth.push({ n: n!, weekday })
        continue
      }
    }
    const r = parseRangeToken(tok, spec, err)
    if (r === null) {
      const extra = field === 'day' ? ", 'last', '3rd fri', 'last fri'" : field === 'month' ? ", 'jan-mar'" : field === 'day_of_week' ? ", 'mon-fri'" : ''
      err(`'${tok}' is not a valid expression (use '*', '*/n', 'a', 'a-b', 'a-b/n', 'a/n'${extra})`)
    }
    ranges.push(r!)
  }
  return { ranges, last, nth }
}

/** Compile APScheduler fields (as given; defaults applied here). Throws ValidationError per field. */
export function compileCronFields (given: Partial<Record<CronField, string>>): CronMatcher {
  const f = resolveCronDefaults(given)
  const p = Object.fromEntries(CRON_FIELDS.map(name => [name, parseCronField(name, f[name])])) as Record<CronField, ReturnType<typeof parseCronField>>
  const week = mask(54, p.week.ranges)
  const dom = mask(32, p.day.ranges)
  const dow = mask(7, p.day_of_week.ranges)
  return {
    second: mask(60, p.second.ranges),
    minute: mask(60, p.minute.ranges),
    hour: mask(24, p.hour.ranges),
    dom,
    domLast: p.day.last,
    domNth: p.day.nth,
    month: mask(13, p.month.ranges),
    week: full(week, 1, 53) ? null : week,
    dow,
    ...yearMatcher(p.year.ranges),
    // APScheduler ANDs the day fields, so whether they are restricted does not matter here.
    dayOr: false,
    domStar: true,
    dowStar: true
  }
}

const NICKNAMES = new Map(Object.entries({
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *'
}))

/** A standard crontab line: 5 fields (minute hour dom month dow, 0 or 7 = Sunday) or 6 (seconds first). */
export function compileCrontab (text: string): CronMatcher {
  const err = (msg: string): never => { throw new ValidationError('crontab', msg) }
  if (typeof text !== 'string') err('must be a string')
  let line = text.trim().toLowerCase()
  line = NICKNAMES.get(line) ?? line
  const parts = line.split(/\s+/).filter(s => s !== '')
  if (parts.length !== 5 && parts.length !== 6) {
    err(`'${text}' must have 5 fields (minute hour day month day-of-week) or 6 (with seconds first)`)
  }
  if (parts.length === 5) parts.unshift('0')
  const [sec, min, hour, domText, month, dowText] = parts as [string, string, string, string, string, string]
  const field = (name: string, value: string, spec: TokenSpec, wild = false): Range[] => {
    const e = (msg: string): never => err(`${name}: ${msg}`)
    return value.split(',').map(tok => {
      if (wild && tok === '?') tok = '*'
      const r = parseRangeToken(tok, spec, e)
      if (r === null) e(`'${tok}' is not a valid expression`)
      return r!
    })
  }
  const dowRanges = field('day of week', dowText, {
    min: 0, max: 7, names: CRONTAB_WEEKDAYS, nameBase: 0, backwardsHint: " (in crontab Sunday is 0, so 'mon-sun' runs backwards: write 'mon-sat,sun', 'mon-7' or '*')"
  }, true)
  // Crontab weekdays are 0/7 = Sunday; store as 0 = Monday.
  const dow = new Uint8Array(7)
  for (const r of dowRanges) for (let v = r.first; v <= r.last; v += r.step) dow[(v + 6) % 7] = 1
  const dom = mask(32, field('day of month', domText, { min: 1, max: 31 }, true))
  return {
    second: mask(60, field('second', sec, { min: 0, max: 59 })),
    minute: mask(60, field('minute', min, { min: 0, max: 59 })),
    hour: mask(24, field('hour', hour, { min: 0, max: 23 })),
    dom,
    domLast: false,
    domNth: [],
    month: mask(13, field('month', month, { min: 1, max: 12, names: MONTH_NAMES, nameBase: 1 })),
    week: null,
    dow,
    year: () => true,
    yearRanges: [{ first: MIN.year, last: MAX.year, step: 1 }],
    // Vixie cron: a day field starting with '*' (or '?') does not widen the other one.
    dayOr: true,
    domStar: domText.startsWith('*') || domText.startsWith('?'),
    dowStar: dowText.startsWith('*') || dowText.startsWith('?')
  }
}

function nthMatches (nth: NthWeekday[], dim: number, day: number, weekday: number): boolean {
  for (const x of nth) {
    if (x.weekday !== weekday) continue
    if (x.n === -1 ? day + 7 > dim : Math.ceil(day / 7) === x.n) return true
  }
  return false
}

/**
 * Whether a local date matches the date-level fields, given what the calendar already knows about
 * it (weekday 0 = Monday, ISO week, days in its month). The year is checked by the caller.
 */
export function matchesDay (m: CronMatcher, month: number, day: number, weekday: number, week: number, dim: number): boolean {
  if (m.month[month] !== 1) return false
  if (m.week !== null && m.week[week] !== 1) return false
  const domOk = m.dom[day] === 1 || (m.domLast && day === dim) || (m.domNth.length > 0 && nthMatches(m.domNth, dim, day, weekday))
  const dowOk = m.dow[weekday] === 1
  if (m.dayOr && !m.domStar && !m.dowStar) return domOk || dowOk
  return domOk && dowOk
}

export function matchesTime (m: CronMatcher, hour: number, minute: number, second: number): boolean {
  return m.hour[hour] === 1 && m.minute[minute] === 1 && m.second[second] === 1
}

function list (m: Uint8Array, min: number, max: number, map: (v: number) => number = v => v): string {
  if (full(m, min, max)) return '*'
  const out: number[] = []
  for (let v = min; v <= max; v++) if (m[v] === 1) out.push(map(v))
  return out.join(',')
}

/**
 * A 7-part croner pattern (sec min hour dom month dow year) for the matcher: exact in the time
 * fields and month, exact in the day fields where croner can say it, wider where it cannot (ISO
 * weeks, nth weekdays beside other day rules); the calendar has the last word on dates. Whether
 * the day fields are ORed is decided from the text given (`dayOr`, `domStar`, `dowStar`), never
 * from an expansion: croner is told '*' only where every day matches.
 */
export function cronerPattern (m: CronMatcher): { pattern: string, domAndDow: boolean } {
  let dom = '*'
  let dow = list(m.dow, 0, 6, v => (v + 1) % 7)
  const orDays = m.dayOr && !m.domStar && !m.dowStar
  if (orDays) {
    // Either field matching is enough: if one matches every day, so does the pair.
    dom = list(m.dom, 1, 31)
    if (dom === '*' || dow === '*') { dom = '*'; dow = '*' }
    return { pattern: [list(m.second, 0, 59), list(m.minute, 0, 59), list(m.hour, 0, 23), dom, list(m.month, 1, 12), dow, '*'].join(' '), domAndDow: false }
  }
  if (m.domNth.length > 0) {
    // Nth weekdays live in croner's dow field; exact only when they are the whole day rule.
    if (dow === '*' && !m.domLast && !m.dom.includes(1)) {
      dow = m.domNth.map(x => `${(x.weekday + 1) % 7}#${x.n === -1 ? 'L' : x.n}`).join(',')
    }
  } else {
    const days = list(m.dom, 1, 31)
    dom = days === '*' ? '*' : [...(days === '' ? [] : [days]), ...(m.domLast ? ['L'] : [])].join(',')
  }
  return { pattern: [list(m.second, 0, 59), list(m.minute, 0, 59), list(m.hour, 0, 23), dom, list(m.month, 1, 12), dow, '*'].join(' '), domAndDow: true }
}
