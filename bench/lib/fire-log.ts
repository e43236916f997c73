/**
 * Fires as parallel arrays (job number, due, start) in shared memory, cheap to record at 100,000s
 * of fires and readable by the watchdog thread while the main thread is busy.
 */
export interface FireArrays { n: ArrayLike<number>, due: ArrayLike<number>, start: ArrayLike<number>, node?: string[] }

export interface FireLogBuffers { n: SharedArrayBuffer, due: SharedArrayBuffer, start: SharedArrayBuffer, count: SharedArrayBuffer }

export class FireLog implements FireArrays {
  readonly buffers: FireLogBuffers
  readonly #n: Float64Array
  readonly #due: Float64Array
  readonly #start: Float64Array
  readonly #count: Int32Array
  readonly #seen = new Set<number>()
  #scanned = 0
  dropped = 0

  constructor (capacity: number, buffers?: FireLogBuffers) {
    this.buffers = buffers ?? {
      n: new SharedArrayBuffer(capacity * 8), due: new SharedArrayBuffer(capacity * 8), start: new SharedArrayBuffer(capacity * 8), count: new SharedArrayBuffer(4)
    }
    this.#n = new Float64Array(this.buffers.n)
    this.#due = new Float64Array(this.buffers.due)
    this.#start = new Float64Array(this.buffers.start)
    this.#count = new Int32Array(this.buffers.count)
  }

  readonly record = (n: number, due: number, start: number): void => {
    const i = Atomics.load(this.#count, 0)
    if (i >= this.#n.length) { this.dropped++; return }
    this.#n[i] = n
    this.#due[i] = due
    this.#start[i] = start
    Atomics.store(this.#count, 0, i + 1)
  }

  get length (): number { return Atomics.load(this.#count, 0) }
  get n (): Float64Array { return this.#n.subarray(0, this.length) }
  get due (): Float64Array { return this.#due.subarray(0, this.length) }
  get start (): Float64Array { return this.#start.subarray(0, this.length) }

  countDueIn (from: number, to: number): number {
    let count = 0
    const due = this.due
    for (let i = 0; i < due.length; i++) if ((due[i] as number) >= from && (due[i] as number) < to) count++
    return count
  }

  /** Jobs that fired at least once; incremental, as the scenarios poll it while the scheduler runs. */
  distinctJobs (): number {
    const end = this.length
    for (let i = this.#scanned; i < end; i++) this.#seen.add(this.#n[i] as number)
    this.#scanned = end
    return this.#seen.size
  }

  /** Plain arrays, for IPC. */
  toJSON (): { n: number[], due: number[], start: number[] } {
    return { n: Array.from(this.n), due: Array.from(this.due), start: Array.from(this.start) }
  }
}
