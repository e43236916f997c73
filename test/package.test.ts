import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { readFileSync, readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  type: string
  exports: Record<string, { types: string, import: string }>
  peerDependencies: Record<string, string>
  peerDependenciesMeta: Record<string, { optional?: boolean }>
  dependencies: Record<string, string>
}

test('an ESM package exporting the root and every store, with their declarations, from dist/', () => {
  assert.equal(pkg.type, 'module')
  assert.deepEqual(pkg.exports['.'], { types: './dist/src/index.d.ts', import: './dist/src/index.js' })
  assert.deepEqual(pkg.exports['./stores/*'], { types: './dist/stores/*.d.ts', import: './dist/stores/*.js' })
  const tsconfig = JSON.parse(readFileSync(new URL('../tsconfig.json', import.meta.url), 'utf8')) as { compilerOptions: Record<string, unknown> }
  assert.equal(tsconfig.compilerOptions.declaration, true)
  assert.equal(tsconfig.compilerOptions.strict, true)
  assert.ok(readdirSync(new URL('../stores/', import.meta.url)).includes('sqlite.ts'))
})

test('fastify is a peer; better-sqlite3 (12.x) and ioredis are optional peers, not dependencies', () => {
  assert.match(pkg.peerDependencies.fastify ?? '', /^\^5/)
  assert.match(pkg.peerDependencies['better-sqlite3'] ?? '', /^\^12/)
  for (const name of ['better-sqlite3', 'ioredis']) {
    assert.equal(pkg.peerDependenciesMeta[name]?.optional, true, name)
    assert.equal(pkg.dependencies[name], undefined, name)
  }
})

test('without the optional peers installed, the plugin runs and only SqliteStore.open() fails, naming the package', () => {
  const out = execFileSync(process.execPath, ['--import', './test/fixtures/hide-peers.mjs', '--import', 'tsx', 'test/fixtures/without-peers.ts'], { cwd: root, encoding: 'utf8' })
  assert.deepEqual(JSON.parse(out.trim().split('\n').at(-1) ?? ''), {
    jobs: 1,
    sqliteError: 'SqliteStore needs the better-sqlite3 package: npm install better-sqlite3'
  })
})
