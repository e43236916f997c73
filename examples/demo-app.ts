/**
 * The demo application, built without listening, so tests can start it on a free port with a
 * store of their own. `examples/demo.ts` runs it (`npm start`).
 */
import { timingSafeEqual } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import scheduler, { type JobStore, type TaskContext } from '../src/index.js'

export interface DemoOptions {
  store: JobStore
  /** Turns on Basic auth for the scheduler's routes, user `admin`. */
  password?: string
  logger?: FastifyServerOptions['logger']
}

/** Constant-time comparison, so a wrong password takes as long to reject as a nearly-right one. */
function safeEqual (a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

const ROOT_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark"><link rel="icon" href="data:,"><title>fastify-apscheduler demo</title></head>
<body style="font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem">
<h1>fastify-apscheduler demo</h1>
<ul>
  <li><a href="/scheduler/ui">Dashboard</a>: every job, its schedule and history; add, pause, run, edit</li>
  <li><a href="/scheduler">REST API</a> under <code>/scheduler</code></li>
  <li><a href="/docs">OpenAPI documentation</a> of the API</li>
</ul>
</body></html>
`

export async function buildDemo ({ store, password, logger = false }: DemoOptions): Promise<FastifyInstance> {
  const app = Fastify({ logger })

  await app.register(swagger, {
    openapi: { info: { title: 'fastify-apscheduler demo', version: '0.1.0' } }
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })

  await app.register(scheduler, {
    store,
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
      greet: (ctx: TaskContext) => { ctx.log.info({ kwargs: ctx.kwargs }, `hello, ${String(ctx.kwargs.name ?? 'world')}`) },
      // Fails about one run in three, so the dashboard has errors with stacks to show.
      flaky: async (ctx: TaskContext) => {
        await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 200))
        if (Math.random() < 0.33) throw new Error(`the upstream service timed out (run ${ctx.runId})`)
      }
    },
    jobs: [
      { id: 'heartbeat', func: 'heartbeat', trigger: 'interval', seconds: 10 },
      { id: 'report', func: 'report', trigger: 'cron', second: '0', args: ['every minute'] },
      { id: 'nightly', func: 'greet', trigger: 'cron', hour: '3', minute: '30', timezone: 'Europe/Berlin', kwargs: { name: 'night shift' } },
      { id: 'sync-orders', name: 'Sync orders', func: 'flaky', trigger: 'interval', seconds: 15 }
    ]
  })

  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(ROOT_PAGE))
  return app
}
