/**
 * fastify-apscheduler as users run it: the compiled package in dist/ (`npm run build`, which
 * `npm run bench` does first), not the TypeScript sources through tsx, whose transform adds its own
 * cost to every function. BENCH_FROM_SRC=1 runs the sources instead (the harness then runs under
 * tsx too).
 */
import type * as Lib from '../../src/index.js'
import { transpiled } from './forkable.js'

// Relative to this module: bench/lib/ under tsx, dist-bench/bench/lib/ transpiled.
const root = transpiled ? '../../../' : '../../'
const path = process.env.BENCH_FROM_SRC === '1' ? `${root}src/index.js` : `${root}dist/src/index.js`
export const lib = await import(path) as typeof Lib
