/**
 * Heap cost of cron triggers: one croner object per job versus the shared cache the core uses.
 *
 *   node --expose-gc --import tsx bench/cron-memory.ts     # JOBS=10000 PATTERNS=10
 */
import { Cron } from 'croner'
import { cronFor } from '../src/triggers/croner-cache.js'

const JOBS = Number(process.env.JOBS ?? 10000)
const PATTERNS = Number(process.env.PATTERNS ?? 10)
const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) throw new Error('run with node --expose-gc')

function heapAfter (build: () => unknown[]): { kept: unknown[], bytes: number } {
  gc!()
  const before = process.memoryUsage().heapUsed
  const kept = build()
  gc!()
  return { kept, bytes: process.memoryUsage().heapUsed - before }
}

const pattern = (i: number): string => `0 ${i % PATTERNS} * * * * *`
const perJob = heapAfter(() => Array.from({ length: JOBS }, (_, i) => new Cron(pattern(i), { timezone: 'Europe/Berlin' })))
console.log(`one Cron per job:   ${JOBS} jobs  heap +${(perJob.bytes / 1048576).toFixed(1)} MB  (${(perJob.bytes / JOBS / 1024).toFixed(1)} KB per job)`)
perJob.kept.length = 0
const shared = heapAfter(() => Array.from({ length: JOBS }, (_, i) => cronFor(pattern(i))))
console.log(`shared (${PATTERNS} patterns): ${JOBS} jobs  heap +${(shared.bytes / 1048576).toFixed(1)} MB  (${(shared.bytes / JOBS / 1024).toFixed(2)} KB per job)`)
