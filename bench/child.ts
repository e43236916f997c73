/**
 * Runs one scenario on one adapter in a fresh process (so memory and timers do not leak between
 * runs) and sends its figures to the harness over IPC.
 *   node --expose-gc --import tsx bench/child.ts '{"scenario":"S1","adapter":"croner","params":{...}}'
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runFires, type FireParams } from './scenarios/fires.js'
import { runProcesses, type ProcessesParams } from './scenarios/processes.js'
import { runSize, type SizeParams } from './scenarios/size.js'
import { runApi, type ApiParams } from './scenarios/api.js'

const { scenario, adapter, params, starvedFile } = JSON.parse(process.argv[2] ?? '{}') as { scenario: string, adapter: string, params: unknown, starvedFile?: string }
const dir = mkdtempSync(join(tmpdir(), 'apsched-bench-'))
let result: Record<string, unknown>
try {
  switch (scenario) {
    case 'S1': case 'S2': case 'S3': case 'S5':
      result = await runFires(adapter, params as FireParams, dir, starvedFile); break
    case 'S4': case 'S2W':
      result = await runProcesses(adapter, params as ProcessesParams, dir); break
    case 'S6':
      result = await runSize(adapter, params as SizeParams, dir); break
    case 'S7':
      result = await runApi(adapter, params as ApiParams, dir); break
    default:
      throw new Error(`unknown scenario ${scenario}`)
  }
} catch (err) {
  result = { error: (err as Error).message }
  if (process.env.BENCH_DEBUG !== undefined) console.error(err)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
process.send?.({ type: 'result', result }, () => { process.exit(0) })
if (process.send === undefined) { console.log(JSON.stringify(result)); process.exit(0) }
