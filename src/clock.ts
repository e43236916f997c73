/** Time source and timers, injectable so tests drive the scheduler without sleeping. */
export interface Clock {
  now (): number
  setTimeout (fn: () => void, ms: number): unknown
  clearTimeout (handle: unknown): void
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => { clearTimeout(handle as NodeJS.Timeout) }
}

/** Lets pending promise chains (store calls, task bodies) settle between manual clock steps. */
async function settle (rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve))
}

/**
 * A clock that only moves when told to. `advance` fires due timers in time order, letting async
 * work settle after each, so a test can say "an hour passes" and assert what ran.
 */
export class ManualClock implements Clock {
  #now: number
  #seq = 0
  readonly #timers = new Map<number, { at: number, fn: () => void }>()

  constructor (start: number | Date = Date.UTC(2030, 0, 1)) {
    this.#now = typeof start === 'number' ? start : start.getTime()
  }

  now (): number { return this.#now }

  setTimeout (fn: () => void, ms: number): unknown {
    const id = ++this.#seq
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn })
    return id
  }

  clearTimeout (handle: unknown): void { this.#timers.delete(handle as number) }

  /** Number of pending timers (for tests that check nothing leaks). */
  get pendingTimers (): number { return this.#timers.size }

  async advance (ms: number): Promise<void> {
    const target = this.#now + ms
    await settle()
    for (;;) {
      let nextId: number | undefined
      let next: { at: number, fn: () => void } | undefined
      for (const [id, timer] of this.#timers) {
        if (timer.at <= target && (next === undefined || timer.at < next.at)) { nextId = id; next = timer }
      }
      if (next === undefined || nextId === undefined) break
      this.#timers.delete(nextId)
      this.#now = Math.max(this.#now, next.at)
      next.fn()
      await settle()
    }
    this.#now = target
    await settle()
  }

  /** Moves the clock without firing timers, as a suspended laptop or a clock step would. */
  jump (ms: number): void { this.#now += ms }
}
