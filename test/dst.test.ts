import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { compileTrigger, nextFireTimes, parseTriggerSpec } from '../src/triggers/index.js'
import { formatDate, parseDateInput } from '../src/time.js'
import type { TriggerType } from '../src/types.js'

const BERLIN = 'Europe/Berlin' // 2027-03-28 02:00 -> 03:00; 2027-10-31 03:00 -> 02:00
const NEW_YORK = 'America/New_York' // 2027-03-14 02:00 -> 03:00; 2027-11-07 02:00 -> 01:00

function schedule (type: TriggerType, fields: Record<string, unknown>, tz: string, from: string, n: number): { text: string[], ms: number[] } {
  const now = parseDateInput(from, tz, 'from')
  const ms = nextFireTimes(compileTrigger(parseTriggerSpec(type, fields, { timezone: tz, now })), now, n)
  return { ms, text: ms.map(t => formatDate(t, tz)) }
}

const cron = (fields: Record<string, unknown>, tz: string, from: string, n: number): string[] => schedule('cron', fields, tz, from, n).text

describe('cron across DST in Europe/Berlin', () => {
  test('a fixed 02:30 is skipped on the spring-forward day and fires normally the next day', () => {
    assert.deepEqual(cron({ hour: 2, minute: 30 }, BERLIN, '2027-03-27T00:00:00', 3),
      ['2027-03-27T02:30:00+01:00', '2027-03-29T02:30:00+02:00', '2027-03-30T02:30:00+02:00'])
    assert.deepEqual(cron({ crontab: '30 2 * * *' }, BERLIN, '2027-03-27T00:00:00', 2),
      ['2027-03-27T02:30:00+01:00', '2027-03-29T02:30:00+02:00'])
  })

  test('a repeated 02:30 fires once, at its first occurrence', () => {
    assert.deepEqual(cron({ hour: 2, minute: 30 }, BERLIN, '2027-10-30T00:00:00', 3),
      ['2027-10-30T02:30:00+02:00', '2027-10-31T02:30:00+02:00', '2027-11-01T02:30:00+01:00'])
    assert.deepEqual(cron({ crontab: '30 2 * * *' }, BERLIN, '2027-10-31T00:00:00', 2),
      ['2027-10-31T02:30:00+02:00', '2027-11-01T02:30:00+01:00'])
  })

  test('*/30 across spring forward', () => {
    assert.deepEqual(cron({ minute: '*/30' }, BERLIN, '2027-03-28T01:00:00', 4),
      ['2027-03-28T01:00:00+01:00', '2027-03-28T01:30:00+01:00', '2027-03-28T03:00:00+02:00', '2027-03-28T03:30:00+02:00'])
  })

  test('*/30 across fall back: the repeated hour is not fired again', () => {
    assert.deepEqual(cron({ minute: '*/30' }, BERLIN, '2027-10-31T01:30:00', 5),
      ['2027-10-31T01:30:00+02:00', '2027-10-31T02:00:00+02:00', '2027-10-31T02:30:00+02:00', '2027-10-31T03:00:00+01:00', '2027-10-31T03:30:00+01:00'])
  })
})

describe('cron across DST in America/New_York', () => {
  test('a fixed 02:30 is skipped on 2027-03-14', () => {
    assert.deepEqual(cron({ hour: 2, minute: 30 }, NEW_YORK, '2027-03-13T12:00:00', 2),
      ['2027-03-15T02:30:00-04:00', '2027-03-16T02:30:00-04:00'])
  })

  test('a repeated 01:30 fires once', () => {
    assert.deepEqual(cron({ hour: 1, minute: 30 }, NEW_YORK, '2027-11-06T12:00:00', 3),
      ['2027-11-07T01:30:00-04:00', '2027-11-08T01:30:00-05:00', '2027-11-09T01:30:00-05:00'])
    // A job created inside the repeated hour (01:15 EST): 01:30 EDT came before its start, so
    // 01:30 EST is its first occurrence at or after the start, and fires.
    const now = Date.parse('2027-11-07T06:15:00Z')
    const t = compileTrigger(parseTriggerSpec('cron', { hour: 1, minute: 30 }, { timezone: NEW_YORK, now }))
    assert.equal(formatDate(t.first(now)!, NEW_YORK), '2027-11-07T01:30:00-05:00')
    assert.equal(formatDate(t.next(t.first(now)!)!, NEW_YORK), '2027-11-08T01:30:00-05:00')
  })

  test('*/30 across spring forward', () => {
    assert.deepEqual(cron({ minute: '*/30' }, NEW_YORK, '2027-03-14T01:00:00', 4),
      ['2027-03-14T01:00:00-05:00', '2027-03-14T01:30:00-05:00', '2027-03-14T03:00:00-04:00', '2027-03-14T03:30:00-04:00'])
  })

  test('*/30 across fall back: 01:00 EDT, 01:30 EDT, then 02:00 EST', () => {
    assert.deepEqual(cron({ minute: '*/30' }, NEW_YORK, '2027-11-07T00:30:00', 5),
      ['2027-11-07T00:30:00-04:00', '2027-11-07T01:00:00-04:00', '2027-11-07T01:30:00-04:00', '2027-11-07T02:00:00-05:00', '2027-11-07T02:30:00-05:00'])
  })

  test('every second through the repeated hour: each wall time once', () => {
    // Started before the repeat: the second pass adds nothing.
    const all = cron({ second: '*', hour: '1-2' }, NEW_YORK, '2027-11-07T01:00:00', 3602)
    assert.deepEqual(all.slice(3598), ['2027-11-07T01:59:58-04:00', '2027-11-07T01:59:59-04:00', '2027-11-07T02:00:00-05:00', '2027-11-07T02:00:01-05:00'])
    // Started at 01:59:58 EDT: 01:00:00-01:59:57 first came before the start, so they fire in the
    // second pass; 01:59:58 and 01:59:59 already fired and do not.
    const late = cron({ second: '*', hour: '1-2' }, NEW_YORK, '2027-11-07T01:59:58', 3602)
    assert.deepEqual(late.slice(0, 3), ['2027-11-07T01:59:58-04:00', '2027-11-07T01:59:59-04:00', '2027-11-07T01:00:00-05:00'])
    assert.deepEqual(late.slice(3599), ['2027-11-07T01:59:57-05:00', '2027-11-07T02:00:00-05:00', '2027-11-07T02:00:01-05:00'])
  })

  test('a job starting inside the repeated hour fires the wall times still due (Berlin, start_date)', () => {
    assert.deepEqual(cron({ minute: '*/10', start_date: '2030-10-27T02:15:00+01:00' }, BERLIN, '2030-10-27T00:00:00', 5),
      ['2030-10-27T02:20:00+01:00', '2030-10-27T02:30:00+01:00', '2030-10-27T02:40:00+01:00', '2030-10-27T02:50:00+01:00', '2030-10-27T03:00:00+01:00'])
  })

  test('crontab hourly keeps real hours apart', () => {
    assert.deepEqual(cron({ crontab: '0 * * * *' }, NEW_YORK, '2027-11-07T00:00:00', 4),
      ['2027-11-07T00:00:00-04:00', '2027-11-07T01:00:00-04:00', '2027-11-07T02:00:00-05:00', '2027-11-07T03:00:00-05:00'])
  })
})

describe('interval across DST counts real elapsed time', () => {
  const hourly = (tz: string, start: string): { text: string[], ms: number[] } =>
    schedule('interval', { hours: 1, start_date: start }, tz, start, 4)

  for (const [tz, start, expected] of [
    [BERLIN, '2027-03-28T00:00:00', ['2027-03-28T00:00:00+01:00', '2027-03-28T01:00:00+01:00', '2027-03-28T03:00:00+02:00', '2027-03-28T04:00:00+02:00']],
    [BERLIN, '2027-10-31T01:00:00', ['2027-10-31T01:00:00+02:00', '2027-10-31T02:00:00+02:00', '2027-10-31T02:00:00+01:00', '2027-10-31T03:00:00+01:00']],
    [NEW_YORK, '2027-03-14T00:00:00', ['2027-03-14T00:00:00-05:00', '2027-03-14T01:00:00-05:00', '2027-03-14T03:00:00-04:00', '2027-03-14T04:00:00-04:00']],
    [NEW_YORK, '2027-11-07T00:00:00', ['2027-11-07T00:00:00-04:00', '2027-11-07T01:00:00-04:00', '2027-11-07T01:00:00-05:00', '2027-11-07T02:00:00-05:00']]
  ] as const) {
    test(`every hour in ${tz} from ${start}`, () => {
      const { text, ms } = hourly(tz, start)
      assert.deepEqual(text, expected)
      for (let i = 1; i < ms.length; i++) assert.equal(ms[i]! - ms[i - 1]!, 3600000)
    })
  }

  test('a daily interval shifts on the wall clock', () => {
    assert.deepEqual(schedule('interval', { days: 1, start_date: '2027-03-27T12:00:00' }, BERLIN, '2027-03-27T12:00:00', 2).text,
      ['2027-03-27T12:00:00+01:00', '2027-03-28T13:00:00+02:00'])
  })
})
