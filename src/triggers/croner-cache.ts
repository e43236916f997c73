/**
 * Shared croner instances, used only as calculators of wall-clock times: constructed without a
 * callback they start no timer, and `nextRun(date)` is pure. They run at UTC offset 0, so a Date
 * in and out stands for a wall time; the cron trigger turns wall times into instants in the job's
 * zone (DST rules). One costs ~80 KB of heap, so jobs with the same pattern and options share
 * one. Recently used ones are held strongly; others stay shared for as long as some trigger still
 * holds them (weak entries), then go.
 */
import { Cron, type CronOptions } from 'croner'

export interface CronerOptions {
  mode?: CronOptions['mode']
  domAndDow?: boolean
}

const STRONG_LIMIT = 256
const strong = new Map<string, Cron>()
const weak = new Map<string, WeakRef<Cron>>()
const registry = new FinalizationRegistry<string>(key => {
  if (weak.get(key)?.deref() === undefined) weak.delete(key)
})

export function cronFor (pattern: string, opts: CronerOptions = {}): Cron {
  const mode = opts.mode ?? '7-part'
  const domAndDow = opts.domAndDow ?? false
  const key = `${pattern}|${mode}|${domAndDow ? 'and' : 'or'}`
  let cron = strong.get(key)
  if (cron !== undefined) {
    strong.delete(key) // re-insert: Map order doubles as LRU order
  } else {
    cron = weak.get(key)?.deref()
    if (cron === undefined) {
      // utcOffset 0, not timezone 'UTC': plain arithmetic, about 20 times faster than Intl.
      cron = new Cron(pattern, { utcOffset: 0, mode, domAndDow })
      weak.set(key, new WeakRef(cron))
      registry.register(cron, key)
    }
  }
  strong.set(key, cron)
  if (strong.size > STRONG_LIMIT) strong.delete(strong.keys().next().value!)
  return cron
}
