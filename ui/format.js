// Formatting: instants in a job's zone, relative times, durations, and triggers in words.

const formatters = new Map()

function partsFormatter (timeZone) {
  let f = formatters.get(timeZone)
  if (f === undefined) {
    try {
      f = new Intl.DateTimeFormat('en-CA', {
        timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
        hourCycle: 'h23', timeZoneName: 'short'
      })
    } catch {
      f = partsFormatter('UTC')
    }
    formatters.set(timeZone, f)
  }
  return f
}

function wallParts (ms, timeZone) {
  const p = {}
  for (const { type, value } of partsFormatter(timeZone).formatToParts(new Date(ms))) p[type] = value
  return p
}

/** "2026-12-02 09:00:00 CET": the instant as wall time in `timeZone`. */
export function absolute (iso, timeZone) {
  if (iso === null || iso === undefined) return '—'
  const ms = Date.parse(iso)
  if (Number.isNaN(ms)) return iso
  const p = wallParts(ms, timeZone)
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second} ${p.timeZoneName}`
}

/** The instant as `YYYY-MM-DDTHH:mm:ss` wall time in `timeZone` (a datetime-local value). */
export function wallTimeInput (iso, timeZone) {
  if (iso === null || iso === undefined) return ''
  const ms = Date.parse(iso)
  if (Number.isNaN(ms)) return ''
  const p = wallParts(ms, timeZone)
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}:${p.second}`
}

const rtf = new Intl.RelativeTimeFormat('en', { numeric: 'auto' })

/** "in 5 seconds", "3 minutes ago". */
export function relative (iso, now = Date.now()) {
  if (iso === null || iso === undefined) return ''
  const diff = Date.parse(iso) - now
  const abs = Math.abs(diff)
  if (abs < 1000) return 'now'
  if (abs < 60_000) return rtf.format(Math.round(diff / 1000), 'second')
  if (abs < 3_600_000) return rtf.format(Math.round(diff / 60_000), 'minute')
  if (abs < 86_400_000) return rtf.format(Math.round(diff / 3_600_000), 'hour')
  return rtf.format(Math.round(diff / 86_400_000), 'day')
}

/** "12 ms", "1.5 s", "2 min 3 s". */
export function duration (ms) {
  if (ms === null || ms === undefined) return '—'
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`
  const minutes = Math.floor(ms / 60_000)
  return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`
}

const UNITS = ['weeks', 'days', 'hours', 'minutes', 'seconds']

/** "every 10 seconds", "every hour", "every 1 hour 30 minutes". */
export function intervalWords (job) {
  const given = UNITS.filter((u) => typeof job[u] === 'number' && job[u] !== 0)
  if (given.length === 0) return 'every — (no interval)'
  if (given.length === 1 && job[given[0]] === 1) return `every ${given[0].slice(0, -1)}`
  return 'every ' + given.map((u) => `${job[u]} ${job[u] === 1 ? u.slice(0, -1) : u}`).join(' ')
}

// APScheduler's cron fields, most significant first, and the values of fields left out after the
// last one given (the ones before it are '*').
const CRON_ORDER = ['year', 'month', 'day', 'week', 'day_of_week', 'hour', 'minute', 'second']
const CRON_DEFAULTS = { year: '*', month: '1', day: '1', week: '*', day_of_week: '*', hour: '0', minute: '0', second: '0' }
const DOW = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']
const SUNDAY_FIRST = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 }
const ORDINAL = { '1st': 1, '2nd': 2, '3rd': 3, '4th': 4, '5th': 5 }

/** Every cron field as APScheduler reads it (defaults applied). */
export function cronFields (job) {
  const last = Math.max(-1, ...CRON_ORDER.map((f, i) => (job[f] !== undefined ? i : -1)))
  const out = {}
  CRON_ORDER.forEach((f, i) => { out[f] = job[f] !== undefined ? String(job[f]) : (last >= 0 && i > last ? CRON_DEFAULTS[f] : '*') })
  return out
}

/** APScheduler fields → a 6 or 7 field expression cronstrue reads (seconds first, 0 = Sunday), or null. */
function toCronstrue (fields) {
  let dow = fields.day_of_week.toLowerCase().replace(/\b[0-6]\b/g, (n) => DOW[Number(n)]).toUpperCase()
  let day = fields.day.toLowerCase()
  const nth = /^(1st|2nd|3rd|4th|5th|last) (mon|tue|wed|thu|fri|sat|sun)$/.exec(day)
  if (nth !== null) {
    if (fields.day_of_week !== '*') return null
    const n = SUNDAY_FIRST[nth[2]]
    dow = nth[1] === 'last' ? `${n}L` : `${n}#${ORDINAL[nth[1]]}`
    day = '?'
  } else if (day === 'last') {
    day = 'L'
  } else if (/[a-z]/.test(day)) {
    return null
  }
  const expr = [fields.second, fields.minute, fields.hour, day, fields.month.toUpperCase(), dow]
  if (fields.year !== '*') expr.push(fields.year)
  return expr.join(' ')
}

function cronstrueText (expression) {
  const lib = globalThis.cronstrue
  if (lib === undefined) return null
  try {
    const text = lib.toString(expression, { use24HourTimeFormat: true, throwExceptionOnParseError: true, verbose: false })
    return text.charAt(0).toLowerCase() + text.slice(1) // reads like the other triggers: "at 09:00, …".
  } catch {
    return null
  }
}

/** A cron job in words: "at 09:00, Monday through Friday". */
export function cronWords (job) {
  if (typeof job.crontab === 'string') {
    return cronstrueText(job.crontab) ?? `crontab ${job.crontab}`
  }
  const fields = cronFields(job)
  const expression = toCronstrue(fields)
  let text = expression === null ? null : cronstrueText(expression)
  if (text === null) {
    text = 'cron ' + CRON_ORDER.filter((f) => job[f] !== undefined).map((f) => `${f}=${job[f]}`).join(' ')
  }
  if (fields.week !== '*') text += `, in ISO week ${fields.week}`
  return text
}

/** The trigger in words, with the zone where it matters. */
export function triggerWords (job) {
  const until = job.end_date === undefined ? '' : `, until ${absolute(job.end_date, job.timezone)}`
  if (job.trigger === 'interval') return intervalWords(job) + until
  if (job.trigger === 'cron') return `${cronWords(job)} (${job.timezone})${until}`
  if (job.trigger === 'date') return `once, at ${absolute(job.run_date ?? job.next_run_time, job.timezone)}`
  return job.trigger
}

/** The field an API error names: "hour: '25' is out of range 0-23" → "hour". */
export function errorField (message) {
  const m = /^([A-Za-z_][\w]*(?:\.[\w]+)*): /.exec(message ?? '')
  return m === null ? null : m[1]
}
