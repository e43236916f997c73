/**
 * In-process async execution with a concurrency limit. Work beyond the limit waits in a queue.
 *
 * Scheduled fires and manual runs wait apart: a free slot goes to a waiting scheduled fire first,
 * manual runs take at most `maxConcurrency - 1` slots (all of one when there is only one), and
 * at most `manualQueueLimit` manual runs wait at once. So no number of manual runs keeps the
 * schedule from firing; a scheduled fire that still cannot start within its grace is recorded
 * missed by the runner.
 */
/**
 * Work in a slot: `start` returns a promise while it holds the slot, or nothing when it is done
 * already. An object rather than a function, so that a run can be its own work (no closure per fire).
 */
export interface Work { start: () => Promise<void> | undefined }

export class Executor {
  readonly name: string
  readonly maxConcurrency: number
  /** Manual runs that may wait for a slot at once; more are refused (HTTP 429). */
  readonly manualQueueLimit: number
  #running = 0
  #runningManual = 0
  readonly #queue: Array<Work> = []
  readonly #manual: Array<Work> = []
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

  submit (work: Work, manual = false): void {
    if (!manual && this.#queue.length === 0 && this.#running < this.maxConcurrency) {
      // The usual fire: a free slot and nobody before it in line, so it runs without queueing.
      if (this.#run(work, false)) this.#freed()
      return
    }
    (manual ? this.#manual : this.#queue).push(work)
    this.#pump()
  }

  /**
   * Takes waiting work out of the queue (a scheduled fire whose grace passed before it started).
   * Returns false when it already started or was never queued.
   */
  withdraw (work: Work): boolean {
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

  #pump (): void {
    let freed = false
    while (this.#running < this.maxConcurrency) {
      // Scheduled fires first; manual runs only within their share of the slots.
      let work = this.#queue.shift()
      let manual = false
      if (work === undefined && this.#runningManual < this.manualSlots) {
        work = this.#manual.shift()
        manual = true
      }
      if (work === undefined) break
      if (this.#run(work, manual)) freed = true
    }
    if (freed) this.#freed()
  }

  /** Runs work in a slot; true when it was done at once (a task that returned), its slot free again. */
  #run (work: Work, manual: boolean): boolean {
    this.#running++
    if (manual) this.#runningManual++
    let pending: Promise<void> | undefined
    try {
      pending = work.start()
    } catch {
      // `work` handles its own errors; this only guards the executor's bookkeeping.
    }
    if (pending === undefined) {
      this.#running--
      if (manual) this.#runningManual--
      return true
    }
    const done = (): void => {
      this.#running--
      if (manual) this.#runningManual--
      this.#pump()
      this.#settleIfIdle()
      this.onSlotFree()
    }
    pending.then(done, done)
    return false
  }

  #freed (): void {
    this.#settleIfIdle()
    this.onSlotFree()
  }

  #settleIfIdle (): void {
    // Checked first: every fire passes here, and splice would allocate an empty list each time.
    if (this.#idleWaiters.length > 0 && this.#running === 0 && this.#queue.length === 0 && this.#manual.length === 0) {
      for (const resolve of this.#idleWaiters.splice(0)) resolve()
    }
  }
}
