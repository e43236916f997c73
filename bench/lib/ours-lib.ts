/**
 * fastify-apscheduler as users run it: the compiled package in dist/ (`npm run build`, which
 * `npm run bench` does first), not the TypeScript sources through tsx, whose transform adds its own
 * cost to every function. BENCH_FROM_SRC=1 runs the sources instead (no build needed).
 */
import type * as Lib from '../../src/index.js'

const path = process.env.BENCH_FROM_SRC === '1' ? '../../src/index.js' : '../../dist/src/index.js'
export const lib = await import(path) as typeof Lib
