import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { applyJitter, compileTrigger, nextFireTimes, parseTriggerSpec, triggerToJSON, TRIGGER_FIELDS } from '../src/triggers/index.js'
import { resolveCronDefaults } from '../src/triggers/cron-expression.js'
import { cronFor } from '../src/triggers/croner-cache.js'
import { formatDate } from '../src/time.js'
import { ValidationError } from '../src/errors.js'
import type { TriggerType } from '../src/types.js'

const NOW = Date.parse('2027-01-01T00:00:00Z') // a Friday

function fires (type: TriggerType, fields: Record<string, unknown>, n = 5, now = NOW, tz = 'UTC'): string[] {
  const spec = parseTriggerSpec(type, fields, { timezone: tz, now })
  return nextFireTimes(compileTrigger(spec), now, n).map(t => formatDate(t, tz))
}

/** Just the local date-times, for readability. */
const short = (xs: string[]): string[] => xs.map(x => x.slice(0, 19))

function rejects (type: TriggerType, fields: Record<string, unknown>, field: string, message?: RegExp): void {
  assert.throws(() => parseTriggerSpec(type, fields, { timezone: 'UTC', now: NOW }), (e: unknown) => {
    assert.ok(e instanceof ValidationError, `expected a ValidationError for ${JSON.stringify(fields)}`)
    assert.equal(e.field, field)
    assert.equal(e.statusCode, 400)
    if (message !== undefined) assert.match(e.message, message)
    return true
  })
}

describe('cron: APScheduler field defaults', () => {
  test('resolveCronDefaults follows CronTrigger', () => {
    assert.deepEqual(resolveCronDefaults({ hour: '5' }), { year: '*', month: '*', day: '*', week: '*', day_of_week: '*', hour: '5', minute: '0', second: '0' })
    assert.deepEqual(resolveCronDefaults({ month: '6' }), { year: '*', month: '6', day: '1', week: '*', day_of_week: '*', hour: '0', minute: '0', second: '0' })
    assert.deepEqual(resolveCronDefaults({}), { year: '*', month: '*', day: '*', week: '*', day_of_week: '*', hour: '*', minute: '*', second: '*' })
    assert.deepEqual(resolveCronDefaults({ day_of_week: 'mon', minute: '5' }).second, '0')
    assert.deepEqual(resolveCronDefaults({ day_of_week: 'mon', minute: '5' }).hour, '*')
  })

  test('{hour: 5} fires daily at 05:00:00', () => {
    assert.deepEqual(short(fires('cron', { hour: 5 }, 3)), ['2027-01-01T05:00:00', '2027-01-02T05:00:00', '2027-01-03T05:00:00'])
  })

  test('{month: 6} fires on June 1 at midnight', () => {
    assert.deepEqual(short(fires('cron', { month: '6' }, 2)), ['2027-06-01T00:00:00', '2028-06-01T00:00:00'])
  })

  test('{} fires every second', () => {
    assert.deepEqual(short(fires('cron', {}, 3, NOW + 500)), ['2027-01-01T00:00:01', '2027-01-01T00:00:02', '2027-01-01T00:00:03'])
  })

  test('{minute: */15} fires at second 0', () => {
    assert.deepEqual(short(fires('cron', { minute: '*/15' }, 3, NOW + 1000)), ['2027-01-01T00:15:00', '2027-01-01T00:30:00', '2027-01-01T00:45:00'])
  })

  test('null fields count as not given', () => {
    assert.deepEqual(short(fires('cron', { hour: 5, minute: null, day: undefined }, 1)), ['2027-01-01T05:00:00'])
  })
})

describe('cron: expressions', () => {
  test('*/a, a-b/c, a/c and lists', () => {
    assert.deepEqual(short(fires('cron', { hour: '*/6' }, 5)).map(s => s.slice(11)), ['00:00:00', '06:00:00', '12:00:00', '18:00:00', '00:00:00'])
    assert.deepEqual(short(fires('cron', { minute: '10-40/15' }, 4)).map(s => s.slice(11)), ['00:10:00', '00:25:00', '00:40:00', '01:10:00'])
    assert.deepEqual(short(fires('cron', { minute: '45/5' }, 4)).map(s => s.slice(11)), ['00:45:00', '00:50:00', '00:55:00', '01:45:00'])
    assert.deepEqual(short(fires('cron', { hour: '3, 7 ,9-10', minute: 0 }, 5)).map(s => s.slice(11, 13)), ['03', '07', '09', '10', '03'])
  })

  test('last day of month', () => {
    assert.deepEqual(short(fires('cron', { day: 'last' }, 3)), ['2027-01-31T00:00:00', '2027-02-28T00:00:00', '2027-03-31T00:00:00'])
    assert.deepEqual(short(fires('cron', { month: 2, day: 'last' }, 2)), ['2027-02-28T00:00:00', '2028-02-29T00:00:00'])
  })

  test('nth and last weekday of month', () => {
    assert.deepEqual(short(fires('cron', { day: '3rd fri' }, 3)), ['2027-01-15T00:00:00', '2027-02-19T00:00:00', '2027-03-19T00:00:00'])
    assert.deepEqual(short(fires('cron', { day: 'last fri' }, 3)), ['2027-01-29T00:00:00', '2027-02-26T00:00:00', '2027-03-26T00:00:00'])
    assert.deepEqual(short(fires('cron', { day: 'LAST  Fri, 1st mon' }, 4)), ['2027-01-04T00:00:00', '2027-01-29T00:00:00', '2027-02-01T00:00:00', '2027-02-26T00:00:00'])
    // 5th Monday exists only in some months.
    assert.deepEqual(short(fires('cron', { day: '5th mon' }, 2)), ['2027-03-29T00:00:00', '2027-05-31T00:00:00'])
  })

  test('month and weekday names, case-insensitive', () => {
    assert.deepEqual(short(fires('cron', { month: 'MAR-apr', day: 1 }, 3)), ['2027-03-01T00:00:00', '2027-04-01T00:00:00', '2028-03-01T00:00:00'])
    assert.deepEqual(short(fires('cron', { day_of_week: 'mon-fri', hour: 9 }, 3)), ['2027-01-01T09:00:00', '2027-01-04T09:00:00', '2027-01-05T09:00:00'])
    assert.deepEqual(short(fires('cron', { day_of_week: 'sat,Sun', hour: 9 }, 3)), ['2027-01-02T09:00:00', '2027-01-03T09:00:00', '2027-01-09T09:00:00'])
  })

  test('day_of_week numbers: 0 = Monday; */2 = mon, wed, fri, sun', () => {
    assert.deepEqual(short(fires('cron', { day_of_week: 0 }, 2)), ['2027-01-04T00:00:00', '2027-01-11T00:00:00'])
    assert.deepEqual(short(fires('cron', { day_of_week: 6 }, 1)), ['2027-01-03T00:00:00'])
    const days = fires('cron', { day_of_week: '*/2' }, 7).map(s => new Date(s).getUTCDay())
    assert.deepEqual(days, [5, 0, 1, 3, 5, 0, 1]) // fri sun mon wed fri sun mon (JS: 0 = Sunday)
  })

  test('day and day_of_week are ANDed (APScheduler)', () => {
    // Friday the 13th.
    assert.deepEqual(short(fires('cron', { day: 13, day_of_week: 'fri' }, 2)), ['2027-08-13T00:00:00', '2028-10-13T00:00:00'])
  })

  test('ISO week and year', () => {
    assert.deepEqual(short(fires('cron', { week: 10, day_of_week: 0 }, 2)), ['2027-03-08T00:00:00', '2028-03-06T00:00:00'])
    assert.deepEqual(short(fires('cron', { week: '10' }, 2)), ['2027-03-08T00:00:00', '2027-03-09T00:00:00'])
    // 2027-01-01..03 still belong to ISO week 53 of 2026; the next week 53 is in 2032.
    assert.deepEqual(short(fires('cron', { week: 53, day_of_week: 'mon' }, 2)), ['2032-12-27T00:00:00', '2037-12-28T00:00:00'])
    assert.deepEqual(short(fires('cron', { year: '2028-2036/4', month: 2, day: 29 }, 4)), ['2028-02-29T00:00:00', '2032-02-29T00:00:00', '2036-02-29T00:00:00'])
    assert.deepEqual(short(fires('cron', { year: 2030 }, 1)), ['2030-01-01T00:00:00'])
  })

  test('crontab: 5 fields, Sunday = 0 or 7, names, OR between day fields', () => {
    assert.deepEqual(short(fires('cron', { crontab: '0 9 * * 0' }, 2)), ['2027-01-03T09:00:00', '2027-01-10T09:00:00'])
    assert.deepEqual(short(fires('cron', { crontab: '0 9 * * 7' }, 1)), ['2027-01-03T09:00:00'])
    assert.deepEqual(short(fires('cron', { crontab: '0 9 * * mon-fri' }, 2)), ['2027-01-01T09:00:00', '2027-01-04T09:00:00'])
    assert.deepEqual(short(fires('cron', { crontab: '*/5 * * * *' }, 3, NOW + 1)).map(s => s.slice(11)), ['00:05:00', '00:10:00', '00:15:00'])
    // Vixie: both day fields restricted = either matches (the 13th, or any Friday).
    assert.deepEqual(short(fires('cron', { crontab: '0 0 13 * 5' }, 4)), ['2027-01-01T00:00:00', '2027-01-08T00:00:00', '2027-01-13T00:00:00', '2027-01-15T00:00:00'])
    // A day field starting with '*' does not widen the other one.
    assert.deepEqual(short(fires('cron', { crontab: '0 0 */2 * 1' }, 2)), ['2027-01-11T00:00:00', '2027-01-25T00:00:00'])
    assert.deepEqual(short(fires('cron', { crontab: '@daily' }, 2)), ['2027-01-01T00:00:00', '2027-01-02T00:00:00'])
  })

  test('crontab: 6 fields = seconds first', () => {
    assert.deepEqual(short(fires('cron', { crontab: '*/20 * * * * *' }, 4, NOW + 1)).map(s => s.slice(11)), ['00:00:20', '00:00:40', '00:01:00', '00:01:20'])
    assert.deepEqual(short(fires('cron', { crontab: '30 0 12 * * 0' }, 1)), ['2027-01-03T12:00:30'])
  })

  test('timezone: wall-clock fields are read in the trigger zone', () => {
    assert.deepEqual(fires('cron', { hour: 9 }, 1, NOW, 'America/New_York'), ['2027-01-01T09:00:00-05:00'])
    assert.deepEqual(fires('cron', { crontab: '0 9 * * *' }, 1, NOW, 'Asia/Kolkata'), ['2027-01-01T09:00:00+05:30'])
  })

  test('start_date and end_date are inclusive', () => {
    const spec = parseTriggerSpec('cron', { hour: 12, start_date: '2027-02-01T12:00:00+00:00', end_date: '2027-02-03T12:00:00+00:00' }, { timezone: 'UTC', now: NOW })
    const times = nextFireTimes(compileTrigger(spec), NOW, 10).map(t => formatDate(t, 'UTC'))
    assert.deepEqual(times, ['2027-02-01T12:00:00+00:00', '2027-02-02T12:00:00+00:00', '2027-02-03T12:00:00+00:00'])
    const t = compileTrigger(spec)
    assert.equal(t.next(Date.parse('2027-01-05T00:00:00Z')), Date.parse('2027-02-01T12:00:00Z'))
  })

  test('first() is inclusive of now; next() is strictly after', () => {
    const t = compileTrigger(parseTriggerSpec('cron', { minute: 0 }, { timezone: 'UTC', now: NOW }))
    assert.equal(t.first(NOW), NOW)
    assert.equal(t.first(NOW + 1), NOW + 3600000)
    assert.equal(t.next(NOW), NOW + 3600000)
  })

})

describe('interval and date', () => {
  test('no start_date: first fire = creation + interval', () => {
    const spec = parseTriggerSpec('interval', { minutes: 10 }, { timezone: 'UTC', now: NOW })
    assert.ok(spec.type === 'interval')
    assert.equal(spec.start_date, NOW + 600000)
    assert.deepEqual(nextFireTimes(compileTrigger(spec), NOW, 2), [NOW + 600000, NOW + 1200000])
  })

  test('start_date in the future fires then', () => {
    assert.deepEqual(fires('interval', { hours: 1, start_date: '2027-03-01T10:00:00+00:00' }, 2),
      ['2027-03-01T10:00:00+00:00', '2027-03-01T11:00:00+00:00'])
  })

  test('start_date in the past: first start + k·interval >= now', () => {
    const now = Date.parse('2027-01-01T10:07:00Z')
    assert.deepEqual(fires('interval', { minutes: 5, start_date: '2027-01-01T10:00:00+00:00' }, 2, now),
      ['2027-01-01T10:10:00+00:00', '2027-01-01T10:15:00+00:00'])
    // Exactly on a multiple counts (inclusive).
    const onTheDot = Date.parse('2027-01-01T10:10:00Z')
    assert.deepEqual(fires('interval', { minutes: 5, start_date: '2027-01-01T10:00:00+00:00' }, 1, onTheDot), ['2027-01-01T10:10:00+00:00'])
  })

  test('fractions and end_date (inclusive)', () => {
    assert.deepEqual(fires('interval', { seconds: 1.5, start_date: '2027-01-01T00:00:00Z', end_date: '2027-01-01T00:00:03Z' }, 10),
      ['2027-01-01T00:00:00+00:00', '2027-01-01T00:00:01.500000+00:00', '2027-01-01T00:00:03+00:00'])
    assert.deepEqual(fires('interval', { hours: 0.5, start_date: '2027-01-01T00:00:00Z' }, 2), ['2027-01-01T00:00:00+00:00', '2027-01-01T00:30:00+00:00'])
  })

  test('date trigger: run_date, even in the past; absent = now', () => {
    assert.deepEqual(fires('date', { run_date: '2026-06-01T00:00:00+00:00' }, 3), ['2026-06-01T00:00:00+00:00'])
    assert.deepEqual(nextFireTimes(compileTrigger(parseTriggerSpec('date', {}, { timezone: 'UTC', now: NOW })), NOW + 5000, 3), [NOW])
    assert.equal(compileTrigger(parseTriggerSpec('date', {}, { timezone: 'UTC', now: NOW })).next(NOW), null)
  })
})

describe('jitter', () => {
  test('stays within [0, jitter]', () => {
    assert.equal(applyJitter(NOW, null, null), NOW)
    assert.equal(applyJitter(NOW, null, 0), NOW)
    assert.equal(applyJitter(NOW, null, 10, () => 0), NOW)
    assert.equal(applyJitter(NOW, null, 10, () => 0.999999), NOW + 10000)
    for (let i = 0; i < 200; i++) {
      const t = applyJitter(NOW, NOW + 60000, 30)
      assert.ok(t >= NOW && t <= NOW + 30000)
    }
  })

  test('never reaches the next fire', () => {
    const t = applyJitter(NOW, NOW + 60000, 3600, () => 0.999999)
    assert.ok(t < NOW + 60000, String(t - NOW))
    assert.ok(t >= NOW)
    assert.equal(applyJitter(NOW, NOW + 1, 3600, () => 0.999999), NOW)
  })
})

describe('triggerToJSON', () => {
  const json = (type: TriggerType, fields: Record<string, unknown>, tz = 'UTC'): Record<string, unknown> =>
    triggerToJSON(parseTriggerSpec(type, fields, { timezone: tz, now: NOW }))

  test('date', () => {
    assert.deepEqual(json('date', { run_date: '2027-11-24T00:00:00+00:00' }), { trigger: 'date', run_date: '2027-11-24T00:00:00+00:00' })
    assert.deepEqual(json('date', { run_date: '2027-07-01 12:00' }, 'Europe/Berlin'), { trigger: 'date', run_date: '2027-07-01T12:00:00+02:00' })
  })

  test('interval, renormalised', () => {
    assert.deepEqual(json('interval', { days: 8, start_date: '2027-01-01' }), { trigger: 'interval', start_date: '2027-01-01T00:00:00+00:00', weeks: 1, days: 1 })
    assert.deepEqual(json('interval', { seconds: 90 }), { trigger: 'interval', start_date: '2027-01-01T00:01:30+00:00', minutes: 1, seconds: 30 })
    assert.deepEqual(json('interval', { minutes: 1.5, seconds: 0.25, start_date: '2027-01-01', end_date: '2027-02-01' }),
      { trigger: 'interval', start_date: '2027-01-01T00:00:00+00:00', end_date: '2027-02-01T00:00:00+00:00', minutes: 1, seconds: 30.25 })
  })

  test('cron: only given fields, as strings', () => {
    assert.deepEqual(json('cron', { hour: 5, minute: '*/10' }), { trigger: 'cron', hour: '5', minute: '*/10' })
    assert.deepEqual(json('cron', { day_of_week: 'mon-fri', start_date: '2027-01-01', end_date: '2028-01-01' }, 'Europe/Berlin'),
      { trigger: 'cron', day_of_week: 'mon-fri', start_date: '2027-01-01T00:00:00+01:00', end_date: '2028-01-01T00:00:00+01:00' })
    assert.deepEqual(json('cron', { crontab: '*/5 * * * *' }), { trigger: 'cron', crontab: '*/5 * * * *' })
  })
})

describe('croner', () => {
  test('croner objects are shared by pattern and options (they run at offset 0, so zones share them too)', () => {
    assert.equal(cronFor('0 0 * * * * *', { domAndDow: true }), cronFor('0 0 * * * * *', { domAndDow: true }))
    assert.notEqual(cronFor('0 0 * * * * *', { domAndDow: true }), cronFor('0 0 * * * * *', { domAndDow: false }))
  })
})

describe('validation', () => {
  test('TRIGGER_FIELDS', () => {
    assert.deepEqual([...TRIGGER_FIELDS.date], ['run_date', 'timezone'])
    assert.ok(TRIGGER_FIELDS.cron.includes('crontab') && TRIGGER_FIELDS.cron.includes('day_of_week'))
    assert.ok(TRIGGER_FIELDS.interval.includes('jitter') && !TRIGGER_FIELDS.interval.includes('hour'))
  })

  test('cron field errors name the field', () => {
    rejects('cron', { hour: 24 }, 'hour', /'24' is out of range 0-23/)
    rejects('cron', { hour: '25' }, 'hour', /'25' is out of range 0-23/)
    rejects('cron', { day: 'foo' }, 'day', /'foo'/)
    rejects('cron', { minute: '*/0' }, 'minute')
    rejects('cron', { minute: '*/60' }, 'minute')
    rejects('cron', { minute: '40-10' }, 'minute')
    rejects('cron', { month: 'foo' }, 'month')
    rejects('cron', { month: 13 }, 'month')
    rejects('cron', { day_of_week: 7 }, 'day_of_week')
    rejects('cron', { day_of_week: 'funday' }, 'day_of_week')
    rejects('cron', { day: '6th fri' }, 'day')
    rejects('cron', { day: '0' }, 'day')
    rejects('cron', { week: 54 }, 'week')
    rejects('cron', { year: 1969 }, 'year')
    rejects('cron', { second: '' }, 'second')
    rejects('cron', { second: 1.5 }, 'second')
    rejects('cron', { hour: true }, 'hour')
  })

  test('unknown fields and mixing', () => {
    rejects('cron', { foo: 1 }, 'foo')
    rejects('cron', { seconds: 5 }, 'seconds')
    rejects('interval', { hour: 5 }, 'hour')
    rejects('date', { start_date: '2027-01-01' }, 'start_date')
    rejects('cron', { crontab: '* * * * *', hour: 5 }, 'crontab')
  })

  test('impossible cron expressions', () => {
    rejects('cron', { month: 2, day: 31 }, 'trigger', /never fires/)
    rejects('cron', { month: 6, week: 1 }, 'trigger', /never fires/)
    rejects('cron', { year: 2020 }, 'trigger', /never fires/)
    rejects('cron', { hour: 5, start_date: '2027-01-01T06:00:00Z', end_date: '2027-01-02T04:00:00Z' }, 'trigger', /never fires/)
  })

  test('crontab errors', () => {
    rejects('cron', { crontab: '* * * *' }, 'crontab')
    rejects('cron', { crontab: '60 * * * *' }, 'crontab', /minute/)
    rejects('cron', { crontab: '* * * * 8' }, 'crontab', /day of week/)
    rejects('cron', { crontab: '* * 0 * *' }, 'crontab')
    rejects('cron', { crontab: 'every minute please' }, 'crontab')
    rejects('cron', { crontab: 5 }, 'crontab')
  })

  test('interval errors', () => {
    rejects('interval', {}, 'seconds', /longer than zero/)
    rejects('interval', { minutes: 0 }, 'minutes')
    rejects('interval', { hours: -1 }, 'hours')
    rejects('interval', { hours: '1' }, 'hours')
    rejects('interval', { seconds: Infinity }, 'seconds')
    rejects('interval', { seconds: 5, jitter: -1 }, 'jitter')
    rejects('interval', { seconds: 5, jitter: 'x' }, 'jitter')
    rejects('interval', { seconds: 5, start_date: '2027-02-01', end_date: '2027-01-01' }, 'end_date')
    rejects('interval', { seconds: 5, start_date: 'soon' }, 'start_date')
  })

  test('timezone is double-checked', () => {
    assert.throws(() => parseTriggerSpec('cron', { hour: 1 }, { timezone: 'Mars/Olympus', now: NOW }), (e: unknown) => e instanceof ValidationError && e.field === 'timezone')
    rejects('cron', { hour: 1, timezone: 'Nowhere/Land' }, 'timezone')
  })

  test('jitter null and numbers accepted; cron fields stored as strings', () => {
    const spec = parseTriggerSpec('cron', { hour: 5, jitter: null }, { timezone: 'UTC', now: NOW })
    assert.ok(spec.type === 'cron')
    assert.deepEqual(spec.fields, { hour: '5' })
    assert.equal(spec.jitter, null)
    assert.equal(spec.timezone, 'UTC')
    const iv = parseTriggerSpec('interval', { seconds: 5, jitter: 2.5 }, { timezone: 'UTC', now: NOW })
    assert.ok(iv.type === 'interval' && iv.jitter === 2.5)
  })
})
