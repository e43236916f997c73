/**
 * S7 API: requests/s and p99 of `GET /jobs/:id` and `POST /jobs` against bare Fastify routes on the
 * same app that make the same call without the plugin's route layer: the bare GET asks the store
 * directly (`store.getJob`), the bare POST calls `scheduler.addJob` (the same normalisation and
 * store insert, without schema validation, hooks and the reply shaping). Phases run in A-B-B-A
 * order after a warm-up, so drift in the machine's load falls on both alike.
 */
import { fork } from 'node:child_process'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import type { JobDefinition } from '../../src/index.js'
import { lib } from '../lib/ours-lib.js'
import { OURS_CONCURRENCY, ourStores } from '../adapters/ours.js'
import { round } from '../lib/stats.js'
import { forkable } from '../lib/forkable.js'

export interface ApiParams { seconds: number, connections: number, jobs: number }

interface Load { rps: number, p50: number, p99: number, ok: number, non2xx: number, errors: number }

const CLIENT = forkable('../load-client.ts', import.meta.url)
const JOB_BODY = { func: 'noop', trigger: 'interval' as const, days: 1 }

async function load (opts: { url: string, method: 'GET' | 'POST', seconds: number, connections: number, idPrefix?: string }): Promise<Load> {
  const child = fork(CLIENT.path, [JSON.stringify({ ...opts, body: JOB_BODY })], { execArgv: CLIENT.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  return await new Promise<Load>((resolve, reject) => {
    child.on('message', (msg: Load) => { resolve(msg) })
    child.once('exit', (code) => { reject(new Error(`load client exited with ${String(code)}`)) })
  })
}

export async function runApi (adapterName: string, p: ApiParams, dir: string): Promise<Record<string, unknown>> {
  const makeStore = ourStores[adapterName]
  if (makeStore === undefined) return { skipped: `${adapterName} is not one of our stores` }
  const store = makeStore({ dir, shared: '' })
  const app = Fastify({ logger: false })
  await app.register(lib.default, { store, apiEnabled: true, executors: { default: { maxConcurrency: OURS_CONCURRENCY } }, tasks: { noop: () => {} } })
  app.get('/bare/jobs/:id', async (req, reply) => {
    const job = await store.getJob((req.params as { id: string }).id)
    return job === null ? await reply.code(404).send({ error: 'not found' }) : job
  })
  app.post('/bare/jobs', async (req) => await app.scheduler.addJob(req.body as JobDefinition))
  await app.listen({ host: '127.0.0.1', port: 0 })
  try {
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
    for (let i = 0; i < p.jobs; i++) await app.scheduler.addJob({ id: `j${i}`, ...JOB_BODY })
    const id = `j${Math.floor(p.jobs / 2)}`
    const routes = {
      get: { ours: `${base}/scheduler/jobs/${id}`, bare: `${base}/bare/jobs/${id}` },
      post: { ours: `${base}/scheduler/jobs`, bare: `${base}/bare/jobs` }
    }
    const result: Record<string, unknown> = {}
    let phase = 0
    for (const kind of ['get', 'post'] as const) {
      const method = kind === 'get' ? 'GET' : 'POST'
      const run = async (which: 'ours' | 'bare', seconds: number): Promise<Load> =>
        await load({ url: routes[kind][which], method, seconds, connections: p.connections, idPrefix: `${which}${phase++}` })
      await run('ours', 1)
      await run('bare', 1)
      const loads = { ours: [] as Load[], bare: [] as Load[] }
      for (const which of ['ours', 'bare', 'bare', 'ours'] as const) loads[which].push(await run(which, p.seconds))
      const mean = (xs: Load[], key: 'rps' | 'p99'): number => xs.reduce((s, x) => s + x[key], 0) / xs.length
      const failed = [...loads.ours, ...loads.bare].reduce((s, x) => s + x.non2xx + x.errors, 0)
      if (failed > 0) result[`${kind}Failed`] = failed
      const K = kind === 'get' ? 'Get' : 'Post'
      result[`${kind}Rps`] = round(mean(loads.ours, 'rps'), 0)
      result[`bare${K}Rps`] = round(mean(loads.bare, 'rps'), 0)
      result[`${kind}P99`] = round(mean(loads.ours, 'p99'), 1)
      result[`bare${K}P99`] = round(mean(loads.bare, 'p99'), 1)
      // Ratios ours vs bare, both "higher is worse": bare req/s ÷ ours, ours p99 ÷ bare.
      result[`${kind}RpsRatio`] = round(mean(loads.bare, 'rps') / mean(loads.ours, 'rps'), 2)
      result[`${kind}P99Ratio`] = round(mean(loads.ours, 'p99') / Math.max(mean(loads.bare, 'p99'), 1), 2)
    }
    return result
  } finally {
    await app.close()
  }
}
