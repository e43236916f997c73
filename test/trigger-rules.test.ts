/**
 * Trigger rules that were once wrong: crontab day fields, never-firing definitions, prototype
 * names, messages, millisecond rules, years past 2999.
 */
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import Fastify from 'fastify'
import scheduler, { ManualClock } from '../src/index.js'
import { compileTrigger, nextFireTimes, parseTriggerSpec } from '../src/triggers/index.js'
import { formatDate, parseDateInput } from '../src/time.js'
import { ValidationError } from '../src/errors.js'
import type { TriggerType } from '../src/types.js'

const NOW = Date.parse('2030-01-01T00:00:00Z') // a Tuesday

function fires (type: TriggerType, fields: Record<string, unknown>, n: number, now = NOW, tz = 'UTC'): string[] {
  const spec = parseTriggerSpec(type, fields, { timezone: tz, now })
  return nextFireTimes(compileTrigger(spec), now, n).map((t) => formatDate(t, tz))
}
const days = (xs: string[]): string[] => xs.map((x) => x.slice(0, 10))

function refused (type: TriggerType, fields: Record<string, unknown>, field: string, message: RegExp): void {
  assert.throws(() => parseTriggerSpec(type, fields, { timezone: 'UTC', now: NOW }), (e: unknown) => {
    assert.ok(e instanceof ValidationError, `a ValidationError for ${JSON.stringify(fields)}: ${String(e)}`)
    assert.equal(e.field, field)
    assert.match(e.message, message)
    return true
  })
}

describe('crontab day fields are judged from the text given', () => {
  test("'0 0 1 * 0-6': 0-6 is restricted (every day), so every day fires", () => {
    assert.deepEqual(days(fires('cron', { crontab: '0 0 1 * 0-6' }, 5)), ['2030-01-01', '2030-01-02', '2030-01-03', '2030-01-04', '2030-01-05'])
  })

  test("'0 0 1 * 0-5': Sunday to Friday, plus the 1st (adding Saturday never removes fires)", () => {
    // 2030-06-01 is a Saturday: it fires as the 1st; the other Saturdays of June do not.
    const june = days(fires('cron', { crontab: '0 0 1 * 0-5' }, 30, Date.parse('2030-06-01T00:00:00Z')))
    assert.equal(june[0], '2030-06-01')
    assert.ok(!june.includes('2030-06-08') && !june.includes('2030-06-15'))
    assert.ok(june.includes('2030-06-02') && june.includes('2030-06-07'))
  })

  test("'0 0 1-31 * 1': both restricted, so every day (1-31 matches all); '0 0 * * 1' is Mondays", () => {
    assert.deepEqual(days(fires('cron', { crontab: '0 0 1-31 * 1' }, 3)), ['2030-01-01', '2030-01-02', '2030-01-03'])
    assert.deepEqual(days(fires('cron', { crontab: '0 0 * * 1' }, 3)), ['2030-01-07', '2030-01-14', '2030-01-21'])
  })

  test("a field starting with '*' is unrestricted even when stepped: '0 0 */2 * 1' is odd-dated Mondays", () => {
    assert.deepEqual(days(fires('cron', { crontab: '0 0 */2 * 1' }, 3)), ['2030-01-07', '2030-01-21', '2030-02-11'])
  })

  test("'0 0 13 * 5': Friday or the 13th", () => {
    assert.deepEqual(days(fires('cron', { crontab: '0 0 13 * 5' }, 4)), ['2030-01-04', '2030-01-11', '2030-01-13', '2030-01-18'])
  })
})

describe('definitions that never fire are refused (quickly: see bench/trigger-worst-case.ts)', () => {
  for (const fields of [
    { day: 'last fri', week: 1 },
    { day: '5th fri', week: 1 },
    { day: '1st mon', week: 53 },
    { day: '5-7,31', week: '26', day_of_week: '0' },
    { month: 2, day: 30 },
    { year: '9999', month: 2, day: 29 },
    { crontab: '0 0 30 2 *' }
  ]) {
    test(JSON.stringify(fields), () => refused('cron', fields, 'trigger', /never fires/))
  }

  test('never before end_date', () => {
    refused('cron', { month: 2, day: 29, day_of_week: 'mon', end_date: '2040-01-01' }, 'trigger', /never fires between now and end_date/)
  })

  test('sparse definitions still fire: Feb 29 on a Monday, all up to 2999', () => {
    const all = fires('cron', { month: 2, day: 29, day_of_week: 'mon' }, 100)
    assert.equal(all.length, 36) // all of them up to 2999
    assert.equal(all.at(-1), '2996-02-29T00:00:00+00:00')
    // 2100 is no leap year, so the 28-year rhythm breaks there.
    assert.deepEqual(all.slice(0, 3), ['2044-02-29T00:00:00+00:00', '2072-02-29T00:00:00+00:00', '2112-02-29T00:00:00+00:00'])
    assert.ok(all.every((x) => x.slice(4, 10) === '-02-29' && new Date(x).getUTCDay() === 1))
  })

  test('fire times are computed up to the end of 2999 (croner\'s range)', () => {
    assert.deepEqual(fires('cron', { year: '2999', month: 12, day: 31, hour: 23, minute: 59, second: 59 }, 2), ['2999-12-31T23:59:59+00:00'])
    refused('cron', { year: '3500', month: 7 }, 'trigger', /never fires/)
  })
})

describe('prototype names are plain bad input', () => {
  test("crontab 'constructor', '__proto__', 'toString'", () => {
    for (const crontab of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) refused('cron', { crontab }, 'crontab', /must have 5 fields/)
  })

  test("day 'constructor mon' and friends", () => {
    refused('cron', { day: 'constructor mon' }, 'day', /'constructor' must be one of 1st, 2nd, 3rd, 4th, 5th, last/)
    refused('cron', { day: '__proto__ mon' }, 'day', /not a valid expression/)
    refused('cron', { day_of_week: 'constructor' }, 'day_of_week', /not a number or a name/)
    refused('cron', { month: 'valueOf' }, 'month', /not a number or a name/)
  })

  test('over HTTP they are 400s naming the field, never 500', async () => {
    const app = Fastify()
    await app.register(scheduler, { apiEnabled: true, autoStart: false, clock: new ManualClock(NOW), tasks: { t: () => {} } })
    try {
      for (const [body, field] of [
        [{ crontab: 'constructor' }, 'crontab'],
        [{ crontab: '__proto__' }, 'crontab'],
        [{ day: 'constructor mon' }, 'day']
      ] as const) {
        const res = await app.inject({ method: 'POST', url: '/scheduler/jobs', payload: { func: 't', trigger: 'cron', ...body } })
        assert.equal(res.statusCode, 400, res.body)
        assert.match(res.json().message, new RegExp(`^${field}: `))
      }
    } finally {
      await app.close()
    }
  })
})

describe('messages say what happened', () => {
  test('an interval that rounds to 0 ms says so', () => {
    refused('interval', { hours: 1e-7 }, 'hours', /0\.36 ms, which rounds to 0: intervals are kept to the millisecond/)
    refused('interval', { seconds: 0 }, 'seconds', /must be longer than zero/)
    refused('interval', {}, 'seconds', /longer than zero: give weeks/)
  })

  test("crontab 'mon-sun' explains that Sunday is 0", () => {
    refused('cron', { crontab: '0 0 * * mon-sun' }, 'crontab', /Sunday is 0.*'mon-sat,sun'.*'\*'/)
    assert.equal(fires('cron', { crontab: '0 0 * * mon-sat,sun' }, 7).length, 7)
  })
})

describe('milliseconds', () => {
  test('an interval of 0.3333 s runs every 333 ms', () => {
    const spec = parseTriggerSpec('interval', { seconds: 0.3333, start_date: '2030-01-01T00:00:00Z' }, { timezone: 'UTC', now: NOW })
    const times = nextFireTimes(compileTrigger(spec), NOW, 4)
    assert.deepEqual(times.map((t) => t - NOW), [0, 333, 666, 999])
  })

  test('a start_date with sub-millisecond digits is rounded up: nothing fires before it', () => {
    const start = '2030-01-01T00:00:00.000500+00:00'
    assert.equal(parseDateInput(start, 'UTC', 'start_date', 'up'), NOW + 1)
    assert.equal(parseDateInput(start, 'UTC', 'run_date'), NOW)
    const cron = fires('cron', { second: '*', start_date: start }, 1, NOW - 5000)
    assert.deepEqual(cron, ['2030-01-01T00:00:01+00:00'])
    const interval = parseTriggerSpec('interval', { seconds: 1, start_date: start }, { timezone: 'UTC', now: NOW - 5000 })
    assert.equal(compileTrigger(interval).first(NOW - 5000), NOW + 1)
    // 23:59:59.9995 rounds up across midnight correctly.
    assert.equal(parseDateInput('2030-01-01T23:59:59.999500', 'Europe/Berlin', 'start_date', 'up'), Date.parse('2030-01-01T23:00:00Z'))
  })
})
