import type { Clock } from '../clock.js'
import type { JobStore } from '../store.js'

/** The time a store judges claims and leases by: its own clock when it has one (Redis), else ours. */
export function storeNow (store: JobStore, clock: Clock): number {
  return store.now?.() ?? clock.now()
}

/** A store instant as an instant of our clock (for timers), given the store's time now. */
export function toLocalTime (storeInstant: number, store: JobStore, clock: Clock): number {
  if (store.now === undefined) return storeInstant
  const local = clock.now()
  return local + (storeInstant - store.now())
}
