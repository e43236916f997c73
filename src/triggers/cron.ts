/**
 * The cron trigger. A fire is a whole second whose wall time in the trigger's zone matches every
 * field. Croner computes the matching wall times: it runs at UTC offset 0, where a Date stands for
 * a wall-clock time, with the pattern built from the fields (cronerPattern). Around it:
 * - the calendar (cron-calendar.ts) has the last word on dates and jumps croner straight to the
 *   next matching date, so croner never scans: every search is bounded (one cheap step per year at
 *   most), and a definition that never fires is proved so in about a millisecond;
 * - the zone enters only where wall times become instants: a wall time inside a spring-forward gap
 *   does not exist that day (skipped); one repeated by a fall-back fires once, at its first
 *   occurrence at or after the job's start (its `start_date`, or when the schedule was created or
 *   last changed, whichever is later).
 *
 * APScheduler 3 searches field by field (incrementing the first field that does not match and
 * resetting the smaller ones); the results are the same, but its day-level fields (week,
 * day_of_week, nth weekday) advance a day at a time, which is what made "never fires" slow here.
 */
import type { Cron } from 'croner'
import type { CronTriggerSpec, Trigger } from '../types.js'
import { MAX_INSTANT, offsetAt, resolveLocal, utcMs } from '../time.js'
import { compileCronFields, compileCrontab, cronerPattern, matchesTime, type CronMatcher } from './cron-expression.js'
import { isMatchingDate, nextMatchingDate, nextTimeOfDay } from './cron-calendar.js'
import { cronFor } from './croner-cache.js'

export interface CompiledCron {
  matcher: CronMatcher
  cron: Cron
  timezone: string
  memo: NextMemo
}

/**
 * The last fire computed for an expression away from any clock change: jobs on the same schedule
 * ask for the same next fire at the same second (a thousand per-second jobs ask a thousand times),
 * so one answer serves them all.
 */
interface NextMemo { timezone: string, from: number, next: number | null }

const CACHE_LIMIT = 1000
const compiled = new Map<string, { matcher: CronMatcher, cron: Cron, memo: NextMemo }>()
/** Longer than any clock change since 1970, so one look either side finds the one that matters. */
const WINDOW = 26 * 3600_000
/** Each round either returns or moves past a gap or a repeated stretch; a few suffice. */
const MAX_ROUNDS = 32

/** Parse (throws ValidationError naming the field); parsed expressions and croner objects are shared. */
export function compileCronExpression (spec: Pick<CronTriggerSpec, 'fields' | 'crontab' | 'timezone'>): CompiledCron {
  const key = JSON.stringify([spec.crontab, spec.fields])
  let hit = compiled.get(key)
  if (hit === undefined) {
    const matcher = spec.crontab !== null ? compileCrontab(spec.crontab) : compileCronFields(spec.fields)
    const { pattern, domAndDow } = cronerPattern(matcher)
    hit = { matcher, cron: cronFor(pattern, { mode: '7-part', domAndDow }), memo: { timezone: '', from: NaN, next: null } }
    compiled.set(key, hit)
    if (compiled.size > CACHE_LIMIT) compiled.delete(compiled.keys().next().value!)
  }
  return { ...hit, timezone: spec.timezone }
}

const offsetMs = (tz: string, t: number): number => Math.round(offsetAt(t, tz) * 60000)

/** The first instant in (lo, hi] whose offset differs from lo's; the offsets at lo and hi differ. */
function transition (tz: string, lo: number, hi: number): number {
  const o = offsetMs(tz, lo)
  while (hi - lo > 1) {
    const mid = lo + Math.floor((hi - lo) / 2)
    if (offsetMs(tz, mid) === o) lo = mid
    else hi = mid
  }
  return hi
}

/** A clock change back in (lo, hi]: at `at` the offset drops from `before` to `after` (ms). */
interface FallBack { at: number, before: number, after: number }

function fallBackIn (tz: string, lo: number, hi: number): FallBack | null {
  if (offsetMs(tz, hi) >= offsetMs(tz, lo)) return null
  const at = transition(tz, lo, hi)
  const before = offsetMs(tz, at - 1)
  const after = offsetMs(tz, at)
  return after < before ? { at, before, after } : null
}

/**
 * The first wall time (as UTC-based ms) >= `from` that matches, and is below `limit`; or null.
 * Croner proposes; the calendar first moves it to a date that matches and has a matching time
 * left, so croner only ever searches within that day.
 */
function nextWallMatch (c: CompiledCron, from: number, limit: number | null): number | null {
  const m = c.matcher
  let t = Math.ceil(from / 1000) * 1000
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const d = new Date(t)
    const y = d.getUTCFullYear()
    const mo = d.getUTCMonth() + 1
    const day = d.getUTCDate()
    let date = nextMatchingDate(m, y, mo, day)
    if (date !== null && date[0] === y && date[1] === mo && date[2] === day &&
      nextTimeOfDay(m, d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()) === null) {
      date = nextMatchingDate(m, y, mo, day + 1)
    }
    if (date === null) return null
    if (date[0] !== y || date[1] !== mo || date[2] !== day) t = utcMs(date[0], date[1], date[2])
    if (limit !== null && t >= limit) return null
    const next = c.cron.nextRun(new Date(t - 1))?.getTime() ?? null // strictly after t - 1
    if (next === null) return null // croner's range ends with the year 2999
    if (limit !== null && next >= limit) return null
    const w = new Date(next)
    if (isMatchingDate(m, w.getUTCFullYear(), w.getUTCMonth() + 1, w.getUTCDate()) &&
      matchesTime(m, w.getUTCHours(), w.getUTCMinutes(), w.getUTCSeconds())) return next
    // Croner's pattern is wider than the fields here (ISO week, nth weekday mixes): go on.
    t = next + 1000
  }
  return null
}

/**
 * The first fire strictly after `after`, or null (none up to the end of 2999). `startRef` is the
 * job's start: a repeated wall time whose first occurrence came before it fires at its second.
 */
export function cronNextAfter (c: CompiledCron, after: number, startRef: number): number | null {
  const tz = c.timezone
  let t = Math.floor(after / 1000) * 1000 + 1000
  const { memo } = c
  if (memo.from === t && memo.timezone === tz) return memo.next
  for (let round = 0; round < MAX_ROUNDS && t <= MAX_INSTANT; round++) {
    const offset = offsetMs(tz, t)
    const wall = t + offset
    if (offsetMs(tz, t - WINDOW) === offset && offsetMs(tz, t + WINDOW) === offset) {
      // The usual case: no clock change for a day either side (no two are that close), so a
      // match within the next day is simply wall time minus the offset (and startRef plays no part).
      const w = nextWallMatch(c, wall, wall + WINDOW)
      if (w !== null) {
        const next = finite(w - offset)
        if (round === 0) { memo.timezone = tz; memo.from = t; memo.next = next }
        return next
      }
    }
    const back = fallBackIn(tz, t - WINDOW, t)
    if (back !== null && t < back.at + (back.before - back.after)) {
      // t is in the second pass of a fall-back: these wall times already came once, before `at`.
      const repeatEnd = back.at + back.before
      const acceptEnd = Math.min(repeatEnd, startRef + back.before)
      const w = wall < acceptEnd ? nextWallMatch(c, wall, acceptEnd) : null
      if (w !== null) return finite(w - back.after)
      t = repeatEnd - back.after
      continue
    }
    const w = nextWallMatch(c, wall, null)
    const ahead = fallBackIn(tz, t, t + WINDOW)
    if (ahead !== null) {
      // A fall-back is near: a match before it comes first; after it, wall times below `wall`
      // come round again, and those whose first pass preceded the job's start fire now.
      if (w !== null && w - ahead.before < ahead.at) return finite(w - ahead.before)
      const lo = ahead.at + ahead.after
      const hi = Math.min(wall, startRef + ahead.before)
      const again = lo < hi ? nextWallMatch(c, lo, hi) : null
      if (again !== null) return finite(again - ahead.after)
    }
    if (w === null) return null
    const d = new Date(w)
    const r = resolveLocal(tz, d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds())
    if (r.kind === 'gap') {
      // This wall time does not exist today; go on from the end of the gap.
      const end = r.ms
      t = Math.ceil(transition(tz, w - offsetMs(tz, end), end) / 1000) * 1000
      continue
    }
    if (r.ms >= t) return finite(r.ms)
    if (r.later !== null && r.later >= t && r.ms < startRef) return finite(r.later)
    t = Math.max(t, r.later ?? r.ms) + 1000
  }
  return null
}

const finite = (t: number): number | null => t > MAX_INSTANT ? null : t

/** When a repeated wall time may fire its second occurrence: before the later of start and origin. */
export function cronStartRef (spec: Pick<CronTriggerSpec, 'start_date' | 'origin'>): number {
  return Math.max(spec.start_date ?? -Infinity, spec.origin ?? -Infinity)
}

export function compileCron (spec: CronTriggerSpec): Trigger {
  const c = compileCronExpression(spec)
  const { start_date: start, end_date: end } = spec
  const startRef = cronStartRef(spec)
  const bounded = (t: number | null): number | null => t === null || (end !== null && t > end) ? null : t
  return {
    spec,
    first (now: number): number | null {
      // Inclusive: never before start_date, and a whole second.
      const from = start !== null && start > now ? start : now
      return bounded(cronNextAfter(c, from - 1, startRef))
    },
    next (previous: number): number | null {
      if (start !== null && start > previous) return bounded(cronNextAfter(c, start - 1, startRef))
      return bounded(cronNextAfter(c, previous, startRef))
    }
  }
}
