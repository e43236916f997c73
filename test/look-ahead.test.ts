import { test, describe, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { ManualClock, MemoryStore, SqliteStore, type JobStore } from '../src/index.js'
import { T0, deferred, makeApp } from './helpers.js'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const s = (n: number): number => n * 1000

/** A store per test: the memory store, and SQLite on a file of its own. */
const stores: Array<[string, () => { store: JobStore, done: () => void }]> = [
  ['memory', () => ({ store: new MemoryStore(), done: () => {} })],
  ['SQLite', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fastify-apscheduler-ahead-'))
    return { store: new SqliteStore({ path: join(dir, 'jobs.sqlite') }), done: () => { rmSync(dir, { recursive: true, force: true }) } }
  }]
]

for (const [storeName, makeStore] of stores) {
  describe(`deciding fires ahead (${storeName} store, lookAheadMs)`, () => {
    let store: JobStore
    let done: () => void
    beforeEach(() => { ({ store, done } = makeStore()) })
    afterEach(() => { done() })

    test('a fire is decided ahead but its task starts at its time, never before; whenIdle does not wait for it', async () => {
      const { app, clock, calls } = await makeApp({ store })
      await app.scheduler.addJob({ id: 'tick', func: 'record', trigger: 'interval', seconds: 10 })
      await clock.advance(s(10) - 100)
      await app.scheduler.whenIdle()
      assert.equal(calls.length, 0, 'not started before its time')
      const [decided] = await app.scheduler.getJobRuns('tick')
      assert.equal(decided?.status, 'running', 'decided and written ahead')
      assert.equal((await app.scheduler.getJob('tick'))?.next_run_time, '2030-01-01T00:00:20+00:00')
      await clock.advance(100)
      await app.scheduler.whenIdle()
      assert.deepEqual(calls.map((c) => [c.scheduledAt - T0, c.at - T0]), [[s(10), s(10)]], 'started exactly at its time')
      await app.close()
    })

    test('lookAheadMs: 0 claims at the due time', async () => {
      const { app, clock, calls } = await makeApp({ store, lookAheadMs: 0 })
      await app.scheduler.addJob({ id: 'tick', func: 'record', trigger: 'interval', seconds: 10 })
      await clock.advance(s(10) - 1)
      await app.scheduler.whenIdle()
      assert.deepEqual(await app.scheduler.getJobRuns('tick'), [], 'nothing claimed or decided before its time')
      await clock.advance(1)
      await app.scheduler.whenIdle()
      assert.equal(calls.length, 1)
      await app.close()
    })

    test('a job whose previous run is still live is decided at its time, so max_instances counts the runs live then', async () => {
      const gate = deferred()
      let started = 0
      const { app, clock } = await makeApp({
        store,
        tasks: { slow: async () => { started++; if (started === 1) await gate.promise } }
      })
      const skips: unknown[] = []
      app.scheduler.on('job_max_instances', (e) => skips.push(e))
      await app.scheduler.addJob({ id: 'slow', func: 'slow', trigger: 'interval', seconds: 1, max_instances: 1 })
      await clock.advance(s(1)) // the first run starts and hangs
      await clock.advance(s(1) - 100) // within the window of the next fire: the run is live, so it is left
      gate.resolve() // the first run finishes before the next fire is due
      await clock.advance(100)
      await app.scheduler.whenIdle()
      assert.equal(started, 2, 'the next fire ran')
      assert.deepEqual(skips, [], 'not skipped by max_instances')
      await app.close()
    })

    test('shutting down abandons a fire decided ahead at once instead of waiting for its time', async () => {
      const { app, clock, calls } = await makeApp({ store, shutdownTimeoutMs: 60_000 })
      await app.scheduler.addJob({ id: 'tick', func: 'record', trigger: 'interval', seconds: 10 })
      await clock.advance(s(10) - 100)
      const t0 = Date.now()
      await app.scheduler.shutdown({ wait: true })
      assert.ok(Date.now() - t0 < 5000, 'shutdown did not wait out its bound')
      const [run] = await app.scheduler.getJobRuns('tick')
      assert.equal(run?.status, 'abandoned')
      await clock.advance(s(1))
      assert.equal(calls.length, 0, 'the abandoned fire never starts')
      await app.close()
    })
  })
}

/** Wakes every timer late by 1 % of its sleep, as an OS that gives long sleeps a share of slack does. */
class SlackClock extends ManualClock {
  override setTimeout (fn: () => void, ms: number): unknown { return super.setTimeout(fn, ms * 1.01) }
}

for (const lookAheadMs of [1000, 0]) {
  test(`timers that wake late by a share of their sleep still start fires on time, never before (lookAheadMs ${lookAheadMs})`, async () => {
    const clock = new SlackClock(T0)
    const { app, calls } = await makeApp({ clock, lookAheadMs })
    await app.scheduler.addJob({ id: 'tick', func: 'record', trigger: 'interval', seconds: 10 })
    await clock.advance(s(10) - 1)
    await app.scheduler.whenIdle()
    assert.equal(calls.length, 0, 'not started before its time')
    await clock.advance(s(20) + 10)
    await app.scheduler.whenIdle()
    // A timer armed for the whole wait would start them 1 % of it late (10 ms or more).
    assert.deepEqual(calls.map((c) => c.scheduledAt - T0), [s(10), s(20), s(30)])
    for (const c of calls) assert.ok(c.at >= c.scheduledAt && c.at - c.scheduledAt < 1, `started ${c.at - c.scheduledAt} ms after its time`)
    await app.close()
  })
}

test('lookAheadMs is validated: at most 1000 and under half of leaseMs', async () => {
  await assert.rejects(makeApp({ lookAheadMs: 1001, leaseMs: 10_000 }), /lookAheadMs/)
  await assert.rejects(makeApp({ lookAheadMs: 600, leaseMs: 1000 }), /lookAheadMs/)
  await assert.rejects(makeApp({ lookAheadMs: -1 }), /lookAheadMs/)
})

test('fires of one instant decided in several batches start together, when the store has a clock of its own', async () => {
  // A store judged by its own clock, read either side of a tick of ours: about half a
  // millisecond apart from one read to the next.
  let reads = 0
  let clockOf: (() => number) | undefined
  class OwnClockStore extends MemoryStore {
    now (): number { return (clockOf?.() ?? 0) - (++reads % 2) * 0.5 }
  }
  const { app, clock, calls } = await makeApp({ store: new OwnClockStore() })
  clockOf = () => clock.now()
  const due = T0 + s(10)
  // More jobs than one claim takes, so that they are decided in several batches.
  for (let i = 0; i < 250; i++) {
    await app.scheduler.addJob({ id: `once-${i}`, func: 'record', trigger: 'date', run_date: new Date(due).toISOString() })
  }
  await clock.advance(s(10) - 100)
  await app.scheduler.whenIdle()
  assert.equal(calls.length, 0, 'decided ahead, not started')
  await clock.advance(101)
  await app.scheduler.whenIdle()
  assert.equal(calls.length, 250)
  assert.deepEqual([...new Set(calls.map((c) => c.at))].length, 1, 'all started by the same timer')
  await app.close()
})

describe('overlapped claims (a store whose calls are round trips)', () => {
  /** The memory store answering each claim a turn of the event loop later, as a server would; it counts claims in flight. */
  class RoundTripStore extends MemoryStore {
    readonly overlapsClaims = true
    inFlight = 0
    mostInFlight = 0
    /** Releases sent while a claim was in flight. */
    overlapped = 0
    failNext = 0
    override async releaseJobs (owner: string, releases: Parameters<MemoryStore['releaseJobs']>[1]): ReturnType<MemoryStore['releaseJobs']> {
      if (this.inFlight > 0) this.overlapped++
      await new Promise((resolve) => setImmediate(resolve))
      return await super.releaseJobs(owner, releases)
    }
    override async acquireDueJobs (opts: Parameters<MemoryStore['acquireDueJobs']>[0]): ReturnType<MemoryStore['acquireDueJobs']> {
      this.inFlight++
      this.mostInFlight = Math.max(this.mostInFlight, this.inFlight)
      try {
        await new Promise((resolve) => setImmediate(resolve))
        if (this.failNext > 0 && this.overlapped > 0) { this.failNext--; throw new Error('connection reset') }
        return await super.acquireDueJobs(opts)
      } finally {
        this.inFlight--
      }
    }
  }

  async function addWave (app: Awaited<ReturnType<typeof makeApp>>['app'], n: number, due: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      await app.scheduler.addJob({ id: `once-${i}`, func: 'record', trigger: 'date', run_date: new Date(due).toISOString() })
    }
  }

  test('the next claim is sent while a batch is decided; every fire runs once, at its time', async () => {
    const store = new RoundTripStore()
    const { app, clock, calls } = await makeApp({ store })
    await addWave(app, 450, T0 + s(10))
    await clock.advance(s(10) - 100)
    await app.scheduler.whenIdle()
    assert.equal(calls.length, 0, 'decided ahead, not started')
    assert.ok(store.overlapped >= 3, `batches written while the next claim was in flight: ${store.overlapped}`)
    assert.equal(store.mostInFlight, 1, 'one claim in flight at a time')
    await clock.advance(100)
    await app.scheduler.whenIdle()
    assert.equal(calls.length, 450)
    assert.equal(new Set(calls.map((c) => c.id)).size, 450, 'each job once')
    assert.deepEqual([...new Set(calls.map((c) => c.at))], [T0 + s(10)], 'all at their time')
    await app.close()
  })

  test('a claim that fails while another batch is decided is retried; nothing is lost or run twice', async () => {
    const store = new RoundTripStore()
    store.failNext = 1
    const { app, clock, calls, logs } = await makeApp({ store })
    await addWave(app, 450, T0 + s(10))
    await clock.advance(s(10) - 100)
    await app.scheduler.whenIdle()
    assert.equal(store.failNext, 0, 'the overlapped claim failed')
    assert.ok(logs.some((l) => String(l.msg).includes('retrying in a second')), 'the failure is logged')
    await clock.advance(100)
    await app.scheduler.whenIdle()
    await clock.advance(s(1))
    await app.scheduler.whenIdle()
    assert.equal(calls.length, 450)
    assert.equal(new Set(calls.map((c) => c.id)).size, 450, 'each job once')
    await app.close()
  })
})
