// The scheduler itself, not only the triggers, driven through DST changes on a manual clock.
import { test, describe } from 'node:test'
import assert from 'node:assert/strict'
import { makeApp } from './helpers.js'

const HOUR = 3600_000
const utc = (iso: string): number => new Date(iso).getTime()

async function firesBetween (job: Record<string, unknown>, from: string, hours: number): Promise<string[]> {
  // Long sleeps: the manual clock has no jumps to notice, and a wakeup every second would make
  // three simulated days slow.
  const { app, clock, calls } = await makeApp({ start: utc(from), maxSleepMs: HOUR })
  await app.scheduler.addJob({ id: 'j', func: 'record', ...job })
  for (let i = 0; i < hours * 4; i++) await clock.advance(HOUR / 4) // like a real loop: many wakeups
  await app.scheduler.whenIdle()
  const runs = await app.scheduler.getJobRuns('j', 1000)
  await app.close()
  assert.equal(runs.length, calls.length, 'every fire is in history')
  assert.ok(calls.every((c) => c.at === c.scheduledAt), 'no fire was late')
  return runs.map((r) => r.scheduled_at).reverse()
}

describe('the scheduler fires across DST as the trigger rules say', () => {
  test('Europe/Berlin cron 02:30 daily: skipped on spring-forward day, once on fall-back day', async () => {
    const job = { trigger: 'cron', hour: '2', minute: '30', timezone: 'Europe/Berlin' }
    assert.deepEqual(await firesBetween(job, '2027-03-26T12:00:00Z', 72), [
      '2027-03-27T02:30:00+01:00', '2027-03-29T02:30:00+02:00'
    ])
    assert.deepEqual(await firesBetween(job, '2027-10-29T12:00:00Z', 72), [
      '2027-10-30T02:30:00+02:00', '2027-10-31T02:30:00+02:00', '2027-11-01T02:30:00+01:00'
    ])
  })

  test('America/New_York cron every 30 minutes across fall back: the repeated hour is not fired twice', async () => {
    const fires = await firesBetween({ trigger: 'cron', minute: '*/30', timezone: 'America/New_York' }, '2027-11-07T04:45:00Z', 3)
    assert.deepEqual(fires, [
      '2027-11-07T01:00:00-04:00', '2027-11-07T01:30:00-04:00', '2027-11-07T02:00:00-05:00', '2027-11-07T02:30:00-05:00'
    ])
  })

  test('interval every hour counts real hours across spring forward in both zones', async () => {
    assert.deepEqual(await firesBetween({ trigger: 'interval', hours: 1, start_date: '2027-03-28T00:00:00', timezone: 'Europe/Berlin' }, '2027-03-27T22:30:00Z', 4), [
      '2027-03-28T00:00:00+01:00', '2027-03-28T01:00:00+01:00', '2027-03-28T03:00:00+02:00', '2027-03-28T04:00:00+02:00'
    ])
    assert.deepEqual(await firesBetween({ trigger: 'interval', hours: 1, start_date: '2027-03-14T00:00:00', timezone: 'America/New_York' }, '2027-03-14T04:30:00Z', 4), [
      '2027-03-14T00:00:00-05:00', '2027-03-14T01:00:00-05:00', '2027-03-14T03:00:00-04:00', '2027-03-14T04:00:00-04:00'
    ])
  })
})
