/**
 * The demo: a Fastify server with the scheduler on an embedded SQLite file, a few jobs that log
 * when they fire, the REST API at /scheduler and the OpenAPI UI at /docs.
 *
 *   npm start                     # http://127.0.0.1:3000/scheduler , /docs
 *   PORT=8080 DB_PATH=/tmp/x.sqlite SCHEDULER_PASSWORD=secret npm start
 */
import { timingSafeEqual } from 'node:crypto'
import Fastify from 'fastify'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import scheduler, { SqliteStore, type TaskContext } from '../src/index.js'

const port = Number(process.env.PORT ?? 3000)
const host = process.env.HOST ?? '127.0.0.1'
const password = process.env.SCHEDULER_PASSWORD

/** Constant-time comparison, so a wrong password takes as long to reject as a nearly-right one. */
function safeEqual (a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

const app = Fastify({ logger: { level: process.env.LOG_LEVEL ?? 'info' } })

await app.register(swagger, {
  openapi: { info: { title: 'fastify-apscheduler demo', version: '0.1.0' } }
})
await app.register(swaggerUi, { routePrefix: '/docs' })

await app.register(scheduler, {
  store: new SqliteStore({ path: process.env.DB_PATH ?? 'demo-jobs.sqlite' }),
  apiEnabled: true,
  timezone: 'UTC',
  auth: password === undefined
    ? undefined
    : { authenticate: ({ username, password: given }) => safeEqual(username, 'admin') && safeEqual(given, password) },
  tasks: {
    heartbeat: (ctx: TaskContext) => { ctx.log.info({ scheduledAt: ctx.scheduledAt.toISOString() }, 'heartbeat') },
    report: async (ctx: TaskContext) => {
      const jobs = await ctx.fastify.scheduler.getJobs()
      ctx.log.info({ jobs: jobs.length, args: ctx.args }, 'report: counted the jobs')
    },
    greet: (ctx: TaskContext) => { ctx.log.info({ kwargs: ctx.kwargs }, `hello, ${String(ctx.kwargs.name ?? 'world')}`) }
  },
  jobs: [
    { id: 'heartbeat', func: 'heartbeat', trigger: 'interval', seconds: 10 },
    { id: 'report', func: 'report', trigger: 'cron', second: '0', args: ['every minute'] },
    { id: 'nightly', func: 'greet', trigger: 'cron', hour: '3', minute: '30', timezone: 'Europe/Berlin', kwargs: { name: 'night shift' } }
  ]
})

app.get('/', async () => ({ hello: 'fastify-apscheduler demo', api: '/scheduler', docs: '/docs' }))

await app.listen({ port, host })
app.log.info(`scheduler API at http://${host}:${port}/scheduler, OpenAPI UI at http://${host}:${port}/docs${password === undefined ? '' : ' (user admin)'}`)

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => { void app.close().then(() => process.exit(0)) })
}
