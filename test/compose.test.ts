// Docker does not run in CI, so docker-compose.yml is checked by reading it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { parse } from 'yaml'

interface Service {
  image?: string
  command?: string
  environment?: Record<string, string>
  ports?: string[]
  volumes?: string[]
}

const compose = parse(readFileSync(new URL('../docker-compose.yml', import.meta.url), 'utf8')) as {
  services: Record<string, Service>
  volumes?: Record<string, unknown>
}
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> }

test('docker-compose.yml runs the demo with npm start on a Node 20 image, reachable on port 3000', () => {
  const demo = compose.services.demo
  assert.ok(demo !== undefined, 'a demo service')
  assert.match(demo.image ?? '', /^node:20\b/)
  assert.match(demo.command ?? '', /npm ci && npm start/)
  assert.ok(pkg.scripts.start !== undefined, 'npm start exists')
  assert.equal(demo.environment?.HOST, '0.0.0.0', 'listens outside the container')
  assert.ok(demo.ports?.includes(`3000:${demo.environment?.PORT ?? ''}`), 'the container port is published as 3000')
  assert.match(demo.environment?.DB_PATH ?? '', /^\/data\//, 'the SQLite file lives on the data volume')
})

test('every named volume a service mounts is declared at the top level', () => {
  for (const [name, service] of Object.entries(compose.services)) {
    for (const volume of service.volumes ?? []) {
      const source = volume.split(':')[0] ?? ''
      if (source.startsWith('.') || source.startsWith('/') || !volume.includes(':')) continue
      assert.ok(compose.volumes !== undefined && source in compose.volumes, `${name}: volume '${source}' is declared`)
    }
  }
})
