import type { Clock } from '../clock.js'

/** Wall and monotonic time disagreeing by more than this between two looks is a clock step. */
export const CLOCK_STEP_THRESHOLD_MS = 1000

/** A step of the wall clock: when it was noticed (wall time after it) and by how much (negative: back). */
export interface ClockStep {
  at: number
  ms: number
  /** wall − monotonic before and after the step: the same on every process of the host (CLOCK_MONOTONIC). */
  baseBefore: number
  baseAfter: number
}

/**
 * Notices steps of the wall clock (NTP, an operator, a VM restored from a snapshot) by comparing
 * how far `clock.now()` and `clock.monotonic()` moved since the last look. A clock without
 * `monotonic` never steps. Slewing (NTP's gradual correction, at most 0.5 ms per second) stays far
 * below the threshold between looks.
 */
export class ClockWatch {
  readonly #clock: Clock
  #base: number | null
  #pending: ClockStep | null = null

  constructor (clock: Clock) {
    this.#clock = clock
    this.#base = this.#read()
  }

  /** wall − monotonic now, or null when the clock has no monotonic time. */
  #read (): number | null {
    const mono = this.#clock.monotonic?.()
    return mono === undefined ? null : this.#clock.now() - mono
  }

  /** The current wall − monotonic offset (null without monotonic time). */
  get base (): number | null { return this.#base }

  /** Looks at the clocks; true when a step happened since the last `take()` (kept until taken). */
  poll (): boolean {
    const base = this.#read()
    if (base === null || this.#base === null) return false
    // Compared with the last look only, so slewing never adds up to a step.
    if (Math.abs(base - this.#base) > CLOCK_STEP_THRESHOLD_MS) {
      const before = this.#pending?.baseBefore ?? this.#base
      this.#pending = { at: this.#clock.now(), ms: base - before, baseBefore: before, baseAfter: base }
    }
    this.#base = base
    return this.#pending !== null
  }

  /** The step noticed since the last call (several are summed into one), or null. */
  take (): ClockStep | null {
    this.poll()
    const step = this.#pending
    this.#pending = null
    return step
  }
}
