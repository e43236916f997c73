// The watchdog thread (see watchdog.ts) waits here in plain JavaScript: a worker that loaded tsx
// and the analysis from the start would add about 27 MB to the RSS that the scenarios measure.
// Only when the main thread is starved past its deadline does it load them to write the figures.
import { existsSync } from 'node:fs'
import { workerData } from 'node:worker_threads'

const meta = new Float64Array(workerData.meta) // [from, to, at, done, addMs]
const nap = new Int32Array(new SharedArrayBuffer(4))
for (;;) {
  Atomics.wait(nap, 0, 0, 500)
  if (meta[3] === 1) break
  const end = workerData.kind === 'once' ? meta[2] : meta[1]
  if (end > 0 && Date.now() > end + workerData.graceMs) {
    // Transpiled (dist-bench/), the report is JavaScript beside this file; as TypeScript, it needs
    // tsx, whose loader worker threads do not inherit: it is registered here.
    const transpiled = existsSync(new URL('./watchdog.js', import.meta.url))
    if (!transpiled) (await import('tsx/esm/api')).register()
    const { writeStarvedFigures } = await import(transpiled ? './watchdog.js' : './watchdog.ts')
    writeStarvedFigures(end)
    break
  }
}
