/**
 * S4 (and S2W): several OS processes share one store (one SQLite file, one Redis prefix or one BullMQ queue)
 * and all load the same per-second cron jobs. Each (job, second) should start once across them;
 * libraries without a shared store start it once per process (duplication factor 3).
 */
import { fork, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { adapterInfo } from '../adapters/index.js'
import { forkable } from '../lib/forkable.js'
import { analyseRecurring } from '../lib/analyse.js'
import { nowMs, sleep } from '../lib/clock.js'
import type { FireArrays } from '../lib/fire-log.js'
import { redisCpuSeconds } from '../adapters/ours.js'

export interface ProcessesParams {
  processes: number
  jobs: number
  seconds: number
  warmupMs: number
  settleMs: number
}

const WORKER = forkable('../worker-process.ts', import.meta.url)

interface WorkerMessage { type: 'ready' | 'fires' | 'error', node: string, fires?: FireArrays, error?: string, cpuMs?: number }

export async function runProcesses (adapterName: string, p: ProcessesParams, dir: string): Promise<Record<string, unknown>> {
  const info = adapterInfo(adapterName)
  if (!info.kinds.includes('cron-second')) return { skipped: `${adapterName} has no cron jobs` }
  const shared = adapterName.endsWith('sqlite') ? join(dir, 'shared.sqlite') : `s4-${process.pid}-${randomBytes(4).toString('hex')}`
  const children: ChildProcess[] = []
  const collected = { n: [] as number[], due: [] as number[], start: [] as number[], node: [] as string[] }
  const pending = new Map<string, (msg: WorkerMessage) => void>()
  try {
    const ready = await Promise.all(Array.from({ length: p.processes }, async (_, i) => {
      const node = `p${i + 1}`
      // Room for every fire of the run in any one process.
      const capacity = p.jobs * (p.seconds + Math.ceil((p.warmupMs + p.settleMs) / 1000) + 120)
      const child = fork(WORKER.path, [JSON.stringify({ adapter: adapterName, dir, shared, node, jobs: p.jobs, capacity })], {
        execArgv: WORKER.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc']
      })
      children.push(child)
      return await new Promise<WorkerMessage>((resolve, reject) => {
        child.on('message', (msg: WorkerMessage) => {
          if (msg.type === 'error') reject(new Error(`${node}: ${msg.error ?? ''}`))
          else if (msg.type === 'ready') resolve(msg)
          else pending.get(node)?.(msg)
        })
        child.once('exit', (code) => reject(new Error(`${node} exited with ${code ?? 'a signal'} before it was ready`)))
      })
    }))
    const from = Math.ceil((nowMs() + p.warmupMs) / 1000) * 1000
    const to = from + p.seconds * 1000
    // The Redis server's own CPU from the start of the window to its end (plus settling), beside ours.
    await sleep(from - nowMs())
    const redis0 = info.needsRedis ? await redisCpuSeconds() : null
    await sleep(to + p.settleMs - nowMs())
    const redisCpuS = redis0 === null ? undefined : Math.round((await redisCpuSeconds() - redis0) * 100) / 100
    const results = await Promise.all(ready.map(async (r, i) => await new Promise<WorkerMessage>((resolve) => {
      pending.set(r.node, resolve)
      children[i]?.send({ type: 'stop' })
    })))
    // The workers' CPU (all of them, from their start of firing to stop), beside Redis's.
    const cpuS = Math.round(results.reduce((sum, r) => sum + (r.cpuMs ?? 0), 0) / 10) / 100
    for (const r of results) {
      const f = r.fires as FireArrays
      for (let i = 0; i < f.n.length; i++) {
        collected.n.push(f.n[i] as number)
        collected.due.push(f.due[i] as number)
        collected.start.push(f.start[i] as number)
        collected.node.push(r.node)
      }
    }
    return { processes: p.processes, ...analyseRecurring(collected, { jobs: p.jobs, from, to, periodMs: 1000 }), cpuS, ...(redisCpuS === undefined ? {} : { redisCpuS }) }
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
    if (info.dropShared !== undefined) await info.dropShared(shared)
  }
}
