/**
 * Which local dates a cron matcher allows, found without stepping day by day. In the Gregorian
 * calendar the days of a year that match depend only on its type: the weekday of 1 January, whether
 * it is a leap year and whether the year before was one (that decides the ISO weeks of early
 * January). There are 21 types; each is worked out once per matcher (366 days) and every search
 * after that costs at most one cheap step per year. So even a definition that never fires is proved
 * so up to the last year computed in about a millisecond, instead of a day-by-day scan of seconds.
 */
import { matchesDay, nextYear, type CronMatcher } from './cron-expression.js'

/** Croner, which computes the times, works up to the end of 2999. */
export const MAX_YEAR = 2999
const TYPES = 21
const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]

export const isLeap = (y: number): boolean => y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0)

/** Weekday of 1 January, 0 = Monday (0001-01-01 is a Monday in the proleptic Gregorian calendar). */
export function jan1Weekday (y: number): number {
  const p = y - 1
  return (p * 365 + Math.floor(p / 4) - Math.floor(p / 100) + Math.floor(p / 400)) % 7
}

/** ISO weeks in a year: 53 when it starts on a Thursday, or on a Wednesday in a leap year. */
const isoWeeksIn = (jan1: number, leap: boolean): number => jan1 === 3 || (leap && jan1 === 2) ? 53 : 52

const monthLength = (month: number, leap: boolean): number => month === 2 && leap ? 29 : MONTH_DAYS[month - 1]!

/** Days of the year (0-based) that match, for one year type. */
function matchingDays (m: CronMatcher, jan1: number, leap: boolean, prevLeap: boolean): Int16Array {
  const prevJan1 = (jan1 + 7 - (prevLeap ? 2 : 1)) % 7
  const weeksBefore = isoWeeksIn(prevJan1, prevLeap)
  const weeks = isoWeeksIn(jan1, leap)
  const out: number[] = []
  let doy = 0
  for (let month = 1; month <= 12; month++) {
    const dim = monthLength(month, leap)
    if (m.month[month] !== 1) { doy += dim; continue }
    for (let day = 1; day <= dim; day++, doy++) {
      const weekday = (jan1 + doy) % 7
      let week = Math.floor((doy - weekday + 10) / 7)
      if (week < 1) week = weeksBefore
      else if (week > weeks) week = 1
      if (matchesDay(m, month, day, weekday, week, dim)) out.push(doy)
    }
  }
  return Int16Array.from(out)
}

interface Cache { types: Array<Int16Array | undefined>, empty: number }
const caches = new WeakMap<CronMatcher, Cache>()

function daysOf (m: CronMatcher, y: number): Int16Array {
  let cache = caches.get(m)
  if (cache === undefined) { cache = { types: [], empty: 0 }; caches.set(m, cache) }
  const jan1 = jan1Weekday(y)
  const leap = isLeap(y)
  const prevLeap = isLeap(y - 1)
  const key = jan1 * 3 + (leap ? 1 : prevLeap ? 2 : 0)
  let days = cache.types[key]
  if (days === undefined) {
    days = matchingDays(m, jan1, leap, prevLeap)
    cache.types[key] = days
    if (days.length === 0) cache.empty++
  }
  return days
}

/** True once every year type is known to have no matching day. */
const provedEmpty = (m: CronMatcher): boolean => (caches.get(m)?.empty ?? 0) === TYPES

/**
 * The first local date at or after (y, month, day) that matches every date-level field, or null
 * when there is none up to MAX_YEAR. `day` may run past the end of its month (day + 1).
 */
export function nextMatchingDate (m: CronMatcher, y: number, month: number, day: number): [number, number, number] | null {
  let from = day - 1
  for (let mo = 1; mo < month; mo++) from += monthLength(mo, isLeap(y))
  let year: number | null = y
  if (from >= (isLeap(y) ? 366 : 365)) { year = y + 1; from = 0 }
  const first = year
  year = nextYear(m.yearRanges, year)
  if (year !== first) from = 0
  while (year !== null && year <= MAX_YEAR) {
    const days = daysOf(m, year)
    // First matching day >= from (binary search).
    let lo = 0
    let hi = days.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (days[mid]! < from) lo = mid + 1
      else hi = mid
    }
    if (lo < days.length) return toDate(year, days[lo]!)
    if (provedEmpty(m)) return null
    year = nextYear(m.yearRanges, year + 1)
    from = 0
  }
  return null
}

function toDate (y: number, doy: number): [number, number, number] {
  const leap = isLeap(y)
  let month = 1
  while (doy >= monthLength(month, leap)) doy -= monthLength(month++, leap)
  return [y, month, doy + 1]
}

export function isMatchingDate (m: CronMatcher, y: number, month: number, day: number): boolean {
  const next = nextMatchingDate(m, y, month, day)
  return next !== null && next[0] === y && next[1] === month && next[2] === day
}

/** The first time of day at or after h:mi:s that matches the time fields, or null (none left that day). */
export function nextTimeOfDay (m: CronMatcher, h: number, mi: number, s: number): [number, number, number] | null {
  for (let hour = h; hour < 24; hour++) {
    if (m.hour[hour] !== 1) continue
    for (let minute = hour === h ? mi : 0; minute < 60; minute++) {
      if (m.minute[minute] !== 1) continue
      for (let second = hour === h && minute === mi ? s : 0; second < 60; second++) {
        if (m.second[second] === 1) return [hour, minute, second]
      }
    }
  }
  return null
}
