/** Time source and timers, injectable so tests drive the scheduler without sleeping. */
export interface Clock {
  /** Wall time, epoch ms: what schedules and leases are written in. It can step (NTP, an operator). */
  now (): number
  /** Timers run on monotonic time, as Node's do: a step of the wall clock does not move them. */
  setTimeout (fn: () => void, ms: number): unknown
  clearTimeout (handle: unknown): void
  /**
   * Monotonic time in ms (any origin), never stepped. The scheduler compares it with `now()` to
   * notice wall-clock steps; a clock without it is never judged to have stepped.
   */
  monotonic? (): number
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => { clearTimeout(handle as NodeJS.Timeout) },
  // CLOCK_MONOTONIC: the same for every process on the host.
  monotonic: () => Number(process.hrtime.bigint()) / 1e6
}

/** Lets pending promise chains (store calls, task bodies) settle between manual clock steps. */
async function settle (rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}

/**
 * A clock that only moves when told to. `advance` fires due timers in time order, letting async
 * work settle after each, so a test can say "an hour passes" and assert what ran. Timers run on its
 * monotonic time; `step` moves only the wall time, as an NTP correction or an operator would.
 */
export class ManualClock implements Clock {
  /** Monotonic time; the wall time is this plus #offset. */
  #mono: number
  #offset = 0
  #seq = 0
  readonly #timers = new Map<number, { at: number, fn: () => void }>()

  constructor (start: number | Date = Date.UTC(2030, 0, 1)) {
    this.#mono = typeof start === 'number' ? start : start.getTime()
  }

  now (): number { return this.#mono + this.#offset }

  monotonic (): number { return this.#mono }

  setTimeout (fn: () => void, ms: number): unknown {
    const id = ++this.#seq
    this.#timers.set(id, { at: this.#mono + Math.max(0, ms), fn })
    return id
  }

  clearTimeout (handle: unknown): void { this.#timers.delete(handle as number) }

  /** Number of pending timers (for tests that check nothing leaks). */
  get pendingTimers (): number { return this.#timers.size }

  async advance (ms: number): Promise<void> {
    const target = this.#mono + ms
    await settle()
    for (;;) {
      let nextId: number | undefined
      let next: { at: number, fn: () => void } | undefined
      for (const [id, timer] of this.#timers) {
        if (timer.at <= target && (next === undefined || timer.at < next.at)) { nextId = id; next = timer }
      }
      if (next === undefined || nextId === undefined) break
      this.#timers.delete(nextId)
      this.#mono = Math.max(this.#mono, next.at)
      next.fn()
      await settle()
    }
    this.#mono = target
    await settle()
  }

  /**
   * Moves wall and monotonic time without firing timers, as a process stopped or blocked for that
   * long would see it: the timers that came due fire at the next `advance`.
   */
  jump (ms: number): void { this.#mono += ms }

  /** Steps the wall clock alone (negative: back), as NTP or an operator does; timers keep their time. */
  step (ms: number): void { this.#offset += ms }
}
