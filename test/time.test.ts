import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { canonicalTimezone, formatDate, isValidTimezone, parseDateInput } from '../src/time.js'
import { ValidationError } from '../src/errors.js'

const roundTrip = (s: string, tz = 'UTC'): string => formatDate(parseDateInput(s, tz, 'x'), tz)

describe('isValidTimezone', () => {
  test('IANA names and UTC', () => {
    for (const tz of ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata']) assert.equal(isValidTimezone(tz), true, tz)
    for (const tz of ['', 'Mars/Olympus', 'not a zone', '+02:00']) assert.equal(isValidTimezone(tz), false, tz)
  })

  test('canonicalTimezone fixes the case of a name and leaves aliases and unknown names alone', () => {
    assert.equal(canonicalTimezone('europe/berlin'), 'Europe/Berlin')
    assert.equal(canonicalTimezone('AMERICA/NEW_YORK'), 'America/New_York')
    assert.equal(canonicalTimezone('utc'), 'UTC')
    for (const tz of ['UTC', 'Etc/UTC', 'Asia/Kolkata', 'Asia/Calcutta', 'US/Eastern', 'Mars/Olympus']) assert.equal(canonicalTimezone(tz), tz)
  })
})

describe('parseDateInput / formatDate', () => {
  test('round-trips byte for byte', () => {
    for (const s of [
      '2027-11-24T00:00:00+00:00',
      '2030-05-06T07:08:09+00:00',
      '2027-07-01T12:00:00+02:00',
      '2027-01-15T23:59:59-05:00',
      '2027-11-24T10:00:00.250000+00:00'
    ]) {
      const tz = s.endsWith('+02:00') ? 'Europe/Berlin' : s.endsWith('-05:00') ? 'America/New_York' : 'UTC'
      assert.equal(roundTrip(s, tz), s)
    }
  })

  test('offsets and Z give that exact instant, whatever the zone', () => {
    assert.equal(parseDateInput('2027-11-24T00:00:00Z', 'Europe/Berlin', 'x'), Date.UTC(2027, 10, 24))
    assert.equal(parseDateInput('2027-11-24T01:00:00+01:00', 'America/New_York', 'x'), Date.UTC(2027, 10, 24))
    assert.equal(parseDateInput('2027-11-24T01:00:00+0100', 'UTC', 'x'), Date.UTC(2027, 10, 24))
    assert.equal(formatDate(Date.UTC(2027, 10, 24), 'Europe/Berlin'), '2027-11-24T01:00:00+01:00')
    assert.equal(formatDate(Date.UTC(2027, 6, 1, 10), 'Europe/Berlin'), '2027-07-01T12:00:00+02:00')
    assert.equal(formatDate(Date.UTC(2027, 0, 1), 'Asia/Kolkata'), '2027-01-01T05:30:00+05:30')
  })

  test('fractions keep millisecond precision and print with 6 digits', () => {
    const ms = parseDateInput('2027-11-24T10:00:00.25Z', 'UTC', 'x')
    assert.equal(ms, Date.UTC(2027, 10, 24, 10, 0, 0, 250))
    assert.equal(formatDate(ms, 'UTC'), '2027-11-24T10:00:00.250000+00:00')
    assert.equal(parseDateInput('2027-11-24T10:00:00.123456+00:00', 'UTC', 'x') % 1000, 123)
    assert.equal(formatDate(Date.UTC(2027, 10, 24, 10), 'UTC'), '2027-11-24T10:00:00+00:00')
  })

  test('naive strings are wall time in the zone; space separator accepted', () => {
    assert.equal(parseDateInput('2027-07-01T12:00:00', 'Europe/Berlin', 'x'), Date.UTC(2027, 6, 1, 10))
    assert.equal(parseDateInput('2027-07-01 12:00:00', 'Europe/Berlin', 'x'), Date.UTC(2027, 6, 1, 10))
    assert.equal(parseDateInput('2027-01-01 12:00', 'America/New_York', 'x'), Date.UTC(2027, 0, 1, 17))
    assert.equal(roundTrip('2027-07-01 12:00:00', 'Europe/Berlin'), '2027-07-01T12:00:00+02:00')
  })

  test('date only = midnight in the zone', () => {
    assert.equal(parseDateInput('2027-11-24', 'UTC', 'x'), Date.UTC(2027, 10, 24))
    assert.equal(parseDateInput('2027-11-24', 'America/New_York', 'x'), Date.UTC(2027, 10, 24, 5))
    assert.equal(roundTrip('2027-11-24', 'Europe/Berlin'), '2027-11-24T00:00:00+01:00')
  })

  test('Date objects and epoch ms', () => {
    assert.equal(parseDateInput(new Date(Date.UTC(2027, 0, 1)), 'UTC', 'x'), Date.UTC(2027, 0, 1))
    assert.equal(parseDateInput(Date.UTC(2027, 0, 1), 'UTC', 'x'), Date.UTC(2027, 0, 1))
    assert.throws(() => parseDateInput(new Date('nope'), 'UTC', 'x'), ValidationError)
    assert.throws(() => parseDateInput(Number.NaN, 'UTC', 'x'), ValidationError)
    assert.throws(() => parseDateInput(Infinity, 'UTC', 'x'), ValidationError)
  })

  test('a wall time in a DST gap is an error, never shifted', () => {
    assert.throws(() => parseDateInput('2027-03-28T02:30:00', 'Europe/Berlin', 'start_date'), (e: unknown) => {
      assert.ok(e instanceof ValidationError)
      assert.equal(e.field, 'start_date')
      assert.match(e.message, /2027-03-28T02:30:00 does not exist in Europe\/Berlin \(daylight saving time gap\)/)
      return true
    })
    assert.throws(() => parseDateInput('2027-03-14 02:15', 'America/New_York', 'run_date'), /does not exist in America\/New_York/)
    // With an explicit offset the instant is unambiguous, so it is fine.
    assert.equal(parseDateInput('2027-03-28T02:30:00+01:00', 'Europe/Berlin', 'x'), Date.UTC(2027, 2, 28, 1, 30))
  })

  test('an ambiguous wall time (fall back) takes the earlier occurrence', () => {
    const berlin = parseDateInput('2027-10-31T02:30:00', 'Europe/Berlin', 'x')
    assert.equal(berlin, Date.UTC(2027, 9, 31, 0, 30))
    assert.equal(formatDate(berlin, 'Europe/Berlin'), '2027-10-31T02:30:00+02:00')
    assert.equal(formatDate(berlin + 3600000, 'Europe/Berlin'), '2027-10-31T02:30:00+01:00')
    const ny = parseDateInput('2027-11-07T01:30:00', 'America/New_York', 'x')
    assert.equal(formatDate(ny, 'America/New_York'), '2027-11-07T01:30:00-04:00')
  })

  test('garbage and impossible dates are refused, naming the field', () => {
    for (const bad of ['2027-02-30', '2027-02-29T00:00:00', '2027-13-01', '2027-01-01T25:00:00', '2027-01-01T10:60:00', 'tomorrow', '', '2027/01/01', '27-01-01', '2027-01-01T10:00:00+25:00']) {
      assert.throws(() => parseDateInput(bad, 'UTC', 'run_date'), (e: unknown) => {
        assert.ok(e instanceof ValidationError, bad)
        assert.equal(e.field, 'run_date')
        return true
      }, bad)
    }
    assert.throws(() => parseDateInput('garbage', 'UTC', 'end_date'), /ISO 8601.*2030-05-06T07:08:09\+00:00/)
    assert.throws(() => parseDateInput({}, 'UTC', 'x'), ValidationError)
    assert.throws(() => parseDateInput(null, 'UTC', 'x'), ValidationError)
    // Leap day in a leap year is fine.
    assert.equal(roundTrip('2028-02-29T00:00:00+00:00'), '2028-02-29T00:00:00+00:00')
  })

  test('a date must stay within the years 0001-9999 in the zone it is written back in', () => {
    assert.equal(roundTrip('9999-12-31T14:59:59+00:00', 'Asia/Tokyo'), '9999-12-31T23:59:59+09:00')
    assert.throws(() => parseDateInput('9999-12-31T15:00:00+00:00', 'Asia/Tokyo', 'run_date'), /^ValidationError: run_date: is outside the years 0001-9999 \(in Asia\/Tokyo\)$/)
    assert.throws(() => parseDateInput('0001-01-01T00:00:00+00:00', 'America/New_York', 'start_date'), /^ValidationError: start_date: is outside the years 0001-9999/)
    assert.throws(() => parseDateInput(Date.UTC(9999, 11, 31, 23), 'Pacific/Kiritimati', 'x'), /outside the years/)
    assert.throws(() => parseDateInput('0000-12-31T23:00:00-01:00', 'UTC', 'x'), /outside the years|not a valid date-time/)
    assert.equal(roundTrip('0001-01-01T00:00:00+00:00'), '0001-01-01T00:00:00+00:00')
    assert.equal(roundTrip('1900-01-01T00:00:00+05:41:16', 'Asia/Kathmandu'), '1900-01-01T00:00:00+05:41:16', 'local mean time offsets keep their seconds')
  })
})
