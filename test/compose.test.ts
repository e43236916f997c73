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
  profiles?: string[]
  depends_on?: Record<string, { condition: string }>
  healthcheck?: { test: string[] }
}

const compose = parse(readFileSync(new URL('../docker-compose.yml', import.meta.url), 'utf8')) as {
  services: Record<string, Service>
  volumes?: Record<string, unknown>
}
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> }

test('the SQLite demo runs with npm start on a Node 20 image, reachable on port 3000 (profile sqlite)', () => {
  const demo = compose.services.demo
  assert.ok(demo !== undefined, 'a demo service')
  assert.deepEqual(demo.profiles, ['sqlite'], 'not started by a plain `docker compose up`, which runs the Redis pair')
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

test('docker compose up runs Redis (persistent, health-checked) and two demo workers sharing it', () => {
  const redis = compose.services.redis
  assert.ok(redis !== undefined, 'a redis service')
  assert.match(redis.image ?? '', /^redis:7\b/)
  assert.match(redis.command ?? '', /--appendonly yes/, 'Redis keeps the data across its restarts')
  assert.ok(redis.healthcheck?.test.includes('ping'))
  const workers = Object.entries(compose.services).filter(([, s]) => s.environment?.REDIS_URL !== undefined)
  assert.equal(workers.length, 2, 'two workers')
  const hostPorts = new Set<string>()
  for (const [name, worker] of workers) {
    assert.equal(worker.profiles, undefined, `${name} starts with a plain docker compose up`)
    assert.match(worker.image ?? '', /^node:20\b/)
    assert.equal(worker.environment?.REDIS_URL, 'redis://redis:6379', `${name} uses the redis service`)
    assert.equal(worker.environment?.HOST, '0.0.0.0')
    assert.match(worker.command ?? '', /dist\/examples\/demo\.js/, `${name} runs the built demo`)
    assert.equal(worker.depends_on?.redis?.condition, 'service_healthy', `${name} waits for Redis`)
    assert.equal(worker.depends_on?.setup?.condition, 'service_completed_successfully', `${name} waits for the one build`)
    for (const port of worker.ports ?? []) hostPorts.add(port.split(':')[0] ?? '')
  }
  assert.equal(hostPorts.size, 2, 'each worker on its own host port')
  assert.match(compose.services.setup?.command ?? '', /npm ci && npm run build/)
  assert.match(readFileSync(new URL('../examples/demo.ts', import.meta.url), 'utf8'), /process\.env\.REDIS_URL[\s\S]*new RedisStore/, 'the demo uses RedisStore when REDIS_URL is set')
})
