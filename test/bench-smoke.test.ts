/**
 * The bench harness works: a tiny one-shot scenario through every adapter (ours and the peers)
 * produces fire records and figures, and a scenario child process reports over IPC. No timing is
 * asserted: `npm run bench` measures, this only proves the plumbing.
 *
 * Our stores must fire all three. A peer's own misses are what the bench reports about it, so a
 * peer need only have its fires recorded: toad-scheduler 4.1's one-shot (croner 10 on an ISO date)
 * drops the fire when its timer runs a millisecond early, which a loaded machine makes likely.
 */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { fork } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FireParams } from '../bench/scenarios/fires.js'

// The harness runs our compiled package (dist/) by default; this test needs no build.
process.env.BENCH_FROM_SRC ??= '1'
const { adapters, adapterInfo } = await import('../bench/adapters/index.js')
const { runFires } = await import('../bench/scenarios/fires.js')

const tiny: FireParams = { kind: 'once', jobs: 3, leadMs: 1500, settleMs: 5000, addTimeoutMs: 5000, graceSeconds: 60 }

test('a tiny one-shot scenario runs through every adapter and records every fire', async () => {
  const dirs: string[] = []
  try {
    // Side by side: the adapters are independent, and one at a time would take a second each.
    const results = await Promise.all(adapters.map(async (info) => {
      const dir = mkdtempSync(join(tmpdir(), 'apsched-bench-smoke-'))
      dirs.push(dir)
      let result = await runFires(info.name, tiny, dir)
      // A loaded machine can make adding outlast the lead; the harness then retries with a longer one, and so does this.
      if (result.overrun === true) result = await runFires(info.name, { ...tiny, leadMs: Number(result.addMs) * 2 + 3000 }, dir)
      return { name: info.name, result }
    }))
    for (const { name, result } of results) {
      assert.equal(result.error, undefined, `${name}: ${String(result.error)}`)
      assert.equal(result.overrun, undefined, `${name}: adding overran the instant`)
      if (adapterInfo(name).ours) assert.equal(result.fired, 3, `${name} fired ${String(result.fired)} of 3: ${JSON.stringify(result)}`)
      else assert.ok(Number(result.fired) >= 1, `${name} fired none of 3: ${JSON.stringify(result)}`)
      assert.equal(result.duplicates, 0, name)
      assert.equal(typeof result.lastStartMs, 'number', name)
    }
  } finally {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
  }
})

test('a scenario child process sends its figures to the harness', async () => {
  const child = fork(new URL('../bench/child.ts', import.meta.url).pathname, [JSON.stringify({ scenario: 'S3', adapter: 'ours-memory', params: tiny })], {
    execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  const result = await new Promise<Record<string, unknown>>((resolve, reject) => {
    child.on('message', (msg: { type: string, result: Record<string, unknown> }) => { if (msg.type === 'result') resolve(msg.result) })
    child.once('exit', (code) => reject(new Error(`child exited with ${String(code)} without a result`)))
  })
  assert.equal(result.fired, 3, JSON.stringify(result))
})
