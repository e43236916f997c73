/** `historyLimit` holds at all times: runs waiting or running are history rows too. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { MemoryStore, SqliteStore, type JobStore } from '../src/index.js'
import { T0, deferred, makeApp } from './helpers.js'

const P = '/scheduler'
const LIMIT = 5

for (const [name, makeStore] of [['memory', () => new MemoryStore()], ['sqlite', () => new SqliteStore({ path: ':memory:' })]] as Array<[string, () => JobStore]>) {
  test(`${name}: 500 manual runs (wait=false) of a job allowing 500 instances never show more than historyLimit rows`, async () => {
    const gate = deferred()
    const { app, clock } = await makeApp({
      apiEnabled: true,
      store: makeStore(),
      historyLimit: LIMIT,
      executors: { default: { maxConcurrency: 50 } },
      tasks: { hold: async () => { await gate.promise } }
    })
    try {
      await app.scheduler.addJob({ id: 'm', func: 'hold', trigger: 'interval', hours: 1, max_instances: 500 })
      const codes = new Map<number, number>()
      let most = 0
      let refusal = ''
      for (let i = 0; i < 500; i++) {
        const res = await app.inject({ method: 'POST', url: `${P}/jobs/m/run?wait=false` })
        codes.set(res.statusCode, (codes.get(res.statusCode) ?? 0) + 1)
        if (res.statusCode === 429 && refusal === '') refusal = `${res.json().message as string} (Retry-After ${String(res.headers['retry-after'])})`
        most = Math.max(most, (await app.scheduler.getJobRuns('m')).length)
      }
      console.log(`# ${name}: answers ${JSON.stringify(Object.fromEntries(codes))}; most rows ${most}; ${refusal}`)
      assert.ok(most <= LIMIT, `at most ${LIMIT} rows while queued and running (saw ${most})`)
      assert.equal(codes.get(202), LIMIT, 'as many accepted as the history keeps')
      assert.match(refusal, /historyLimit/)
      gate.resolve()
      await app.scheduler.whenIdle()
      const runs = await app.scheduler.getJobRuns('m')
      assert.equal(runs.length, LIMIT, 'and once they finished, before any scheduled fire trims')
      assert.ok(runs.every((r) => r.status === 'success'))
      // Room again: a manual run is accepted once the others finished.
      assert.equal((await app.inject({ method: 'POST', url: `${P}/jobs/m/run?wait=false` })).statusCode, 202)
      await app.scheduler.whenIdle()
      assert.equal((await app.scheduler.getJobRuns('m')).length, LIMIT)
      void clock
    } finally {
      gate.resolve()
      await app.close()
    }
  })
}

test('a catch-up of many fires without coalesce keeps at most historyLimit runs; the earliest fires beyond it are recorded missed', async () => {
  const gate = deferred()
  const { app, clock } = await makeApp({ historyLimit: LIMIT, tasks: { hold: async () => { await gate.promise } } })
  const missed: unknown[] = []
  app.scheduler.on('job_missed', (e) => missed.push(e))
  await app.scheduler.addJob({ id: 'c', func: 'hold', trigger: 'interval', seconds: 1, coalesce: false, misfire_grace_time: null })
  clock.jump(20_000) // twenty fires due at one wakeup
  await clock.advance(0)
  const runs = await app.scheduler.getJobRuns('c')
  assert.ok(runs.length <= LIMIT, `at most ${LIMIT} rows (saw ${runs.length})`)
  assert.equal(runs.filter((r) => r.status === 'running').length, LIMIT, 'the latest fires run')
  assert.equal(missed.length, 20 - LIMIT, 'the earlier ones are recorded missed, each with its event')
  gate.resolve()
  await app.scheduler.whenIdle()
  assert.equal((await app.scheduler.getJobRuns('c')).length, LIMIT)
  assert.equal(app.scheduler.metrics.runs.success, LIMIT)
  void T0
  await app.close()
})
