import { test } from 'node:test'
import assert from 'node:assert/strict'
import { makeApp } from './helpers.js'
import { ERROR_LIMITS, describeThrown } from '../src/core/task-error.js'
import type { TaskContext } from '../src/index.js'

const HUGE = 'x'.repeat(5 * 1024 * 1024)
const trap = (): never => { throw new Error('trap') }

/** Everything a task may throw or reject with, and what the run's error should say. */
const THROWN: Array<[string, () => unknown, { name: string, message: RegExp }]> = [
  ['Object.create(null)', () => Object.create(null), { name: 'Error', message: /^the task threw a non-Error value: \[Object: null prototype\] \{\}$/ }],
  ['a string', () => 'boom', { name: 'Error', message: /^boom$/ }],
  ['undefined', () => undefined, { name: 'Error', message: /^the task threw undefined$/ }],
  ['null', () => null, { name: 'Error', message: /^the task threw null$/ }],
  ['a number', () => 42, { name: 'Error', message: /^the task threw 42$/ }],
  ['a bigint', () => 10n, { name: 'Error', message: /^the task threw 10n$/ }],
  ['a symbol', () => Symbol('s'), { name: 'Error', message: /^the task threw Symbol\(s\)$/ }],
  ['a function', () => function named () {}, { name: 'Error', message: /^the task threw \[Function: named\]$/ }],
  ['an error-like object', () => ({ name: 'HttpError', message: 'upstream 502' }), { name: 'HttpError', message: /^upstream 502$/ }],
  ['a Proxy whose every access throws', () => new Proxy({}, { get: trap, getPrototypeOf: trap, ownKeys: trap, has: trap, getOwnPropertyDescriptor: trap }), { name: 'Error', message: /^the task threw a non-Error value: / }],
  ['an Error whose message getter throws', () => Object.defineProperty(new RangeError('x'), 'message', { get: trap }), { name: 'RangeError', message: /^$/ }],
  ['an object whose toString throws', () => ({ toString: trap, [Symbol.toPrimitive]: trap }), { name: 'Error', message: /^the task threw a non-Error value: / }],
  ['an Error with a 5 MB message', () => new Error(HUGE), { name: 'Error', message: /^x{8192}… \[truncated: 5242880 characters in all\]$/ }],
  ['an Error with a 5 MB stack and name', () => Object.assign(new Error('big'), { stack: HUGE, name: HUGE }), { name: 'x'.repeat(200) + '… [truncated: 5242880 characters in all]', message: /^big$/ }]
]

const limit = (field: 'name' | 'message' | 'stack'): number => ERROR_LIMITS[field] + 64

for (const how of ['thrown', 'rejected'] as const) {
  test(`whatever a task has ${how} is an error run, answered and stored capped (manual runs)`, async () => {
    const tasks: Record<string, (ctx: TaskContext) => unknown> = {}
    for (const [label, make] of THROWN) {
      tasks[label] = how === 'thrown'
        ? () => { throw make() } // eslint-disable-line @typescript-eslint/only-throw-error
        : async () => await Promise.reject(make()) // eslint-disable-line prefer-promise-reject-errors
    }
    const { app } = await makeApp({ apiEnabled: true, tasks })
    const errors: Array<{ job_id: string }> = []
    app.scheduler.on('job_error', (e: { job_id: string }) => errors.push(e))
    try {
      for (const [i, [label, , expected]] of THROWN.entries()) {
        const id = `job-${i}`
        await app.scheduler.addJob({ id, func: label, trigger: 'interval', hours: 1 })
        const res = await app.inject({ method: 'POST', url: `/scheduler/jobs/${id}/run` })
        assert.equal(res.statusCode, 500, `${label}: ${res.body.slice(0, 200)}`)
        assert.ok(res.body.length < 2 * limit('message') + 200, `${label}: answer of ${res.body.length} bytes`)
        assert.match(res.json().message, expected.message, label)

        const runs = await app.inject({ method: 'GET', url: `/scheduler/jobs/${id}/runs` })
        const [run] = runs.json() as Array<{ status: string, error: { name: string, message: string, stack: string | null } }>
        assert.equal(run?.status, 'error', label)
        assert.equal(run.error.name, expected.name, label)
        assert.match(run.error.message, expected.message, label)
        assert.ok(run.error.stack === null || run.error.stack.length <= limit('stack'), `${label}: stack of ${run.error.stack?.length}`)
        assert.ok(runs.body.length < limit('name') + limit('message') + limit('stack') + 1000, `${label}: runs answer of ${runs.body.length} bytes`)
      }
      assert.equal(errors.length, THROWN.length)
      assert.equal(app.scheduler.metrics.runs.error, THROWN.length)
      assert.equal(app.scheduler.metrics.runs.abandoned, 0)
    } finally {
      await app.close()
    }
  })
}

test('whatever a task throws is an error run on scheduled fires too, and the schedule goes on', async () => {
  const tasks: Record<string, () => unknown> = {}
  for (const [label, make] of THROWN) tasks[label] = () => { throw make() } // eslint-disable-line @typescript-eslint/only-throw-error
  // Claimed at their time, so that the history holds only the fires that ran.
  const { app, clock } = await makeApp({ tasks, executors: { default: { maxConcurrency: 100 } }, lookAheadMs: 0 })
  try {
    for (const [i, [label]] of THROWN.entries()) await app.scheduler.addJob({ id: `job-${i}`, func: label, trigger: 'interval', seconds: 1 })
    await clock.advance(3000)
    await app.scheduler.whenIdle()
    for (const [i, [label, , expected]] of THROWN.entries()) {
      const runs = await app.scheduler.getJobRuns(`job-${i}`)
      assert.deepEqual(runs.map((r) => r.status), ['error', 'error', 'error'], label)
      for (const run of runs) {
        assert.equal(run.error?.name, expected.name, label)
        assert.match(run.error?.message ?? '', expected.message, label)
      }
    }
    assert.equal(app.scheduler.metrics.runs.error, 3 * THROWN.length)
    assert.equal(app.scheduler.state, 'running')
  } finally {
    await app.close()
  }
})

test('describeThrown never throws and keeps an Error stack', () => {
  const err = new TypeError('bad')
  const described = describeThrown(err)
  assert.equal(described.name, 'TypeError')
  assert.equal(described.message, 'bad')
  assert.match(described.stack ?? '', /TypeError: bad/)
  const revoked = Proxy.revocable({}, {})
  revoked.revoke()
  assert.equal(describeThrown(revoked.proxy).name, 'Error')
})
