import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Metrics } from '../src/metrics.js'

test('the fire-lag histogram is cumulative, as Prometheus reads it', () => {
  const metrics = new Metrics()
  for (const ms of [-2, 3, 20, 2000, 100_000]) metrics.recordLag(ms)
  const text = metrics.toPrometheus()
  const bucket = (le: string): number => Number(new RegExp(`^apscheduler_fire_lag_seconds_bucket\\{le="${le.replace('+', '\\+')}"\\} (\\d+)$`, 'm').exec(text)?.[1])
  assert.deepEqual(['0.005', '0.01', '0.025', '1', '2.5', '60', '+Inf'].map(bucket), [2, 2, 3, 3, 4, 4, 5])
  assert.match(text, /^apscheduler_fire_lag_seconds_count 5$/m)
  assert.match(text, /^apscheduler_fire_lag_seconds_sum 102\.023$/m)
})
