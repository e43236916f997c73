/**
 * In-process async execution with a concurrency limit. Work beyond the limit waits in a queue.
 *
 * Scheduled fires and manual runs wait apart: a free slot goes to a waiting scheduled fire first,
 * manual runs take at most `maxConcurrency - 1` slots (all of one when there is only one), and
 * at most `manualQueueLimit` manual runs wait at once. So no number of manual runs keeps the
 * schedule from firing; a scheduled fire that still cannot start within its grace is recorded
 * missed by the runner.
 */
export class Executor {
  readonly name: string
  readonly maxConcurrency: number
  /** Manual runs that may wait for a slot at once; more are refused (HTTP 429). */
  readonly manualQueueLimit: number
  #running = 0
  #runningManual = 0
  readonly #queue: Array<() => Promise<void>> = []
  readonly #manual: Array<() => Promise<void>> = []
  readonly #idleWaiters: Array<() => void> = []
  /** Called whenever a slot frees up, so the scheduler can claim more due jobs. */
  onSlotFree: () => void = () => {}

  constructor (name: string, maxConcurrency: number) {
    this.name = name
    this.maxConcurrency = maxConcurrency
    this.manualQueueLimit = Math.max(10, maxConcurrency)
  }

  get running (): number { return this.#running }
  /** Scheduled work waiting for a slot. */
  get queued (): number { return this.#queue.length }
  /** Manual runs waiting for a slot. */
  get manualWaiting (): number { return this.#manual.length }
  get free (): number { return Math.max(0, this.maxConcurrency - this.#running - this.#queue.length) }
  /** Slots manual runs may hold at once. */
  get manualSlots (): number { return Math.max(1, this.maxConcurrency - 1) }

  /** Whether one more manual run may wait (or start) now. */
  get acceptsManual (): boolean {
    return this.#manual.length < this.manualQueueLimit
  }

  submit (work: () => Promise<void>, { manual = false }: { manual?: boolean } = {}): void {
    (manual ? this.#manual : this.#queue).push(work)
    this.#pump()
  }

  /**
   * Takes waiting work out of the queue (a scheduled fire whose grace passed before it started).
   * Returns false when it already started or was never queued.
   */
  withdraw (work: () => Promise<void>): boolean {
    const i = this.#queue.indexOf(work)
    if (i < 0) return false
    this.#queue.splice(i, 1)
    this.#settleIfIdle()
    return true
  }

  /** Resolves when nothing runs or waits. */
  async idle (): Promise<void> {
    if (this.#running === 0 && this.#queue.length === 0 && this.#manual.length === 0) return
    await new Promise<void>((resolve) => this.#idleWaiters.push(resolve))
  }

  #next (): { work: () => Promise<void>, manual: boolean } | undefined {
    const scheduled = this.#queue.shift()
    if (scheduled !== undefined) return { work: scheduled, manual: false }
    if (this.#runningManual >= this.manualSlots) return undefined
    const manual = this.#manual.shift()
    return manual === undefined ? undefined : { work: manual, manual: true }
  }

  #pump (): void {
    while (this.#running < this.maxConcurrency) {
      const next = this.#next()
      if (next === undefined) break
      this.#running++
      if (next.manual) this.#runningManual++
      // `work` handles its own errors; the catch only guards the executor's bookkeeping.
      next.work().catch(() => {}).finally(() => {
        this.#running--
        if (next.manual) this.#runningManual--
        this.#pump()
        this.#settleIfIdle()
        this.onSlotFree()
      })
    }
  }

  #settleIfIdle (): void {
    if (this.#running === 0 && this.#queue.length === 0 && this.#manual.length === 0) {
      for (const resolve of this.#idleWaiters.splice(0)) resolve()
    }
  }
}
