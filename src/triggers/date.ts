/** The date trigger: one fire at `run_date`; a past date still fires once, now. */
import type { DateTriggerSpec, Trigger } from '../types.js'

export function compileDate (spec: DateTriggerSpec): Trigger {
  return {
    spec,
    first: () => spec.run_date,
    next: () => null
  }
}
