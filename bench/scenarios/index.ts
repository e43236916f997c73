/** The scenarios of `npm run bench`: parameters (full and --quick), which adapters run them, runs by default. */
import type { FireParams } from './fires.js'
import type { ProcessesParams } from './processes.js'
import type { SizeParams } from './size.js'
import type { ApiParams } from './api.js'

export interface Scenario {
  id: string
  title: string
  /** Adapters in the order they alternate: ours first, then peers; the harness interleaves them. */
  adapters: string[]
  params: (quick: boolean) => FireParams | ProcessesParams | SizeParams | ApiParams
  /** Runs per adapter unless --runs says otherwise (one each: the full default run already takes 25-30 minutes). */
  defaultRuns: number
  /** The child is killed after this long (ms). */
  timeoutMs: number
  /** One child per value (S6 sizes). */
  variants?: (quick: boolean) => Array<{ label: string, params: SizeParams }>
}

const ALL = ['ours-memory', 'ours-sqlite', 'ours-redis', 'toad-scheduler', 'croner', 'node-cron', 'bullmq']

export const scenarios: Scenario[] = [
  {
    id: 'S1',
    title: '100 jobs on a per-second cron, 20 s: lateness',
    adapters: ALL,
    params: (quick) => ({ kind: 'cron-second', jobs: quick ? 20 : 100, seconds: quick ? 2 : 20, warmupMs: quick ? 1000 : 2000, settleMs: 3000, addTimeoutMs: 60_000 }),
    defaultRuns: 1,
    timeoutMs: 180_000
  },
  {
    id: 'S2',
    title: '10,000 jobs on a per-second cron, 15 s: misses, lateness, RSS',
    adapters: ALL,
    params: (quick) => ({ kind: 'cron-second', jobs: quick ? 500 : 10_000, seconds: quick ? 2 : 15, warmupMs: quick ? 1000 : 3000, settleMs: quick ? 3000 : 10_000, addTimeoutMs: 120_000 }),
    defaultRuns: 1,
    // Adding plus 3 + 15 + 10 s takes under a minute when a scheduler keeps up; one that does not
    // can hold the event loop so long that the child cannot even report: it is killed and shown as timed out.
    timeoutMs: 150_000
  },
  {
    id: 'S3',
    title: '20,000 one-shot jobs due at one instant: when the last one started',
    adapters: ALL,
    // A grace long enough that every one-shot runs however late: the figure is when the last one started.
    params: (quick) => ({ kind: 'once', jobs: quick ? 500 : 20_000, leadMs: 3000, settleMs: 60_000, addTimeoutMs: 120_000, graceSeconds: 3600 }),
    defaultRuns: 1,
    timeoutMs: 400_000
  },
  {
    id: 'S4',
    title: '3 processes, one shared store, 100 per-second cron jobs, 15 s: duplicates, misses, lateness',
    adapters: ['ours-sqlite', 'ours-redis', 'toad-scheduler', 'croner', 'node-cron', 'bullmq'],
    params: (quick) => ({ processes: 3, jobs: quick ? 20 : 100, seconds: quick ? 2 : 15, warmupMs: quick ? 1500 : 3000, settleMs: 3000 }),
    defaultRuns: 1,
    timeoutMs: 240_000
  },
  {
    id: 'S2W',
    title: '4 processes, one shared Redis, 10,000 per-second cron jobs, 15 s: duplicates, misses, lateness, Redis CPU',
    adapters: ['ours-redis', 'bullmq'],
    params: (quick) => ({ processes: 4, jobs: quick ? 500 : 10_000, seconds: quick ? 2 : 15, warmupMs: quick ? 1500 : 3000, settleMs: quick ? 3000 : 10_000 }),
    defaultRuns: 1,
    timeoutMs: 400_000
  },
  {
    id: 'S5',
    title: '1,000 jobs every 1 s, 20 s: drift per period, lateness',
    adapters: ['ours-memory', 'ours-sqlite', 'ours-redis', 'toad-scheduler', 'bullmq'],
    params: (quick) => ({ kind: 'interval', jobs: quick ? 100 : 1000, everyMs: 1000, seconds: quick ? 3 : 20, leadMs: 2000, warmupMs: 2000, settleMs: 3000, addTimeoutMs: 60_000 }),
    defaultRuns: 1,
    timeoutMs: 240_000
  },
  {
    id: 'S6',
    title: 'size: stored jobs spread over a day',
    adapters: ['ours-memory', 'ours-sqlite'],
    params: () => ({ size: 0 }),
    variants: (quick) => (quick ? [1000, 10_000] : [10_000, 100_000, 1_000_000]).map((size) => ({ label: `${size / 1000}k`, params: { size } })),
    defaultRuns: 1,
    timeoutMs: 1_200_000
  },
  {
    id: 'S7',
    title: 'API: GET /jobs/:id and POST /jobs against a bare Fastify route making the same store call',
    adapters: ['ours-memory', 'ours-sqlite'],
    params: (quick) => ({ seconds: quick ? 1 : 5, connections: 10, jobs: 1000 }),
    defaultRuns: 1,
    timeoutMs: 300_000
  }
]
