/** Every scheduler the bench can run, by name. Ours are judged against the targets; the rest are peers. */
import { BullmqAdapter, dropBullmqQueue } from './bullmq.js'
import { CronerAdapter } from './croner.js'
import { NodeCronAdapter } from './node-cron.js'
import { OursAdapter, dropRedisPrefix, redisPrefix } from './ours.js'
import { ToadAdapter } from './toad.js'
import type { AdapterInfo } from './types.js'

export const adapters: AdapterInfo[] = [
  { name: 'ours-memory', ours: true, kinds: ['cron-second', 'interval', 'once'], sharesAcrossProcesses: false, needsRedis: false, create: async () => new OursAdapter('ours-memory') },
  { name: 'ours-sqlite', ours: true, kinds: ['cron-second', 'interval', 'once'], sharesAcrossProcesses: true, needsRedis: false, create: async () => new OursAdapter('ours-sqlite') },
  { name: 'ours-redis', ours: true, kinds: ['cron-second', 'interval', 'once'], sharesAcrossProcesses: true, needsRedis: true, create: async () => new OursAdapter('ours-redis'), dropShared: async (shared) => { await dropRedisPrefix(redisPrefix({ dir: '', shared })) } },
  { name: 'toad-scheduler', ours: false, kinds: ['cron-second', 'interval', 'once'], sharesAcrossProcesses: false, needsRedis: false, create: async () => new ToadAdapter() },
  { name: 'croner', ours: false, kinds: ['cron-second', 'once'], sharesAcrossProcesses: false, needsRedis: false, create: async () => new CronerAdapter() },
  { name: 'node-cron', ours: false, kinds: ['cron-second', 'once'], sharesAcrossProcesses: false, needsRedis: false, create: async () => new NodeCronAdapter() },
  { name: 'bullmq', ours: false, kinds: ['cron-second', 'interval', 'once'], sharesAcrossProcesses: true, needsRedis: true, create: async () => new BullmqAdapter(), dropShared: dropBullmqQueue }
]

export function adapterInfo (name: string): AdapterInfo {
  const info = adapters.find((a) => a.name === name)
  if (info === undefined) throw new Error(`unknown adapter '${name}' (known: ${adapters.map((a) => a.name).join(', ')})`)
  return info
}
