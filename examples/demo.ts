/**
 * The demo: a Fastify server with the scheduler on an embedded SQLite file (or on Redis when
 * REDIS_URL is set, so several copies share the jobs and each fire runs once), a few jobs that log
 * when they fire, the dashboard at /scheduler/ui, the REST API at /scheduler and the OpenAPI UI at /docs.
 *
 *   npm start                     # http://127.0.0.1:3000/ links to all three
 *   PORT=8080 DB_PATH=/tmp/x.sqlite SCHEDULER_PASSWORD=secret npm start
 *   REDIS_URL=redis://127.0.0.1:6379 PORT=3001 npm start    # one of many workers
 */
import { RedisStore, SqliteStore } from '../src/index.js'
import { buildDemo } from './demo-app.js'

const port = Number(process.env.PORT ?? 3000)
const host = process.env.HOST ?? '127.0.0.1'
const password = process.env.SCHEDULER_PASSWORD

const app = await buildDemo({
  store: process.env.REDIS_URL !== undefined && process.env.REDIS_URL !== ''
    ? new RedisStore({ url: process.env.REDIS_URL, prefix: process.env.REDIS_PREFIX ?? 'apscheduler-demo' })
    : new SqliteStore({ path: process.env.DB_PATH ?? 'demo-jobs.sqlite' }),
  password,
  logger: { level: process.env.LOG_LEVEL ?? 'info' }
})

await app.listen({ port, host })
const base = `http://${host}:${port}`
app.log.info(`dashboard at ${base}/scheduler/ui, REST API at ${base}/scheduler, OpenAPI UI at ${base}/docs${password === undefined ? '' : ' (user admin)'}`)

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => { void app.close().then(() => process.exit(0)) })
}
