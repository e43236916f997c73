/**
 * The demo: a Fastify server with the scheduler on an embedded SQLite file, a few jobs that log
 * when they fire, the dashboard at /scheduler/ui, the REST API at /scheduler and the OpenAPI UI at /docs.
 *
 *   npm start                     # http://127.0.0.1:3000/ links to all three
 *   PORT=8080 DB_PATH=/tmp/x.sqlite SCHEDULER_PASSWORD=secret npm start
 */
import { SqliteStore } from '../src/index.js'
import { buildDemo } from './demo-app.js'

const port = Number(process.env.PORT ?? 3000)
const host = process.env.HOST ?? '127.0.0.1'
const password = process.env.SCHEDULER_PASSWORD

const app = await buildDemo({
  store: new SqliteStore({ path: process.env.DB_PATH ?? 'demo-jobs.sqlite' }),
  password,
  logger: { level: process.env.LOG_LEVEL ?? 'info' }
})

await app.listen({ port, host })
const base = `http://${host}:${port}`
app.log.info(`dashboard at ${base}/scheduler/ui, REST API at ${base}/scheduler, OpenAPI UI at ${base}/docs${password === undefined ? '' : ' (user admin)'}`)

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => { void app.close().then(() => process.exit(0)) })
}
