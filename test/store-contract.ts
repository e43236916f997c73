/**
 * The JobStore contract, written once and run against every store. Time is explicit (`now`
 * arguments around a fixed epoch), so nothing sleeps; only notifications are awaited, since a
 * networked store may deliver them asynchronously.
 */
import { describe, test, beforeEach, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { ConflictingIdError } from '../src/errors.js'
import type { JobRelease, JobStore, RunResult, StoreChange } from '../src/store.js'
import type { JobRecord, RunRecord } from '../src/types.js'

export interface StoreFixture {
  store: JobStore
  /** A second instance over the same data (the same instance for an in-process store). */
  sibling?: () => Promise<JobStore>
  cleanup: () => Promise<void>
}

const BASE = 1_800_000_000_000
const LEASE = 30_000
let seq = 0

function job (id: string, over: Partial<JobRecord> = {}): JobRecord {
  const next = over.next_run_time !== undefined ? over.next_run_time : BASE
  return {
    id,
    name: `job ${id}`,
    func: 'tasks:tick',
    args: [1, 'two', { three: [3] }],
    kwargs: { flag: true, nested: { list: [1, 2], none: null } },
    trigger: {
      type: 'interval', weeks: 0, days: 0, hours: 0, minutes: 0, seconds: 10,
      start_date: BASE - 10_000, end_date: null, jitter: null, timezone: 'UTC'
    },
    executor: 'default',
    misfire_grace_time: 1,
    coalesce: true,
    max_instances: 1,
    next_run_time: next,
    next_fire_time: next,
    paused: false,
    paused_reason: null,
    source: 'api',
    config_hash: null,
    version: 1,
    created_at: BASE - 60_000,
    updated_at: BASE - 60_000,
    ...over
  }
}

function run (jobId: string, over: Partial<RunRecord> = {}): RunRecord {
  const scheduled = over.scheduled_at ?? BASE
  return {
    run_id: `run-${++seq}`,
    job_id: jobId,
    scheduled_at: scheduled,
    started_at: scheduled + 5,
    finished_at: scheduled + 50,
    status: 'success',
    error: null,
    node_id: 'node-a',
    trigger: 'scheduled',
    duration_ms: 45,
    lag_ms: 5,
    lease_expires: null,
    ...over
  }
}

function running (jobId: string, owner: string, leaseExpires: number, over: Partial<RunRecord> = {}): RunRecord {
  return run(jobId, { status: 'running', node_id: owner, finished_at: null, duration_ms: null, lease_expires: leaseExpires, ...over })
}

type Outcome = Omit<JobRelease, 'id'>

function outcome (version: number, over: Partial<Outcome> = {}): Outcome {
  return { version, next_run_time: BASE + 10_000, next_fire_time: BASE + 10_000, remove: false, runs: [], historyLimit: 100, ...over }
}

/** Releases one claim; true when its runs were written. */
async function release (store: JobStore, id: string, owner: string, out: Outcome): Promise<boolean> {
  const written = await store.releaseJobs(owner, [{ id, ...out }])
  assert.equal(written.length, 1)
  return written[0]!
}

const ids = (jobs: Array<{ id: string }>): string[] => jobs.map((j) => j.id)

/** Every job, in list order. */
async function allJobs (store: JobStore): Promise<JobRecord[]> {
  return (await store.queryJobs({})).jobs
}

/** Finishes one run; true when written. */
async function finish (store: JobStore, runId: string, owner: string, result: RunResult): Promise<boolean> {
  const written = await store.finishRuns(owner, [{ runId, result }])
  assert.equal(written.length, 1)
  return written[0]!
}
const runIds = (runs: RunRecord[]): string[] => runs.map((r) => r.run_id)

async function until<T> (get: () => T | undefined, what: string, ms = 2000): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = get()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

export function storeContract (name: string, make: () => Promise<StoreFixture>): void {
  describe(name + ' store contract', () => {
    let fixture: StoreFixture
    let store: JobStore
    const sibling = async (): Promise<JobStore> => {
      const other = fixture.sibling === undefined ? store : await fixture.sibling()
      await other.open()
      return other
    }

    beforeEach(async () => {
      fixture = await make()
      store = fixture.store
      await store.open()
    })
    afterEach(async () => { await fixture.cleanup() })

    describe('jobs', () => {
      test('a fresh store is empty; open is idempotent', async () => {
        await store.open()
        assert.deepEqual(await allJobs(store), [])
        assert.equal(await store.getJob('nope'), null)
        assert.equal(await store.nextWakeTime(BASE), null)
        assert.deepEqual(await store.getRuns('nope'), [])
        assert.deepEqual(await store.expireRuns(BASE), [])
        assert.deepEqual(await store.acquireDueJobs({ owner: 'a', now: BASE, leaseMs: LEASE, limit: 10 }), [])
        assert.equal(typeof store.notifiesAcrossProcesses, 'boolean')
      })

      test('addJob stores the record whole; getJob returns it', async () => {
        const record = job('a', { paused_reason: 'x', config_hash: 'h1', source: 'config', misfire_grace_time: null })
        await store.addJob(record)
        assert.deepEqual(await store.getJob('a'), record)
        assert.deepEqual(await allJobs(store), [record])
      })

      test('records handed in or out are copies', async () => {
        const record = job('a')
        await store.addJob(record)
        record.name = 'changed by caller'
        ;(record.kwargs.nested as { list: number[] }).list.push(99)
        const got = await store.getJob('a')
        assert.ok(got !== null)
        got.args.push('mutated')
        got.next_run_time = 0
        const [listed] = await allJobs(store)
        assert.ok(listed !== undefined)
        try { listed.kwargs.flag = false } catch (err) { assert.ok(err instanceof TypeError) }
        // A claimed record may be the store's own (in-process stores skip a copy per fire): then it is
        // frozen, so a caller that changes it fails instead of changing the store.
        const [acquired] = await store.acquireDueJobs({ owner: 'a', now: BASE, leaseMs: LEASE, limit: 1 })
        assert.ok(acquired !== undefined)
        try { acquired.job.name = 'mutated' } catch (err) { assert.ok(err instanceof TypeError) }
        try { acquired.job.args.push('mutated') } catch (err) { assert.ok(err instanceof TypeError) }
        assert.deepEqual(await store.getJob('a'), job('a'))
      })

      test('addJob with an existing id throws ConflictingIdError and keeps the original', async () => {
        await store.addJob(job('a'))
        await assert.rejects(store.addJob(job('a', { name: 'other' })), ConflictingIdError)
        assert.equal((await store.getJob('a'))?.name, 'job a')
        assert.equal((await allJobs(store)).length, 1)
      })

      test('queryJobs lists by next_run_time ascending, then jobs without one, then paused ones, ties by id', async () => {
        await store.addJob(job('n2', { next_run_time: null }))
        await store.addJob(job('late', { next_run_time: BASE + 3000 }))
        await store.addJob(job('b', { next_run_time: BASE + 1000 }))
        await store.addJob(job('paused', { next_run_time: null, paused: true }))
        await store.addJob(job('a', { next_run_time: BASE + 1000 }))
        await store.addJob(job('early', { next_run_time: BASE - 5000 }))
        await store.addJob(job('n1', { next_run_time: null }))
        assert.deepEqual(ids(await allJobs(store)), ['early', 'a', 'b', 'late', 'n1', 'n2', 'paused'])
      })

      test('updateJob replaces the record whole and bumps the version', async () => {
        await store.addJob(job('a', { version: 4 }))
        const changed = job('a', {
          name: 'renamed', args: [], kwargs: { only: 1 }, paused: true, paused_reason: 'maintenance',
          next_run_time: null, next_fire_time: null, version: 4, updated_at: BASE
        })
        const stored = await store.updateJob(changed)
        assert.deepEqual(stored, { ...changed, version: 5 })
        assert.deepEqual(await store.getJob('a'), { ...changed, version: 5 })
        // The stored version is bumped, whatever version the caller's record carries.
        assert.equal((await store.updateJob({ ...changed, version: 1 }))?.version, 6)
        assert.equal(await store.updateJob(job('missing')), null)
        assert.equal(await store.getJob('missing'), null)
      })

      test('updateJob with expectedVersion applies only on a matching version', async () => {
        await store.addJob(job('a'))
        const first = await store.updateJob(job('a', { name: 'one' }), 1)
        assert.equal(first?.version, 2)
        assert.equal(await store.updateJob(job('a', { name: 'stale' }), 1), null)
        assert.deepEqual(await store.getJob('a'), { ...job('a', { name: 'one' }), version: 2 })
        assert.equal((await store.updateJob(job('a', { name: 'two' }), 2))?.name, 'two')
        assert.equal(await store.updateJob(job('missing'), 1), null)
      })

      test('removeJob deletes the job and its finished history, and reports whether it existed', async () => {
        await store.addJob(job('a'))
        await store.addJob(job('b'))
        const live = running('a', 'node-a', BASE + LEASE, { scheduled_at: BASE + 2 })
        await store.insertRuns([run('a'), run('a', { scheduled_at: BASE + 1 }), live], 100)
        const keep = run('b')
        await store.insertRuns([keep], 100)
        assert.equal(await store.removeJob('a'), true)
        assert.equal(await store.getJob('a'), null)
        assert.equal(await store.removeJob('a'), false)
        assert.equal(await store.removeJob('never'), false)
        // A running run outlives its job until it finishes, then goes too.
        assert.deepEqual(runIds(await store.getRuns('a')), [live.run_id])
        assert.equal(await finish(store, live.run_id, 'node-a', { status: 'success', started_at: BASE + 5, finished_at: BASE + 9, error: null, duration_ms: 4, lag_ms: 3 }), true)
        assert.deepEqual(await store.getRuns('a'), [])
        assert.deepEqual(await store.getRuns('b'), [keep])
        assert.deepEqual(ids(await allJobs(store)), ['b'])
      })
    })

    describe('queries', () => {
      /** 6 scheduled jobs over two tasks, one without a next run, two paused. */
      async function seed (): Promise<void> {
        for (let i = 0; i < 6; i++) {
          await store.addJob(job(`s${i}`, { next_run_time: BASE + (5 - i) * 1000, func: i % 2 === 0 ? 'tasks:even' : 'tasks:odd', name: i < 3 ? `Report ${i}` : `cleanup ${i}` }))
        }
        await store.addJob(job('none', { next_run_time: null, func: 'tasks:even', name: 'Nothing left' }))
        await store.addJob(job('p1', { next_run_time: null, paused: true, func: 'tasks:odd', name: 'report paused' }))
        await store.addJob(job('p0', { next_run_time: null, paused: true, func: 'tasks:even', name: 'zzz' }))
      }

      test('queryJobs pages in list order with the total before paging', async () => {
        await seed()
        const all = await store.queryJobs({})
        assert.deepEqual(ids(all.jobs), ['s5', 's4', 's3', 's2', 's1', 's0', 'none', 'p0', 'p1'])
        assert.equal(all.total, 9)
        const page = await store.queryJobs({ limit: 3, offset: 2 })
        assert.deepEqual(ids(page.jobs), ['s3', 's2', 's1'])
        assert.equal(page.total, 9)
        assert.deepEqual(await store.queryJobs({ limit: 0 }), { jobs: [], total: 9 })
        assert.deepEqual(await store.queryJobs({ offset: 50 }), { jobs: [], total: 9 })
        assert.deepEqual(ids((await store.queryJobs({ offset: 7 })).jobs), ['p0', 'p1'])
      })

      test('queryJobs filters by state and task, and counts the matches', async () => {
        await seed()
        const scheduled = await store.queryJobs({ state: 'scheduled' })
        assert.deepEqual(ids(scheduled.jobs), ['s5', 's4', 's3', 's2', 's1', 's0', 'none'])
        assert.equal(scheduled.total, 7)
        assert.deepEqual(await store.queryJobs({ state: 'paused', limit: 1 }).then((p) => ({ ids: ids(p.jobs), total: p.total })), { ids: ['p0'], total: 2 })
        const even = await store.queryJobs({ func: 'tasks:even' })
        assert.deepEqual(ids(even.jobs), ['s4', 's2', 's0', 'none', 'p0'])
        assert.equal(even.total, 5)
        const oddScheduled = await store.queryJobs({ func: 'tasks:odd', state: 'scheduled', limit: 2, offset: 1 })
        assert.deepEqual(ids(oddScheduled.jobs), ['s3', 's1'])
        assert.equal(oddScheduled.total, 3)
        assert.deepEqual(await store.queryJobs({ func: 'tasks:unknown' }), { jobs: [], total: 0 })
      })

      test('queryJobs q matches a case-insensitive prefix of the id or the name', async () => {
        await seed()
        const reports = await store.queryJobs({ q: 'rEpOrT' })
        assert.deepEqual(ids(reports.jobs), ['s2', 's1', 's0', 'p1'])
        assert.equal(reports.total, 4)
        assert.deepEqual(ids((await store.queryJobs({ q: 's' })).jobs), ['s5', 's4', 's3', 's2', 's1', 's0'])
        assert.deepEqual(ids((await store.queryJobs({ q: 'P' })).jobs), ['p0', 'p1'])
        // A substring that is not a prefix does not match.
        assert.equal((await store.queryJobs({ q: 'eport' })).total, 0)
        const filtered = await store.queryJobs({ q: 'report', state: 'scheduled', func: 'tasks:even', limit: 1 })
        assert.deepEqual(ids(filtered.jobs), ['s2'])
        assert.equal(filtered.total, 2)
        assert.deepEqual(ids((await store.queryJobs({ q: 'report', offset: 3 })).jobs), ['p1'])
        // Beyond ASCII: compared by code point, cased by toLowerCase.
        await store.addJob(job('u1', { name: 'Éclair 🍰 nightly' }))
        await store.addJob(job('u2', { name: 'éclair 🍰x' }))
        await store.addJob(job('u3', { name: 'éclairs' }))
        assert.deepEqual(ids((await store.queryJobs({ q: 'ÉCLAIR 🍰' })).jobs).sort(), ['u1', 'u2'])
        assert.equal((await store.queryJobs({ q: 'éclair' })).total, 3)
      })

      test('queries follow changes: pause, resume, fire, rename, remove', async () => {
        await seed()
        const s5 = await store.getJob('s5')
        assert.ok(s5 !== null)
        await store.updateJob({ ...s5, paused: true, next_run_time: null, next_fire_time: null, name: 'Renamed' })
        assert.deepEqual(ids((await store.queryJobs({ state: 'paused' })).jobs), ['p0', 'p1', 's5'])
        assert.equal((await store.queryJobs({ state: 'scheduled' })).total, 6)
        assert.deepEqual(ids((await store.queryJobs({ q: 'renamed' })).jobs), ['s5'])
        assert.equal((await store.queryJobs({ q: 'cleanup' })).total, 2)
        // A fire moves the job in the list.
        const [claim] = await store.acquireDueJobs({ owner: 'a', now: BASE + 1000, leaseMs: LEASE, limit: 1 })
        assert.equal(claim?.job.id, 's4')
        assert.equal(await release(store, 's4', 'a', outcome(claim.job.version, { next_run_time: BASE + 9000, next_fire_time: BASE + 9000 })), true)
        assert.deepEqual(ids((await store.queryJobs({ state: 'scheduled' })).jobs), ['s3', 's2', 's1', 's0', 's4', 'none'])
        await store.removeJob('s3')
        await store.removeJob('p0')
        assert.equal((await store.queryJobs({ func: 'tasks:odd' })).total, 3)
        assert.equal((await store.queryJobs({ func: 'tasks:even' })).total, 4)
        assert.equal((await store.queryJobs({})).total, 7)
        assert.equal((await store.queryJobs({ q: 's3' })).total, 0)
      })

      test('overdueJobs lists unpaused jobs later than their grace (60 s when unlimited, 1 s at least), longest overdue first', async () => {
        await store.addJob(job('grace0', { next_run_time: BASE - 1500, misfire_grace_time: 0 }))
        await store.addJob(job('grace0-fresh', { next_run_time: BASE - 1000, misfire_grace_time: 0 }))
        await store.addJob(job('grace5', { next_run_time: BASE - 6000, misfire_grace_time: 5 }))
        await store.addJob(job('grace5-fresh', { next_run_time: BASE - 5000, misfire_grace_time: 5 }))
        await store.addJob(job('unlimited', { next_run_time: BASE - 62_000, misfire_grace_time: null }))
        await store.addJob(job('unlimited-fresh', { next_run_time: BASE - 59_000, misfire_grace_time: null }))
        await store.addJob(job('paused', { next_run_time: null, paused: true }))
        await store.addJob(job('future', { next_run_time: BASE + 1000 }))
        assert.deepEqual(await store.overdueJobs(BASE, 10), ['unlimited', 'grace5', 'grace0'])
        assert.deepEqual(await store.overdueJobs(BASE, 2), ['unlimited', 'grace5'])
        // Fired: no longer overdue.
        const claims = await store.acquireDueJobs({ owner: 'a', now: BASE, leaseMs: LEASE, limit: 100 })
        assert.deepEqual(await store.releaseJobs('a', claims.map((c) => ({ id: c.job.id, ...outcome(c.job.version) }))), claims.map(() => true))
        assert.deepEqual(await store.overdueJobs(BASE, 10), [])
      })
    })

    describe('claims', () => {
      test('acquireDueJobs claims only due, unpaused, unclaimed jobs, in order, up to the limit', async () => {
        await store.addJob(job('future', { next_run_time: BASE + 1 }))
        await store.addJob(job('paused', { next_run_time: BASE - 10, paused: true }))
        await store.addJob(job('finished', { next_run_time: null }))
        await store.addJob(job('d', { next_run_time: BASE }))
        await store.addJob(job('c', { next_run_time: BASE - 1000 }))
        await store.addJob(job('b', { next_run_time: BASE - 1000 }))
        await store.addJob(job('a', { next_run_time: BASE - 500 }))
        const first = await store.acquireDueJobs({ owner: 'one', now: BASE, leaseMs: LEASE, limit: 3 })
        assert.deepEqual(ids(first.map((a) => a.job)), ['b', 'c', 'a'])
        assert.deepEqual(first[0], { job: job('b', { next_run_time: BASE - 1000 }), running: 0, takeover: false })
        // The claimed jobs are skipped: the next call gets the rest.
        const second = await store.acquireDueJobs({ owner: 'one', now: BASE, leaseMs: LEASE, limit: 3 })
        assert.deepEqual(ids(second.map((a) => a.job)), ['d'])
        assert.deepEqual(await store.acquireDueJobs({ owner: 'one', now: BASE, leaseMs: LEASE, limit: 3 }), [])
        // Acquiring changes nothing in the record.
        assert.deepEqual(await store.getJob('d'), job('d', { next_run_time: BASE }))
      })

      test('a live claim blocks every owner; once it lapses another owner takes over', async () => {
        await store.addJob(job('a'))
        const other = await sibling()
        const [mine] = await store.acquireDueJobs({ owner: 'one', now: BASE, leaseMs: LEASE, limit: 10 })
        assert.equal(mine?.takeover, false)
        assert.deepEqual(await other.acquireDueJobs({ owner: 'two', now: BASE + 1, leaseMs: LEASE, limit: 10 }), [])
        assert.deepEqual(await other.acquireDueJobs({ owner: 'two', now: BASE + LEASE - 1, leaseMs: LEASE, limit: 10 }), [])
        assert.deepEqual(await store.acquireDueJobs({ owner: 'one', now: BASE + LEASE - 1, leaseMs: LEASE, limit: 10 }), [])
        // A lease is live while its expiry is in the future: at the expiry instant it has lapsed.
        const taken = await other.acquireDueJobs({ owner: 'two', now: BASE + LEASE, leaseMs: LEASE, limit: 10 })
        assert.equal(taken.length, 1)
        assert.equal(taken[0]?.takeover, true)
        assert.deepEqual(taken[0]?.job, job('a'))
        // The former holder is fenced out; the new one releases normally.
        assert.equal(await release(store, 'a', 'one', outcome(1, { runs: [run('a')] })), false)
        assert.deepEqual(await store.getRuns('a'), [])
        assert.equal(await release(other, 'a', 'two', outcome(1)), true)
        assert.equal((await store.getJob('a'))?.next_run_time, BASE + 10_000)
      })

      test('ahead of time (dueBy): jobs due by then are claimed; one with a live run is left for its time', async () => {
        assert.equal(store.claimsAhead, true)
        await store.addJob(job('due', { next_run_time: BASE - 5 }))
        await store.addJob(job('busy', { next_run_time: BASE + 100 }))
        await store.addJob(job('soon', { next_run_time: BASE + 200 }))
        await store.addJob(job('later', { next_run_time: BASE + 400 }))
        await store.insertRuns([running('busy', 'node-b', BASE + LEASE, { scheduled_at: BASE - 900 })], 100)
        const ahead = await store.acquireDueJobs({ owner: 'one', now: BASE, leaseMs: LEASE, limit: 10, dueBy: BASE + 250 })
        assert.deepEqual(ahead.map((a) => [a.job.id, a.running]), [['due', 0], ['soon', 0]])
        assert.deepEqual(await store.acquireDueJobs({ owner: 'one', now: BASE, leaseMs: LEASE, limit: 10, dueBy: BASE + 250 }), [])
        // At its time the busy job is claimed, with its live run counted (for max_instances).
        const atTime = await store.acquireDueJobs({ owner: 'one', now: BASE + 100, leaseMs: LEASE, limit: 10, dueBy: BASE + 350 })
        assert.deepEqual(atTime.map((a) => [a.job.id, a.running]), [['busy', 1]])
        // A claim looks at no more than 2 × limit jobs: behind four left ones, a free one waits.
        for (const id of ['l1', 'l2', 'l3', 'l4']) {
          await store.addJob(job(id, { next_run_time: BASE + 300 }))
          await store.insertRuns([running(id, 'node-b', BASE + LEASE, { scheduled_at: BASE - 700 })], 100)
        }
        await store.addJob(job('m-free', { next_run_time: BASE + 300 }))
        assert.deepEqual(await store.acquireDueJobs({ owner: 'one', now: BASE + 100, leaseMs: LEASE, limit: 2, dueBy: BASE + 350 }), [])
        const wider = await store.acquireDueJobs({ owner: 'one', now: BASE + 100, leaseMs: LEASE, limit: 3, dueBy: BASE + 350 })
        assert.deepEqual(wider.map((a) => a.job.id), ['m-free'])
        // A claim made ahead holds like any other until released.
        const other = await sibling()
        assert.deepEqual(await other.acquireDueJobs({ owner: 'two', now: BASE + 200, leaseMs: LEASE, limit: 10 }), [])
        assert.equal(await release(store, 'soon', 'one', outcome(1, { runs: [running('soon', 'one', BASE + LEASE, { scheduled_at: BASE + 200 })] })), true)
        assert.equal((await store.getJob('soon'))?.next_run_time, BASE + 10_000)
      })

      test('ahead of time an owner alone takes whole batches; owners sharing the store take turns', async () => {
        for (let i = 0; i < 300; i++) await store.addJob(job(`w${String(i).padStart(3, '0')}`, { next_run_time: BASE + 500 }))
        const ahead = { now: BASE, leaseMs: LEASE, limit: 100, dueBy: BASE + 1000 }
        assert.equal((await store.acquireDueJobs({ owner: 'one', ...ahead })).length, 100, 'alone: a whole batch')
        const other = await sibling()
        // An in-process store has no other instance to share it with.
        if (other === store) return
        assert.ok((await other.acquireDueJobs({ owner: 'two', ...ahead })).length > 0)
        const turn = (await store.acquireDueJobs({ owner: 'one', ...ahead })).length
        assert.ok(turn > 0 && turn < 100, `while another owner claims too, a turn is less than a whole batch (took ${turn})`)
      })

      test('acquired jobs carry the count of their live running runs', async () => {
        await store.addJob(job('a'))
        await store.addJob(job('b'))
        await store.insertRuns([
          running('a', 'node-a', BASE + 1000),
          running('a', 'node-b', BASE + 2000, { scheduled_at: BASE - 10_000 }),
          running('a', 'node-c', BASE - 1, { scheduled_at: BASE - 20_000 }), // lapsed, not yet expired
          run('a', { scheduled_at: BASE - 30_000 }),
          run('b', { status: 'error', error: { name: 'Error', message: 'boom', stack: null } })
        ], 100)
        const acquired = await store.acquireDueJobs({ owner: 'one', now: BASE, leaseMs: LEASE, limit: 10 })
        assert.deepEqual(acquired.map((a) => [a.job.id, a.running]), [['a', 2], ['b', 0]])
      })

      test('concurrent acquires from two instances claim every job exactly once', async () => {
        const other = await sibling()
        const total = 200
        for (let i = 0; i < total; i++) {
          await store.addJob(job(`job-${String(i).padStart(3, '0')}`, { next_run_time: BASE - (i % 7) }))
        }
        const claims = new Map<string, string[]>()
        const claimer = async (s: JobStore, owner: string): Promise<number> => {
          const got = await s.acquireDueJobs({ owner, now: BASE, leaseMs: LEASE, limit: 17 })
          for (const { job: j } of got) {
            claims.set(j.id, [...claims.get(j.id) ?? [], owner])
            // Every other job is released as finished, the rest keep their claims: both must stay exclusive.
            if (Number(j.id.slice(4)) % 2 === 0) {
              assert.equal(await release(s, j.id, owner, outcome(j.version, { next_run_time: null, next_fire_time: null })), true)
            }
          }
          return got.length
        }
        for (let round = 0; round < 40; round++) {
          const got = await Promise.all([claimer(store, 'one'), claimer(other, 'two'), claimer(store, 'three'), claimer(other, 'four')])
          if (got.every((n) => n === 0)) break
        }
        assert.equal(claims.size, total)
        for (const [id, owners] of claims) assert.equal(owners.length, 1, `${id} claimed by ${owners.join(', ')}`)
        const owners = new Set([...claims.values()].flat())
        assert.ok(owners.size >= 2, 'both instances claimed jobs')
      })

      test('releaseJobs by the wrong owner returns false and writes nothing', async () => {
        await store.addJob(job('a'))
        await store.acquireDueJobs({ owner: 'one', now: BASE, leaseMs: LEASE, limit: 10 })
        assert.equal(await release(store, 'a', 'two', outcome(1, { runs: [run('a')] })), false)
        assert.equal(await release(store, 'missing', 'one', outcome(1)), false)
        assert.deepEqual(await store.getJob('a'), job('a'))
        assert.deepEqual(await store.getRuns('a'), [])
        // The real holder's claim is intact.
        assert.deepEqual(await store.acquireDueJobs({ owner: 'two', now: BASE + 1, leaseMs: LEASE, limit: 10 }), [])
        assert.equal(await release(store, 'a', 'one', outcome(1)), true)
        // Without a claim, nobody can release.
        assert.equal(await release(store, 'a', 'one', outcome(1)), false)
      })

      test('releaseJobs settles a batch release by release, in order', async () => {
        for (const id of ['a', 'b', 'c']) await store.addJob(job(id))
        await store.acquireDueJobs({ owner: 'one', now: BASE, leaseMs: LEASE, limit: 2 }) // a and b
        await store.updateJob(job('b', { name: 'edited' }))
        const written = await store.releaseJobs('one', [
          { id: 'a', ...outcome(1, { runs: [run('a', { run_id: 'ra' })] }) },
          { id: 'b', ...outcome(1, { runs: [run('b', { run_id: 'rb' })] }) }, // modified meanwhile
          { id: 'c', ...outcome(1, { runs: [run('c', { run_id: 'rc' })] }) } // never claimed
        ])
        assert.deepEqual(written, [true, false, false])
        assert.deepEqual(runIds(await store.getRuns('a')), ['ra'])
        assert.deepEqual(await store.getRuns('b'), [])
        assert.deepEqual(await store.getRuns('c'), [])
        assert.equal((await store.getJob('a'))?.next_run_time, BASE + 10_000)
        assert.deepEqual(await store.releaseJobs('one', []), [])
        // Every claim of the batch is gone, written or not: b is due again at once.
        assert.deepEqual(ids((await store.acquireDueJobs({ owner: 'two', now: BASE + 1, leaseMs: LEASE, limit: 10 })).map((c) => c.job)), ['b', 'c'])
      })

      test('releaseJobs after the job changed only drops the claim', async () => {
        await store.addJob(job('a'))
        const [claim] = await store.acquireDueJobs({ owner: 'one', now: BASE, leaseMs: LEASE, limit: 10 })
        assert.ok(claim !== undefined)
        const modified = await store.updateJob(job('a', { name: 'edited', next_run_time: BASE - 1 }), claim.job.version)
        assert.ok(modified !== null)
        assert.equal(await release(store, 'a', 'one', outcome(claim.job.version, { runs: [run('a')] })), false)
        assert.deepEqual(await store.getJob('a'), modified)
        assert.deepEqual(await store.getRuns('a'), [])
        // The claim is gone: the job is acquirable again at once.
        const again = await store.acquireDueJobs({ owner: 'two', now: BASE + 1, leaseMs: LEASE, limit: 10 })
        assert.deepEqual(again, [{ job: modified, running: 0, takeover: false }])
      })

      test('releaseJobs after the job was paused or removed writes nothing', async () => {
        await store.addJob(job('p'))
        await store.addJob(job('r'))
        await store.acquireDueJobs({ owner: 'one', now: BASE, leaseMs: LEASE, limit: 10 })
        const paused = await store.updateJob(job('p', { paused: true, next_run_time: null, next_fire_time: null }))
        assert.equal(await store.removeJob('r'), true)
        assert.equal(await release(store, 'p', 'one', outcome(1, { runs: [run('p')] })), false)
        assert.equal(await release(store, 'r', 'one', outcome(1, { runs: [run('r')] })), false)
        assert.deepEqual(await store.getJob('p'), paused)
        assert.equal(await store.getJob('r'), null)
        assert.deepEqual(await store.getRuns('p'), [])
        assert.deepEqual(await store.getRuns('r'), [])
      })

      test('releaseJobs writes runs and next times, bumps the version and clears the claim', async () => {
        await store.addJob(job('a'))
        const [claim] = await store.acquireDueJobs({ owner: 'one', now: BASE, leaseMs: LEASE, limit: 10 })
        assert.ok(claim !== undefined)
        const missed = run('a', { scheduled_at: BASE - 10_000, status: 'missed', started_at: null, finished_at: BASE, duration_ms: null, lag_ms: null })
        const started = running('a', 'one', BASE + LEASE, { started_at: BASE + 2 })
        const ok = await release(store, 'a', 'one', outcome(claim.job.version, {
          next_run_time: BASE + 10_003, next_fire_time: BASE + 10_000, runs: [missed, started]
        }))
        assert.equal(ok, true)
        const stored = await store.getJob('a')
        assert.ok(stored !== null)
        assert.equal(stored.next_run_time, BASE + 10_003)
        assert.equal(stored.next_fire_time, BASE + 10_000)
        // A writer that read the job before this fire must not be able to roll its schedule back.
        assert.ok(stored.version > claim.job.version)
        assert.equal(await store.updateJob(job('a', { next_run_time: BASE }), claim.job.version), null)
        assert.deepEqual(stored, { ...job('a'), next_run_time: BASE + 10_003, next_fire_time: BASE + 10_000, version: stored.version })
        assert.deepEqual(await store.getRuns('a'), [started, missed])
        // Not due before its new time; acquirable (unclaimed) when it comes.
        assert.deepEqual(await store.acquireDueJobs({ owner: 'two', now: BASE + 10_002, leaseMs: LEASE, limit: 10 }), [])
        const next = await store.acquireDueJobs({ owner: 'two', now: BASE + 10_003, leaseMs: LEASE, limit: 10 })
        assert.deepEqual(next, [{ job: stored, running: 1, takeover: false }])
      })

      test('releaseJobs with remove deletes the job', async () => {
        await store.addJob(job('once', { trigger: { type: 'date', run_date: BASE, timezone: 'UTC' } }))
        await store.insertRuns([run('once', { scheduled_at: BASE - 1000 })], 100)
        await store.acquireDueJobs({ owner: 'one', now: BASE, leaseMs: LEASE, limit: 10 })
        const last = running('once', 'one', BASE + LEASE)
        assert.equal(await release(store, 'once', 'one', outcome(1, { remove: true, next_run_time: null, next_fire_time: null, runs: [last] })), true)
        assert.equal(await store.getJob('once'), null)
        assert.deepEqual(await allJobs(store), [])
        assert.deepEqual(await store.acquireDueJobs({ owner: 'one', now: BASE + 1, leaseMs: LEASE, limit: 10 }), [])
        // The last run is still tracked while it runs (its lease renews, it can finish).
        assert.deepEqual(await store.renewRunLeases('one', [last.run_id], BASE + 2 * LEASE), [last.run_id])
        assert.equal(await finish(store, last.run_id, 'one', { status: 'success', started_at: BASE + 5, finished_at: BASE + 10, error: null, duration_ms: 5, lag_ms: 5 }), true)
        assert.deepEqual(await store.getRuns('once'), [])
      })

      test('releaseJobs trims history to historyLimit', async () => {
        await store.addJob(job('a'))
        await store.insertRuns([1, 2, 3].map((i) => run('a', { scheduled_at: BASE - i * 1000 })), 100)
        await store.acquireDueJobs({ owner: 'one', now: BASE, leaseMs: LEASE, limit: 10 })
        const newest = run('a', { scheduled_at: BASE })
        assert.equal(await release(store, 'a', 'one', outcome(1, { runs: [newest], historyLimit: 2 })), true)
        const history = await store.getRuns('a')
        assert.deepEqual(history.map((r) => r.scheduled_at), [BASE, BASE - 1000])
      })
    })

    describe('runs', () => {
      test('insertRuns trims to the newest historyLimit runs, counting running ones, which are never trimmed', async () => {
        await store.addJob(job('a'))
        await store.addJob(job('b'))
        const oldRunning = running('a', 'node-a', BASE + LEASE, { scheduled_at: BASE - 100_000 })
        const finished = [5, 4, 3, 2, 1].map((i) => run('a', { scheduled_at: BASE - i * 1000 }))
        await store.insertRuns([oldRunning, ...finished.slice(0, 3)], 3)
        await store.insertRuns([run('b')], 3)
        assert.deepEqual(runIds(await store.getRuns('a')), [finished[2], finished[1], oldRunning].map((r) => r?.run_id))
        await store.insertRuns(finished.slice(3), 3)
        assert.deepEqual(runIds(await store.getRuns('a')), [finished[4], finished[3], oldRunning].map((r) => r?.run_id))
        // Other jobs' history is untouched.
        assert.equal((await store.getRuns('b')).length, 1)
        // More running runs than the limit: all of them stay, no finished run does.
        const more = running('a', 'node-b', BASE + LEASE, { scheduled_at: BASE + 1 })
        await store.insertRuns([more], 1)
        assert.deepEqual(runIds(await store.getRuns('a')), [more.run_id, oldRunning.run_id])
        // historyLimit 0 keeps no finished run at all.
        await store.insertRuns([run('a', { scheduled_at: BASE + 2 })], 0)
        assert.deepEqual(runIds(await store.getRuns('a')), [more.run_id, oldRunning.run_id])
      })

      test('a run that finishes after being inserted leaves the history within historyLimit', async () => {
        await store.addJob(job('a'))
        await store.insertRuns([3, 2, 1].map((i) => run('a', { scheduled_at: BASE - i * 1000 })), 3)
        await store.acquireDueJobs({ owner: 'one', now: BASE, leaseMs: LEASE, limit: 10 })
        const last = running('a', 'one', BASE + LEASE)
        assert.equal(await release(store, 'a', 'one', outcome(1, { runs: [last], historyLimit: 3 })), true)
        assert.equal(await finish(store, last.run_id, 'one', { status: 'success', started_at: BASE + 5, finished_at: BASE + 9, error: null, duration_ms: 4, lag_ms: 5 }), true)
        const history = await store.getRuns('a')
        assert.deepEqual(history.map((r) => r.scheduled_at), [BASE, BASE - 1000, BASE - 2000])
        assert.equal(history[0]?.status, 'success')
      })

      test('runs of one scheduled_at are ordered by when they started, also one that started after it was written', async () => {
        await store.addJob(job('a'))
        await store.acquireDueJobs({ owner: 'one', now: BASE, leaseMs: LEASE, limit: 10 })
        // Written ahead of its time, not started yet.
        const decided = running('a', 'one', BASE + LEASE, { started_at: null })
        assert.equal(await release(store, 'a', 'one', outcome(1, { runs: [decided] })), true)
        const manual = run('a', { scheduled_at: BASE, started_at: BASE + 10, trigger: 'manual' })
        await store.insertRuns([manual], 100)
        assert.deepEqual(runIds(await store.getRuns('a')), [manual.run_id, decided.run_id])
        // It starts after the manual run: now it is the newer of the two.
        assert.equal(await finish(store, decided.run_id, 'one', { status: 'success', started_at: BASE + 20, finished_at: BASE + 30, error: null, duration_ms: 10, lag_ms: 20 }), true)
        assert.deepEqual(runIds(await store.getRuns('a')), [decided.run_id, manual.run_id])
        assert.deepEqual(runIds(await store.getRuns('a', 1)), [decided.run_id])
        // Trimmed to two, the oldest by started_at goes.
        const next = run('a', { scheduled_at: BASE + 10_000 })
        await store.insertRuns([next], 2)
        assert.deepEqual(runIds(await store.getRuns('a')), [next.run_id, decided.run_id])
      })

      test('insertRuns with an existing run_id replaces that run', async () => {
        await store.addJob(job('a'))
        const first = run('a')
        await store.insertRuns([first], 100)
        const again = { ...first, status: 'error' as const, error: { name: 'Error', message: 'x', stack: 'at y' } }
        await store.insertRuns([again], 100)
        assert.deepEqual(await store.getRuns('a'), [again])
      })

      test('getRuns lists newest first (scheduled_at, then started_at) and honours limit', async () => {
        await store.addJob(job('a'))
        const r1 = run('a', { scheduled_at: BASE - 2000 })
        const r2 = run('a', { scheduled_at: BASE, started_at: BASE + 10, trigger: 'manual' })
        const r3 = run('a', { scheduled_at: BASE, started_at: BASE + 20 })
        const r4 = run('a', { scheduled_at: BASE - 1000, status: 'missed', started_at: null, duration_ms: null, lag_ms: null })
        await store.insertRuns([r2, r4], 100)
        await store.insertRuns([r1, r3], 100)
        assert.deepEqual(await store.getRuns('a'), [r3, r2, r4, r1])
        assert.deepEqual(await store.getRuns('a', 2), [r3, r2])
        assert.deepEqual(await store.getRuns('a', 0), [])
        assert.deepEqual(await store.getRuns('other'), [])
      })

      test('renewRunLeases extends only the owner\'s running runs and returns their ids', async () => {
        await store.addJob(job('a'))
        const mine1 = running('a', 'one', BASE + 1000)
        const mine2 = running('a', 'one', BASE + 1000, { scheduled_at: BASE + 1 })
        const theirs = running('a', 'two', BASE + 1000, { scheduled_at: BASE + 2 })
        const done = run('a', { node_id: 'one', scheduled_at: BASE + 3 })
        await store.insertRuns([mine1, mine2, theirs, done], 100)
        const held = await store.renewRunLeases('one', [mine1.run_id, theirs.run_id, done.run_id, 'unknown', mine2.run_id], BASE + 9000)
        assert.deepEqual([...held].sort(), [mine1.run_id, mine2.run_id].sort())
        const byId = new Map((await store.getRuns('a')).map((r) => [r.run_id, r]))
        assert.equal(byId.get(mine1.run_id)?.lease_expires, BASE + 9000)
        assert.equal(byId.get(mine2.run_id)?.lease_expires, BASE + 9000)
        assert.equal(byId.get(theirs.run_id)?.lease_expires, BASE + 1000)
        assert.deepEqual(byId.get(done.run_id), done)
        assert.deepEqual(await store.renewRunLeases('one', [], BASE + 9000), [])
        // An abandoned run is no longer held.
        await store.expireRuns(BASE + 9000)
        assert.deepEqual(await store.renewRunLeases('one', [mine1.run_id], BASE + 20_000), [])
      })

      test('finishRun is fenced by owner and status', async () => {
        await store.addJob(job('a'))
        const r = running('a', 'one', BASE + LEASE, { started_at: BASE + 1 })
        await store.insertRuns([r], 100)
        const result = { status: 'error' as const, started_at: BASE + 1, finished_at: BASE + 31, error: { name: 'TypeError', message: 'bad', stack: 'TypeError: bad\n  at x' }, duration_ms: 30, lag_ms: 1 }
        assert.equal(await finish(store, r.run_id, 'two', result), false)
        assert.equal(await finish(store, 'unknown', 'one', result), false)
        assert.deepEqual(await store.getRuns('a'), [r])
        assert.equal(await finish(store, r.run_id, 'one', result), true)
        const [finished] = await store.getRuns('a')
        assert.deepEqual(finished, { ...r, ...result, lease_expires: finished?.lease_expires ?? null })
        // Finished: no second result, no renewal.
        assert.equal(await finish(store, r.run_id, 'one', { ...result, status: 'success', error: null }), false)
        assert.equal((await store.getRuns('a'))[0]?.status, 'error')
        assert.deepEqual(await store.renewRunLeases('one', [r.run_id], BASE + 2 * LEASE), [])
      })

      test('finishRuns writes a batch, each finish fenced on its own', async () => {
        await store.addJob(job('a'))
        const mine = [0, 1, 2].map((i) => running('a', 'one', BASE + LEASE, { scheduled_at: BASE + i }))
        const theirs = running('a', 'two', BASE + LEASE, { scheduled_at: BASE + 3 })
        const orphan = running('gone', 'one', BASE + LEASE)
        await store.insertRuns([...mine, theirs, orphan], 100)
        const result = (i: number): RunResult => ({ status: 'success', started_at: BASE + i, finished_at: BASE + i + 1, error: null, duration_ms: 1, lag_ms: i })
        const written = await store.finishRuns('one', [
          { runId: mine[0]!.run_id, result: result(0) },
          { runId: theirs.run_id, result: result(3) },
          { runId: mine[2]!.run_id, result: { ...result(2), status: 'error', error: { name: 'Error', message: 'x', stack: null } } },
          { runId: 'unknown', result: result(9) },
          { runId: orphan.run_id, result: result(0) }
        ])
        assert.deepEqual(written, [true, false, true, false, true])
        const byId = new Map((await store.getRuns('a')).map((r) => [r.run_id, r]))
        assert.equal(byId.get(mine[0]!.run_id)?.status, 'success')
        assert.equal(byId.get(mine[0]!.run_id)?.lease_expires, null)
        assert.equal(byId.get(mine[1]!.run_id)?.status, 'running')
        assert.deepEqual(byId.get(mine[2]!.run_id)?.error, { name: 'Error', message: 'x', stack: null })
        assert.equal(byId.get(theirs.run_id)?.status, 'running')
        // History lives with its job: the finished run of a removed job is not kept.
        assert.deepEqual(await store.getRuns('gone'), [])
        assert.deepEqual(await store.finishRuns('one', []), [])
      })

      test('a finished run leaves the running count and the wake-up sources', async () => {
        await store.addJob(job('a', { next_run_time: null }))
        const r = running('a', 'one', BASE + LEASE)
        await store.insertRuns([r], 100)
        assert.equal(await store.nextWakeTime(BASE), BASE + LEASE)
        assert.equal(await finish(store, r.run_id, 'one', { status: 'success', started_at: BASE, finished_at: BASE + 1, error: null, duration_ms: 1, lag_ms: 0 }), true)
        assert.equal(await store.nextWakeTime(BASE), null)
        assert.deepEqual(await store.expireRuns(BASE + 2 * LEASE), [])
      })

      test('expireRuns marks lapsed running runs abandoned and returns them once', async () => {
        await store.addJob(job('a'))
        const lapsed = running('a', 'one', BASE - 1)
        const atNow = running('a', 'two', BASE, { scheduled_at: BASE + 1 })
        const live = running('a', 'one', BASE + 1, { scheduled_at: BASE + 2 })
        const orphan = running('gone', 'one', BASE - 5)
        const done = run('a', { scheduled_at: BASE + 3 })
        await store.insertRuns([lapsed, atNow, live, orphan, done], 100)
        const expired = await store.expireRuns(BASE)
        const byId = new Map(expired.map((r) => [r.run_id, r]))
        assert.deepEqual([...byId.keys()].sort(), [lapsed.run_id, atNow.run_id, orphan.run_id].sort())
        for (const r of expired) {
          assert.equal(r.status, 'abandoned')
          assert.equal(r.finished_at, BASE)
        }
        assert.equal(byId.get(orphan.run_id)?.job_id, 'gone')
        assert.equal(byId.get(lapsed.run_id)?.node_id, 'one')
        assert.equal(byId.get(lapsed.run_id)?.scheduled_at, lapsed.scheduled_at)
        const stored = new Map((await store.getRuns('a')).map((r) => [r.run_id, r]))
        assert.equal(stored.get(lapsed.run_id)?.status, 'abandoned')
        assert.equal(stored.get(lapsed.run_id)?.finished_at, BASE)
        assert.equal(stored.get(live.run_id)?.status, 'running')
        assert.deepEqual(stored.get(done.run_id), done)
        // The run of a job that no longer exists is deleted, not kept.
        assert.deepEqual(await store.getRuns('gone'), [])
        assert.deepEqual(await store.expireRuns(BASE), [])
        // An abandoned run cannot be finished by its former holder.
        assert.equal(await finish(store, lapsed.run_id, 'one', { status: 'success', started_at: BASE, finished_at: BASE, error: null, duration_ms: 0, lag_ms: 0 }), false)
        assert.equal(await store.renewRunLeases('two', [atNow.run_id], BASE + LEASE).then((h) => h.length), 0)
      })
    })

    describe('nextWakeTime', () => {
      test('is null with nothing to do', async () => {
        assert.equal(await store.nextWakeTime(BASE), null)
        await store.addJob(job('paused', { paused: true, next_run_time: BASE + 5, next_fire_time: BASE + 5 }))
        await store.addJob(job('done', { next_run_time: null }))
        await store.insertRuns([run('done')], 100)
        assert.equal(await store.nextWakeTime(BASE), null)
      })

      test('is the earliest next_run_time of an unpaused, unclaimed job', async () => {
        await store.addJob(job('paused', { paused: true, next_run_time: BASE + 100 }))
        await store.addJob(job('b', { next_run_time: BASE + 2000 }))
        await store.addJob(job('a', { next_run_time: BASE + 1000 }))
        assert.equal(await store.nextWakeTime(BASE), BASE + 1000)
        // A due job: the time is in the past, meaning "now".
        await store.addJob(job('due', { next_run_time: BASE - 50 }))
        assert.equal(await store.nextWakeTime(BASE), BASE - 50)
      })

      test('is the expiry of a live claim on a due job', async () => {
        await store.addJob(job('a', { next_run_time: BASE - 10 }))
        await store.addJob(job('later', { next_run_time: BASE + 2 * LEASE }))
        await store.acquireDueJobs({ owner: 'one', now: BASE, leaseMs: LEASE, limit: 10 })
        assert.equal(await store.nextWakeTime(BASE + 1), BASE + LEASE)
        // Once released, the job's own next time counts again.
        assert.equal(await release(store, 'a', 'one', outcome(1, { next_run_time: BASE + 500, next_fire_time: BASE + 500 })), true)
        assert.equal(await store.nextWakeTime(BASE + 1), BASE + 500)
      })

      test('is the expiry of a running run\'s lease', async () => {
        await store.addJob(job('a', { next_run_time: BASE + 5000 }))
        await store.insertRuns([running('a', 'one', BASE + 3000), running('a', 'two', BASE + 4000, { scheduled_at: BASE + 1 })], 100)
        assert.equal(await store.nextWakeTime(BASE), BASE + 3000)
        await store.insertRuns([running('gone', 'one', BASE + 1000)], 100)
        assert.equal(await store.nextWakeTime(BASE), BASE + 1000)
      })
    })

    describe('scheduler state and notifications', () => {
      test('scheduler state defaults to running and is shared', async () => {
        const other = await sibling()
        assert.deepEqual(await store.getSchedulerState(), { paused: false })
        await store.setSchedulerState({ paused: true })
        assert.deepEqual(await store.getSchedulerState(), { paused: true })
        assert.deepEqual(await other.getSchedulerState(), { paused: true })
        await other.setSchedulerState({ paused: false })
        assert.deepEqual(await store.getSchedulerState(), { paused: false })
      })

      test('subscribe hears added, modified and removed jobs and state changes, from either instance', async () => {
        const other = await sibling()
        const heard: StoreChange[] = []
        const unsubscribe = store.subscribe((change) => heard.push(change))
        const find = (pred: (c: StoreChange) => boolean) => (): StoreChange | undefined => heard.find(pred)
        try {
          await other.addJob(job('a', { next_run_time: BASE + 7 }))
          assert.deepEqual(await until(find((c) => c.type === 'job_added'), 'job_added'), { type: 'job_added', jobId: 'a', nextRunTime: BASE + 7 })
          await store.updateJob(job('a', { next_run_time: BASE + 9 }))
          assert.deepEqual(await until(find((c) => c.type === 'job_modified'), 'job_modified'), { type: 'job_modified', jobId: 'a', nextRunTime: BASE + 9 })
          await other.removeJob('a')
          assert.deepEqual(await until(find((c) => c.type === 'job_removed'), 'job_removed'), { type: 'job_removed', jobId: 'a' })
          await other.setSchedulerState({ paused: true })
          assert.deepEqual(await until(find((c) => c.type === 'scheduler_state'), 'scheduler_state'), { type: 'scheduler_state', paused: true })
        } finally {
          unsubscribe()
        }
      })

      test('an unsubscribed listener hears nothing more; a throwing listener does not fail the write', async () => {
        const gone: StoreChange[] = []
        const kept: StoreChange[] = []
        const unsubscribe = store.subscribe((change) => gone.push(change))
        const unsubscribeThrower = store.subscribe(() => { throw new Error('listener bug') })
        const unsubscribeKept = store.subscribe((change) => kept.push(change))
        try {
          await store.addJob(job('a'))
          await until(() => kept.find((c) => c.type === 'job_added'), 'job_added')
          await until(() => gone.find((c) => c.type === 'job_added'), 'job_added (before unsubscribe)')
          unsubscribe()
          const before = gone.length
          await store.addJob(job('b'))
          await until(() => kept.find((c) => c.type === 'job_added' && c.jobId === 'b'), 'second job_added')
          assert.equal(gone.length, before)
          unsubscribe() // idempotent
        } finally {
          unsubscribeThrower()
          unsubscribeKept()
        }
      })

      test('close is idempotent', async () => {
        await store.close()
        await store.close()
      })
    })
  })
}
