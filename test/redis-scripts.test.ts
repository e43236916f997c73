/** The Redis store's scripts carry only the part of the shared prelude they use. */
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { preludeDefinitions, preludeFor, scriptSources } from '../stores/redis-scripts.js'

const PRELUDE = `--[[ header ]]
local rcall = redis.call
local K = { jobs = KEYS[1] }
-- Says a.
local function a (x) return rcall('GET', x) end
local function b (x)
  if x then
    return a(x)
  end
end
local X, Y = 1, 2
local function unused () return K end`

test('the prelude is cut at its top-level locals, each with the comments above it', () => {
  const defs = preludeDefinitions(PRELUDE)
  assert.deepEqual(defs.map((d) => d.names), [['rcall'], ['K'], ['a'], ['b'], ['X', 'Y'], ['unused']])
  assert.equal(defs.map((d) => d.text).join('\n'), PRELUDE)
  assert.equal(defs[2]?.text, "-- Says a.\nlocal function a (x) return rcall('GET', x) end")
  const real = readFileSync(new URL('../stores/redis/_common.lua', import.meta.url), 'utf8')
  assert.equal(preludeDefinitions(real).map((d) => d.text).join('\n').trimEnd(), real.trimEnd())
})

test('a script gets what it uses, through other definitions too, in prelude order', () => {
  const defs = preludeDefinitions(PRELUDE)
  assert.equal(preludeFor(defs, 'return b(Y)'), [
    "--[[ header ]]\nlocal rcall = redis.call",
    "-- Says a.\nlocal function a (x) return rcall('GET', x) end",
    'local function b (x)\n  if x then\n    return a(x)\n  end\nend',
    'local X, Y = 1, 2'
  ].join('\n'))
  assert.equal(preludeFor(defs, 'return 1'), '')
})

test('every script of the store is put together with the helpers it calls', () => {
  const sources = scriptSources()
  assert.equal(sources.size, 15)
  // The smallest scripts leave most of the prelude out; the claim script has what it calls.
  assert.ok(!(sources.get('overdueJobs') as string).includes('local function trimJobs'))
  for (const name of ['judgeNow', 'liveRuns', 'jrunIds', 'bulk', 'hmget']) {
    assert.ok((sources.get('acquireDueJobs') as string).includes(`local function ${name} `), name)
  }
})
