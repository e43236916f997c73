/**
 * One process of a multi-process scenario (S4, S2W): opens an adapter on the shared name, adds the
 * per-second jobs, fires, and on 'stop' closes and sends back what it started.
 */
import { adapterInfo } from './adapters/index.js'
import { FireLog } from './lib/fire-log.js'
import { addInBatches } from './scenarios/fires.js'

const { adapter: name, dir, shared, node, jobs, capacity } = JSON.parse(process.argv[2] ?? '{}') as { adapter: string, dir: string, shared: string, node: string, jobs: number, capacity?: number }
const send = (msg: Record<string, unknown>): void => { process.send?.(msg) }

try {
  const adapter = await adapterInfo(name).create()
  const log = new FireLog(capacity ?? jobs * 600)
  await adapter.open({ dir, shared, node, onFire: log.record })
  await addInBatches(adapter, Array.from({ length: jobs }, (_, n) => ({ kind: 'cron-second' as const, n })), 120_000)
  await adapter.start()
  // This process's CPU from its start of firing to 'stop' (adding the jobs left out).
  const cpu0 = process.cpuUsage()
  process.on('message', (msg: { type: string }) => {
    if (msg.type !== 'stop') return
    const cpu = process.cpuUsage(cpu0)
    void adapter.close().finally(() => {
      // Disconnected only once the (large) message is written: a disconnect right away can drop it.
      process.send?.({ type: 'fires', node, fires: log.toJSON(), cpuMs: (cpu.user + cpu.system) / 1000 }, () => { process.disconnect() })
    })
  })
  send({ type: 'ready', node })
} catch (err) {
  send({ type: 'error', node, error: (err as Error).stack ?? String(err) })
  process.exitCode = 1
}
