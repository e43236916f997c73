/**
 * A system clock that times the scheduler loop: the cost of a wakeup is the time from a timer
 * firing to the loop arming its next timer (every wakeup ends by arming one). Timers Node fires a
 * little early only re-arm for the rest; those are not counted.
 */
import type { Clock } from '../../src/index.js'
import { nowMs } from './clock.js'

export class WakeupClock implements Clock {
  costs: number[] = []
  #firedAt: number | null = null

  now (): number { return Date.now() }

  setTimeout (fn: () => void, ms: number): unknown {
    if (this.#firedAt !== null) {
      this.costs.push(nowMs() - this.#firedAt)
      this.#firedAt = null
    }
    const target = Date.now() + ms
    return setTimeout(() => {
      this.#firedAt = Date.now() >= target ? nowMs() : null
      fn()
    }, ms)
  }

  clearTimeout (handle: unknown): void { clearTimeout(handle as NodeJS.Timeout) }
}
