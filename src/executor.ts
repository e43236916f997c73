/**
 * In-process async execution with a concurrency limit. Work beyond the limit waits in a FIFO
 * queue; the scheduler claims no more than the free slots, so the queue stays short.
 */
export class Executor {
  readonly name: string
  readonly maxConcurrency: number
  #running = 0
  readonly #queue: Array<() => Promise<void>> = []
  readonly #idleWaiters: Array<() => void> = []
  /** Called whenever a slot frees up, so the scheduler can claim more due jobs. */
  onSlotFree: () => void = () => {}

  constructor (name: string, maxConcurrency: number) {
    this.name = name
    this.maxConcurrency = maxConcurrency
  }

  get running (): number { return this.#running }
  get queued (): number { return this.#queue.length }
  get free (): number { return Math.max(0, this.maxConcurrency - this.#running - this.#queue.length) }

  submit (work: () => Promise<void>): void {
    this.#queue.push(work)
    this.#pump()
  }

  /** Resolves when nothing runs or waits. */
  async idle (): Promise<void> {
    if (this.#running === 0 && this.#queue.length === 0) return
    await new Promise<void>((resolve) => this.#idleWaiters.push(resolve))
  }

  #pump (): void {
    while (this.#running < this.maxConcurrency && this.#queue.length > 0) {
      const work = this.#queue.shift() as () => Promise<void>
      this.#running++
      // `work` handles its own errors; the catch only guards the executor's bookkeeping.
      work().catch(() => {}).finally(() => {
        this.#running--
        this.#pump()
        if (this.#running === 0 && this.#queue.length === 0) {
          for (const resolve of this.#idleWaiters.splice(0)) resolve()
        }
        this.onSlotFree()
      })
    }
  }
}
