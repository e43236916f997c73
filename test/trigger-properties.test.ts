/**
 * Property-based tests of the triggers (fast-check), against an independent brute-force matcher
 * written here: its own parser of APScheduler fields and crontab lines, its own calendar (Date.UTC,
 * ISO week by the Thursday rule) and its own wall clock (Intl.DateTimeFormat, not luxon). It steps
 * through every candidate day, or every candidate second, and tests each field.
 *
 * Runs per property are set in RUNS below and printed with each test's name; PROPERTY_SCALE=10
 * multiplies them for a longer search (FC_SEED=<n> replays a seed).
 */
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { compileTrigger, parseTriggerSpec } from '../src/triggers/index.js'
import { ValidationError } from '../src/errors.js'

const SCALE = Number(process.env.PROPERTY_SCALE ?? 1)
const RUNS = { calendar: 400 * SCALE, firstFire: 60 * SCALE, zones: 150 * SCALE, interval: 300 * SCALE }
const SEED = process.env.FC_SEED === undefined ? {} : { seed: Number(process.env.FC_SEED) }
const DAY = 86400000

// ------------------------------------------------------------------ brute-force matcher

const FIELDS = ['year', 'month', 'day', 'week', 'day_of_week', 'hour', 'minute', 'second'] as const
type Field = typeof FIELDS[number]
const LO: Record<Field, number> = { year: 1970, month: 1, day: 1, week: 1, day_of_week: 0, hour: 0, minute: 0, second: 0 }
const HI: Record<Field, number> = { year: 9999, month: 12, day: 31, week: 53, day_of_week: 6, hour: 23, minute: 59, second: 59 }
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec']
const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']

interface Day { y: number, mo: number, d: number, weekday: number, week: number, last: number }
type Pred = (v: number, day: Day) => boolean

function dayInfo (y: number, mo: number, d: number): Day {
  const date = new Date(0)
  date.setUTCFullYear(y, mo - 1, d)
  date.setUTCHours(0, 0, 0, 0)
  const weekday = (date.getUTCDay() + 6) % 7
  // ISO week: the week's Thursday decides the year; count weeks from that year's 1 January.
  const thursday = new Date(date.getTime() + (3 - weekday) * DAY)
  const jan1 = new Date(0)
  jan1.setUTCFullYear(thursday.getUTCFullYear(), 0, 1)
  jan1.setUTCHours(0, 0, 0, 0)
  const week = 1 + Math.floor((thursday.getTime() - jan1.getTime()) / (7 * DAY))
  const end = new Date(0)
  end.setUTCFullYear(y, mo, 0)
  return { y, mo, d, weekday, week, last: end.getUTCDate() }
}

/** One token of an APScheduler field or a crontab field (names given as a list, first = `base`). */
function token (tok: string, lo: number, hi: number, names: string[] = [], base = 0): Pred {
  const num = (s: string): number => names.includes(s) ? names.indexOf(s) + base : Number(s)
  const m = /^(\*|\w+)(?:-(\w+))?(?:\/(\d+))?$/.exec(tok)
  if (m === null) throw new Error(`brute force cannot read '${tok}'`)
  const step = m[3] === undefined ? 1 : Number(m[3])
  const a = m[1] === '*' ? lo : num(m[1]!)
  const b = m[2] !== undefined ? num(m[2]) : m[1] === '*' || m[3] !== undefined ? hi : a
  return (v) => v >= a && v <= b && (v - a) % step === 0
}

function dayToken (tok: string): Pred {
  if (tok === 'last') return (v, day) => v === day.last
  const m = /^(1st|2nd|3rd|4th|5th|last) (\w+)$/.exec(tok)
  if (m === null) return token(tok, 1, 31)
  const wd = WEEKDAYS.indexOf(m[2]!)
  if (m[1] === 'last') return (v, day) => day.weekday === wd && v + 7 > day.last
  const n = Number(m[1]![0])
  return (v, day) => day.weekday === wd && Math.floor((v - 1) / 7) + 1 === n
}

const any = (preds: Pred[]): Pred => (v, day) => preds.some((p) => p(v, day))

interface Brute { date: (day: Day) => boolean, time: (h: number, mi: number, s: number) => boolean }

/** APScheduler CronTrigger: defaults, then every field must match. */
function bruteFields (given: Partial<Record<Field, string>>): Brute {
  const lastGiven = Math.max(-1, ...FIELDS.map((f, i) => given[f] === undefined ? -1 : i))
  const text = (f: Field, i: number): string => given[f] ?? (lastGiven < 0 || i < lastGiven ? '*' : ({ month: '1', day: '1', week: '*', day_of_week: '*' } as Record<string, string>)[f] ?? '0')
  const p = {} as Record<Field, Pred>
  FIELDS.forEach((f, i) => {
    const parts = text(f, i).split(',')
    p[f] = any(parts.map((tok) => f === 'day' ? dayToken(tok) : token(tok, LO[f], HI[f], f === 'month' ? MONTHS : f === 'day_of_week' ? WEEKDAYS : [], f === 'month' ? 1 : 0)))
  })
  return {
    date: (day) => p.year(day.y, day) && p.month(day.mo, day) && p.day(day.d, day) && p.week(day.week, day) && p.day_of_week(day.weekday, day),
    time: (h, mi, s) => p.hour(h, null as never) && p.minute(mi, null as never) && p.second(s, null as never)
  }
}

/** Vixie cron: 0 or 7 = Sunday; if both day fields are restricted (not starting with '*'), either may match. */
function bruteCrontab (line: string): Brute {
  const parts = line.trim().split(/\s+/)
  if (parts.length === 5) parts.unshift('0')
  const [s, mi, h, dom, mon, dow] = parts as [string, string, string, string, string, string]
  const field = (text: string, lo: number, hi: number, names: string[] = [], base = 0): Pred => any(text.split(',').map((t) => token(t === '?' ? '*' : t, lo, hi, names, base)))
  const pS = field(s, 0, 59); const pMi = field(mi, 0, 59); const pH = field(h, 0, 23)
  const pDom = field(dom, 1, 31); const pMon = field(mon, 1, 12, MONTHS, 1)
  const pDowRaw = field(dow, 0, 7, ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'], 0)
  const sundayFirst = (weekday: number): number => (weekday + 1) % 7 // 0 = Monday -> crontab numbering
  const pDow: Pred = (weekday, day) => pDowRaw(sundayFirst(weekday), day) || (weekday === 6 && pDowRaw(7, day))
  const domStar = /^[*?]/.test(dom); const dowStar = /^[*?]/.test(dow)
  return {
    date: (day) => pMon(day.mo, day) && (!domStar && !dowStar
      ? pDom(day.d, day) || pDow(day.weekday, day)
      : pDom(day.d, day) && pDow(day.weekday, day)),
    time: (hh, mm, ss) => pH(hh, null as never) && pMi(mm, null as never) && pS(ss, null as never)
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>()
/** Wall time in a zone, straight from Intl. */
function wallOf (t: number, tz: string): { y: number, mo: number, d: number, h: number, mi: number, s: number } {
  let f = formatters.get(tz)
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' })
    formatters.set(tz, f)
  }
  const parts: Record<string, number> = {}
  for (const p of f.formatToParts(new Date(t))) if (p.type !== 'literal') parts[p.type] = Number(p.value)
  return { y: parts.year!, mo: parts.month!, d: parts.day!, h: parts.hour!, mi: parts.minute!, s: parts.second! }
}
const offsetOf = (t: number, tz: string): number => {
  const w = wallOf(t, tz)
  const asUtc = new Date(0)
  asUtc.setUTCFullYear(w.y, w.mo - 1, w.d)
  asUtc.setUTCHours(w.h, w.mi, w.s, 0)
  return asUtc.getTime() - Math.floor(t / 1000) * 1000
}

// ------------------------------------------------------------------ generators

const rangeToken = (lo: number, hi: number, names: string[] = [], base = 0): fc.Arbitrary<string> => {
  const v = fc.integer({ min: lo, max: hi })
  const show = (n: number, named: boolean): string => named && names.length > 0 && n - base >= 0 && n - base < names.length ? names[n - base]! : String(n)
  return fc.oneof(
    fc.constant('*'),
    fc.integer({ min: 1, max: Math.max(1, hi - lo) }).map((k) => `*/${k}`),
    fc.tuple(v, fc.boolean()).map(([a, named]) => show(a, named)),
    fc.tuple(v, v, fc.boolean()).map(([a, b, named]) => `${show(Math.min(a, b), named)}-${show(Math.max(a, b), named)}`),
    fc.tuple(v, v, fc.integer({ min: 1, max: hi - lo })).filter(([a, b, k]) => a !== b && k <= Math.abs(a - b)).map(([a, b, k]) => `${Math.min(a, b)}-${Math.max(a, b)}/${k}`)
  )
}
const list = (tok: fc.Arbitrary<string>): fc.Arbitrary<string> => fc.array(tok, { minLength: 1, maxLength: 3 }).map((xs) => xs.join(','))

const dayTokenArb = fc.oneof(
  { weight: 3, arbitrary: rangeToken(1, 31) },
  { weight: 1, arbitrary: fc.constant('last') },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom('1st', '2nd', '3rd', '4th', '5th', 'last'), fc.constantFrom(...WEEKDAYS)).map(([n, d]) => `${n} ${d}`) }
)

/** Date-level APScheduler fields (the time of day fixed at midnight). */
const dateFieldsArb = fc.record({
  year: fc.option(fc.constantFrom('*', '2000-2400/3', '*/4', '1970-2400/7', '2030,2032,2100'), { nil: undefined, freq: 2 }),
  month: fc.option(list(rangeToken(1, 12, MONTHS, 1)), { nil: undefined, freq: 2 }),
  day: fc.option(list(dayTokenArb), { nil: undefined, freq: 2 }),
  week: fc.option(list(rangeToken(1, 53)), { nil: undefined, freq: 2 }),
  day_of_week: fc.option(list(rangeToken(0, 6, WEEKDAYS, 0)), { nil: undefined, freq: 2 })
}, { requiredKeys: [] }).map((f) => {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(f)) if (v !== undefined) out[k] = v
  return { ...out, hour: '0', minute: '0', second: '0' }
})

const crontabDowToken = fc.oneof(rangeToken(0, 7), fc.constantFrom('mon', 'sun', 'sat', 'mon-fri', 'sat,sun', '?'))
/** Crontab lines at midnight, often with both day fields restricted. */
const crontabDateArb = fc.tuple(
  fc.oneof({ weight: 4, arbitrary: list(rangeToken(1, 31)) }, { weight: 1, arbitrary: fc.constantFrom('*', '?', '*/3') }),
  fc.oneof(list(rangeToken(1, 12, MONTHS, 1)), fc.constant('*')),
  fc.oneof({ weight: 4, arbitrary: list(crontabDowToken) }, { weight: 1, arbitrary: fc.constantFrom('*', '*/2') })
).map(([dom, mon, dow]) => `0 0 ${dom} ${mon} ${dow}`)

/** Time-level fields for the zone property: every candidate is a multiple of 10 s. */
const timeFieldsArb = fc.record({
  // Rarely restricted: a 6-hour window should usually contain fires.
  day_of_week: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: list(rangeToken(0, 6, WEEKDAYS, 0)) }),
  hour: fc.option(list(rangeToken(0, 23)), { nil: undefined, freq: 2 }),
  minute: fc.option(list(rangeToken(0, 59)), { nil: undefined, freq: 2 }),
  second: fc.option(fc.constantFrom('0', '*/10', '0,30', '20-50/10'), { nil: undefined, freq: 2 })
}, { requiredKeys: [] }).map((f) => {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(f)) if (v !== undefined) out[k] = v
  if (out.second === undefined && out.minute === undefined && out.hour === undefined && out.day_of_week === undefined) out.minute = '*/7'
  if (out.second === undefined && out.minute === undefined && out.hour === undefined) out.hour = '*'
  if (out.second === undefined) out.minute ??= '*/3'
  return out
})
const crontabTimeArb = fc.tuple(list(rangeToken(0, 59)), list(rangeToken(0, 23)), fc.constantFrom('*', '*', '1-15', '*/2'), fc.constantFrom('*', '*', '0', 'sun', '1-5'))
  .map(([mi, h, dom, dow]) => `${mi} ${h} ${dom} * ${dow}`)

const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Pacific/Apia', 'America/Santiago',
  'Asia/Tehran', 'America/Havana', 'Antarctica/Troll', 'Pacific/Chatham', 'Asia/Kathmandu', 'America/St_Johns',
  'Africa/Casablanca', 'Europe/London', 'Australia/Adelaide', 'America/Asuncion', 'Asia/Gaza']

/** Instants where the zone's offset changes in a year (Intl, 6-hour probes, then bisection). */
const transitionCache = new Map<string, number[]>()
function transitions (tz: string, year: number): number[] {
  const key = `${tz}|${year}`
  const hit = transitionCache.get(key)
  if (hit !== undefined) return hit
  const out: number[] = []
  const step = 6 * 3600000
  let t = Date.UTC(year, 0, 1)
  let o = offsetOf(t, tz)
  for (; t < Date.UTC(year + 1, 0, 1); t += step) {
    const o2 = offsetOf(t + step, tz)
    if (o2 !== o) {
      let lo = t; let hi = t + step
      while (hi - lo > 1000) { const mid = lo + Math.floor((hi - lo) / 2000) * 1000; if (offsetOf(mid, tz) === o) lo = mid; else hi = mid }
      out.push(hi)
      o = o2
    }
  }
  transitionCache.set(key, out)
  return out
}

// ------------------------------------------------------------------ properties

type Spec = { crontab: string } | Record<string, string>
const bruteOf = (f: Spec): Brute => 'crontab' in f && typeof f.crontab === 'string' ? bruteCrontab(f.crontab) : bruteFields(f as Partial<Record<Field, string>>)

/** The trigger's fires in [from, until], or 'never' when the definition is refused as never firing. */
function triggerFires (fields: Record<string, unknown>, tz: string, now: number, until: number): number[] | 'never' {
  let spec
  try {
    spec = parseTriggerSpec('cron', fields, { timezone: tz, now })
  } catch (e) {
    if (e instanceof ValidationError && /never fires/.test(e.message)) return 'never'
    throw e
  }
  const trigger = compileTrigger(spec)
  const out: number[] = []
  for (let t = trigger.first(now); t !== null && t <= until; t = trigger.next(t)) out.push(t)
  return out
}

describe('cron, property-based, against a brute-force matcher', () => {
  test(`dates: random APScheduler fields and crontab lines (both day fields restricted too) match a day-by-day scan over 3 years (${RUNS.calendar} runs)`, (t) => {
    const calendarCovered = { runs: 0, withFires: 0, crontabBothDayFields: 0 }
    fc.assert(fc.property(
      fc.oneof(dateFieldsArb, crontabDateArb.map((crontab) => ({ crontab }))),
      fc.integer({ min: 0, max: 150000 }),
      (fields, dayNumber) => {
        const start = Date.UTC(1970, 0, 1) + dayNumber * DAY
        const until = start + 3 * 366 * DAY
        const brute = bruteOf(fields)
        const expected: number[] = []
        for (let t = start; t <= until; t += DAY) {
          const d = new Date(t)
          if (brute.date(dayInfo(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()))) expected.push(t)
        }
        calendarCovered.runs++
        if (expected.length > 0) calendarCovered.withFires++
        if ('crontab' in fields) {
          const parts = String(fields.crontab).split(' ')
          if (!/^[*?]/.test(parts[2]!) && !/^[*?]/.test(parts[4]!)) calendarCovered.crontabBothDayFields++
        }
        const got = triggerFires(fields, 'UTC', start, until)
        if (got === 'never') assert.deepEqual(expected, [], 'refused as never firing, yet the scan found fires')
        else assert.deepEqual(got.map((t) => new Date(t).toISOString()), expected.map((t) => new Date(t).toISOString()))
      }
    ), { numRuns: RUNS.calendar, ...SEED })
    t.diagnostic(`coverage: ${JSON.stringify(calendarCovered)}`)
  })

  test(`first fire or "never": equals a scan of up to 400 years (one Gregorian cycle) (${RUNS.firstFire} runs)`, () => {
    fc.assert(fc.property(
      fc.oneof(dateFieldsArb.map((f) => ({ ...f, year: '*' })), crontabDateArb.map((crontab) => ({ crontab }))),
      fc.integer({ min: 0, max: 100000 }),
      (fields, dayNumber) => {
        const start = Date.UTC(1970, 0, 1) + dayNumber * DAY
        const brute = bruteOf(fields)
        let expected: number | null = null
        const d = new Date(start)
        for (let i = 0; i < 146097 + 366; i++, d.setUTCDate(d.getUTCDate() + 1)) {
          if (d.getUTCFullYear() > 9999) break
          if (brute.date(dayInfo(d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()))) { expected = d.getTime(); break }
        }
        let got: number | null
        try {
          got = compileTrigger(parseTriggerSpec('cron', fields, { timezone: 'UTC', now: start })).first(start)
        } catch (e) {
          if (!(e instanceof ValidationError && /never fires/.test(e.message))) throw e
          got = null
        }
        assert.equal(got, expected)
      }
    ), { numRuns: RUNS.firstFire, ...SEED })
  })

  test(`instants in ${ZONES.length} zones around DST changes: equal the brute force; increasing, within start/end, never in a gap, a repeated wall time once (${RUNS.zones} runs)`, (t) => {
    // What the runs covered, so a weak generator shows: windows with a clock change, runs that
    // fired a wall time at its second occurrence (the job started inside the repeat).
    const covered = { runs: 0, crossedChange: 0, firedSecondPass: 0, withFires: 0 }
    fc.assert(fc.property(
      fc.oneof(timeFieldsArb, crontabTimeArb.map((crontab) => ({ crontab }))),
      fc.constantFrom(...ZONES),
      fc.integer({ min: 1975, max: 2037 }),
      fc.nat(),
      // Often just before or inside a repeated hour, so the job's start falls there.
      fc.oneof(fc.integer({ min: -4 * 3600, max: 2 * 3600 }), fc.integer({ min: -900, max: 3 * 3600 })),
      fc.boolean(),
      fc.option(fc.integer({ min: 600, max: 8 * 3600 }), { nil: undefined }),
      (fields, tz, year, pick, shiftSeconds, useStartDate, endAfter) => {
        const changes = transitions(tz, year)
        const base = changes.length > 0 ? changes[pick % changes.length]! : Date.UTC(year, pick % 12, 1 + pick % 28)
        // Any millisecond: nothing may fire before the start.
        const start = base + shiftSeconds * 1000 + (pick % 1000)
        const until = start + 6 * 3600000
        const end = endAfter === undefined ? null : start + endAfter * 1000
        const input: Record<string, unknown> = { ...fields }
        if (useStartDate) input.start_date = new Date(start).toISOString()
        if (end !== null) input.end_date = new Date(end).toISOString()
        // The job's start is its start_date, or else when it was created (now).
        const now = useStartDate ? start - 3600000 : start
        const brute = bruteOf(fields)
        const expected: number[] = []
        const seen = new Set<string>()
        for (let t = Math.ceil(start / 10000) * 10000; t <= Math.min(until, end ?? Infinity); t += 10000) {
          const w = wallOf(t, tz)
          const key = `${w.y}-${w.mo}-${w.d} ${w.h}:${w.mi}:${w.s}`
          if (seen.has(key)) continue // a repeated wall time: only its first occurrence from the start
          seen.add(key)
          if (brute.time(w.h, w.mi, w.s) && brute.date(dayInfo(w.y, w.mo, w.d))) expected.push(t)
        }
        covered.runs++
        if (offsetOf(start, tz) !== offsetOf(until, tz)) covered.crossedChange++
        if (expected.length > 0) covered.withFires++
        if (expected.some((x) => { const back = offsetOf(x - 26 * 3600000, tz) - offsetOf(x, tz); return back > 0 && JSON.stringify(wallOf(x - back, tz)) === JSON.stringify(wallOf(x, tz)) })) covered.firedSecondPass++
        const got = triggerFires(input, tz, now, until)
        if (got === 'never') {
          assert.deepEqual(expected, [])
          return
        }
        assert.deepEqual(got.map((t) => new Date(t).toISOString()), expected.map((t) => new Date(t).toISOString()), `${tz} from ${new Date(start).toISOString()}`)
        for (let i = 0; i < got.length; i++) {
          const t = got[i]!
          if (i > 0) assert.ok(t > got[i - 1]!, 'strictly increasing')
          assert.ok(t >= start, 'not before the start')
          if (end !== null) assert.ok(t <= end, 'not after end_date')
          const w = wallOf(t, tz)
          assert.ok(brute.time(w.h, w.mi, w.s), 'its wall time matches: it was not moved out of a gap')
        }
      }
    ), { numRuns: RUNS.zones, ...SEED })
    t.diagnostic(`coverage: ${JSON.stringify(covered)}`)
  })
})

describe('interval, property-based', () => {
  test(`fires strictly increase by exactly the interval, from the first start+k·interval >= now, within start/end (${RUNS.interval} runs)`, () => {
    fc.assert(fc.property(
      fc.record({ days: fc.integer({ min: 0, max: 3 }), hours: fc.integer({ min: 0, max: 30 }), minutes: fc.integer({ min: 0, max: 90 }), seconds: fc.double({ min: 0, max: 100, noNaN: true }) }),
      fc.constantFrom(...ZONES),
      fc.integer({ min: Date.UTC(1990, 0, 1), max: Date.UTC(2035, 0, 1) }),
      fc.integer({ min: -10 * DAY, max: 10 * DAY }),
      fc.option(fc.integer({ min: 0, max: 20 * DAY }), { nil: undefined }),
      (parts, tz, start, nowShift, endAfter) => {
        const ms = Math.round(((parts.days * 24 + parts.hours) * 60 + parts.minutes) * 60000 + parts.seconds * 1000)
        fc.pre(ms > 0)
        const now = start + nowShift
        const input: Record<string, unknown> = { ...parts, start_date: new Date(start).toISOString() }
        if (endAfter !== undefined) input.end_date = new Date(start + endAfter).toISOString()
        const spec = parseTriggerSpec('interval', input, { timezone: tz, now })
        const trigger = compileTrigger(spec)
        const first = trigger.first(now)
        const end = endAfter === undefined ? Infinity : start + endAfter
        const k = Math.max(0, Math.ceil((now - start) / ms))
        const expectedFirst = start + k * ms
        if (expectedFirst > end) { assert.equal(first, null); return }
        assert.equal(first, expectedFirst)
        let t = first!
        for (let i = 0; i < 20; i++) {
          const next = trigger.next(t)
          if (t + ms > end) { assert.equal(next, null); break }
          assert.equal(next, t + ms)
          assert.ok(next! >= start && next! <= end)
          t = next!
        }
      }
    ), { numRuns: RUNS.interval, ...SEED })
  })
})
