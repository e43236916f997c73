/**
 * A system clock that times the scheduler loop: the cost of a wakeup is the time from a timer
 * firing to the loop arming its next sleep (every wakeup ends by arming one). The loop arms a long
 * sleep early and waits out the rest with short timers (src/core/early-wake.ts): those are part of
 * one wakeup, and only the time spent between a timer firing and the next one armed counts.
 */
import type { Clock } from '../../src/index.js'
import { nowMs } from './clock.js'

/** A timer at least this long is the loop's next sleep, not the rest of an early-armed one. */
const SLEEP_MS = 10

export class WakeupClock implements Clock {
  costs: number[] = []
  #firedAt: number | null = null
  #cost = 0

  now (): number { return Date.now() }

  setTimeout (fn: () => void, ms: number): unknown {
    if (this.#firedAt !== null) {
      this.#cost += nowMs() - this.#firedAt
      this.#firedAt = null
      if (ms >= SLEEP_MS) {
        this.costs.push(this.#cost)
        this.#cost = 0
      }
    }
    return setTimeout(() => {
      this.#firedAt = nowMs()
      fn()
    }, ms)
  }

  clearTimeout (handle: unknown): void { clearTimeout(handle as NodeJS.Timeout) }
}
