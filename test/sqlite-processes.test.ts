import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fork, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SqliteStore } from '../stores/sqlite.js'
import type { JobRecord } from '../src/types.js'

const CLAIMER = fileURLToPath(new URL('./fixtures/sqlite-claimer.ts', import.meta.url))
const BASE = 1_800_000_000_000
const JOBS = 300

interface Done { type: 'done', claimed: string[], releasedFalse: number }

function job (id: string, i: number): JobRecord {
  return {
    id, name: id, func: 'tasks:tick', args: [], kwargs: {},
    trigger: { type: 'date', run_date: BASE, timezone: 'UTC' },
    executor: 'default', misfire_grace_time: null, coalesce: true, max_instances: 1,
    next_run_time: BASE - (i % 10), next_fire_time: BASE - (i % 10), paused: false, paused_reason: null,
    source: 'code', config_hash: null, version: 1, created_at: BASE, updated_at: BASE
  }
}

function nextMessage<T> (child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: { type: string }): void => {
      if (message.type !== type) return
      child.off('message', onMessage)
      child.off('exit', onExit)
      resolve(message as T)
    }
    const onExit = (code: number | null): void => { reject(new Error(`claimer exited (${code}) before '${type}'`)) }
    child.on('message', onMessage)
    child.once('exit', onExit)
  })
}

test('two processes claiming from one SQLite file claim every job exactly once', { timeout: 60_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'aps-sqlite-procs-'))
  const path = join(dir, 'jobs.db')
  const children = ['proc-a', 'proc-b'].map((owner) =>
    fork(CLAIMER, [path, owner, String(BASE)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
  const store = new SqliteStore({ path })
  try {
    // Both children open the fresh file at the same time: schema creation must not fail either.
    await Promise.all(children.map((child) => nextMessage(child, 'ready')))
    await store.open()
    for (let i = 0; i < JOBS; i++) await store.addJob(job(`job-${i}`, i))

    const results = children.map((child) => nextMessage<Done>(child, 'done'))
    for (const child of children) child.send({ type: 'go' })
    const done = await Promise.all(results)

    const owners = new Map<string, string[]>()
    done.forEach((result, i) => {
      assert.equal(result.releasedFalse, 0)
      for (const id of result.claimed) owners.set(id, [...owners.get(id) ?? [], `proc-${i}`])
    })
    assert.equal(owners.size, JOBS)
    for (const [id, by] of owners) assert.equal(by.length, 1, `${id} claimed by ${by.join(', ')}`)
    // The store agrees: each job ran once, by the process that claimed it, and nothing is still claimed or due.
    for (const record of (await store.queryJobs({})).jobs) {
      assert.equal(record.next_run_time, null)
      const runs = await store.getRuns(record.id)
      assert.equal(runs.length, 1)
    }
    assert.deepEqual(await store.acquireDueJobs({ owner: 'parent', now: BASE + 120_000, leaseMs: 1000, limit: 1 }), [])
    t.diagnostic(`claims per process: ${done.map((d) => d.claimed.length).join(' / ')}`)
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill()
    await Promise.all(children.map((child) => child.exitCode === null ? once(child, 'exit') : undefined))
    await store.close()
    await rm(dir, { recursive: true, force: true })
  }
})
