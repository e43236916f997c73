// Transpiles the benchmark harness to JavaScript in dist-bench/ (`npm run bench` does it first), so
// the processes it measures run without a TypeScript loader: tsx's hooks thread alone adds about
// 37 MB to a process's RSS, which S2 and S3 report for every scheduler. esbuild (tsx's own
// transpiler) strips the types file by file; `npm run typecheck` checks them.
import { cpSync, readdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const here = fileURLToPath(new URL('.', import.meta.url))
const out = fileURLToPath(new URL('../dist-bench/bench/', import.meta.url))

function files (dir, ext) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return files(path, ext)
    return entry.name.endsWith(ext) && !entry.name.endsWith('.d.ts') ? [path] : []
  })
}

// What the measured processes run: the scenario child, the processes it forks, and their modules.
const roots = ['child.ts', 'worker-process.ts', 'load-client.ts'].map((name) => join(here, name))
const dirs = ['adapters', 'lib', 'scenarios'].map((name) => join(here, name))
rmSync(out, { recursive: true, force: true })
await build({ entryPoints: [...roots, ...dirs.flatMap((dir) => files(dir, '.ts'))], outdir: out, outbase: here, format: 'esm', platform: 'node', target: 'node20', logLevel: 'warning' })
for (const path of dirs.flatMap((dir) => files(dir, '.mjs'))) cpSync(path, join(out, path.slice(here.length)))
