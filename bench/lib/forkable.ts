import { fileURLToPath } from 'node:url'

/**
 * Whether this harness runs transpiled (dist-bench/, `npm run bench`) or as TypeScript under tsx.
 * Transpiled, the processes it forks run without a TypeScript loader, whose hooks thread would
 * add tens of MB to the RSS they report.
 */
export const transpiled = import.meta.url.endsWith('.js')

/** A bench script to fork, named by its .ts source relative to `base` (an import.meta.url). */
export function forkable (source: string, base: string): { path: string, execArgv: string[] } {
  return transpiled
    ? { path: fileURLToPath(new URL(source.replace(/\.ts$/, '.js'), base)), execArgv: [] }
    : { path: fileURLToPath(new URL(source, base)), execArgv: ['--import', 'tsx'] }
}
