/**
 * The Lua scripts of the Redis store, each with the part of the shared prelude (_common.lua) it
 * uses. Redis runs a script's whole text at every call, and every local function defined there
 * is made anew each time: the full prelude cost about 30 µs of the server's CPU a call, most of
 * it for helpers the script never calls.
 */
import { readFileSync } from 'node:fs'

export const SCRIPTS = [
  'addJob', 'updateJob', 'removeJob', 'acquireDueJobs', 'releaseJobs', 'insertRuns', 'renewRunLeases',
  'finishRuns', 'expireRuns', 'nextWakeTime', 'getRuns', 'readJobs', 'queryJobs', 'overdueJobs', 'setSchedulerState'
] as const
export type ScriptName = typeof SCRIPTS[number]

/** One top-level `local` of the prelude, with the comment lines above it. */
interface Definition { names: string[], text: string }

const IDENTIFIER = /[A-Za-z_]\w*/g
const LOCAL = /^local (?:function )?([A-Za-z_]\w*(?:\s*,\s*[A-Za-z_]\w*)*)/

/** Splits the prelude at its top-level `local` lines (each definition runs to the next one). */
export function preludeDefinitions (common: string): Definition[] {
  const defs: Definition[] = []
  let pending: string[] = []
  for (const line of common.split('\n')) {
    const m = LOCAL.exec(line)
    if (m !== null) {
      defs.push({ names: (m[1] as string).split(',').map((n) => n.trim()), text: [...pending, line].join('\n') })
      pending = []
    } else if (defs.length > 0 && /^(\s|end\b|}|\])/.test(line)) {
      // The body of the definition above (indented, or its closing line).
      const def = defs[defs.length - 1] as Definition
      def.text += '\n' + line
    } else {
      // A comment or a blank line: it goes with the definition below.
      pending.push(line)
    }
  }
  if (pending.length > 0 && defs.length > 0) (defs[defs.length - 1] as Definition).text += '\n' + pending.join('\n')
  return defs
}

/**
 * The definitions `body` uses, directly or through other definitions, in prelude order (so each
 * one still comes after what it uses). A name mentioned only in a comment pulls its definition in
 * too: harmless, a little more to run.
 */
export function preludeFor (defs: Definition[], body: string): string {
  const byName = new Map<string, number>()
  defs.forEach((def, i) => { for (const name of def.names) byName.set(name, i) })
  const needed = new Set<number>()
  const queue = [body]
  while (queue.length > 0) {
    for (const word of (queue.pop() as string).match(IDENTIFIER) ?? []) {
      const i = byName.get(word)
      if (i === undefined || needed.has(i)) continue
      needed.add(i)
      queue.push((defs[i] as Definition).text)
    }
  }
  return defs.filter((_, i) => needed.has(i)).map((def) => def.text).join('\n')
}

let sources: Map<ScriptName, string> | null = null

/** The scripts, each with what it uses of the prelude in front; read once per process. */
export function scriptSources (): Map<ScriptName, string> {
  if (sources !== null) return sources
  const dir = new URL('./redis/', import.meta.url)
  const defs = preludeDefinitions(readFileSync(new URL('_common.lua', dir), 'utf8'))
  sources = new Map(SCRIPTS.map((name) => {
    const body = readFileSync(new URL(`${name}.lua`, dir), 'utf8')
    return [name, `${preludeFor(defs, body)}\n${body}`]
  }))
  return sources
}
