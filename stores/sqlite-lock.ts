/**
 * Waiting for another process's SQLite lock without blocking the event loop.
 *
 * better-sqlite3 is synchronous: with a long busy timeout, a statement that meets a lock held by
 * another process (a backup, an open `sqlite3` shell, a stopped worker) sleeps inside SQLite and
 * the whole process (every route of the host app included) stands still. So SQLite itself waits at
 * most SYNC_BUSY_MS (0); past that the call fails with SQLITE_BUSY and is retried here after an
 * asynchronous pause, until the store's `busyTimeoutMs` has passed. Then it fails with
 * SqliteBusyError: HTTP 503 with Retry-After for the API, a retried cycle for the scheduler.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { SchedulerError } from '../src/errors.js'

/**
 * How long one SQLite call may wait for a lock synchronously, blocking the event loop: not at all.
 * Even a few milliseconds add up: twenty API writes waiting for one lock, 20 ms each per try,
 * blocked the loop for 600 ms in the lock benchmark. A failed try costs microseconds instead.
 */
export const SYNC_BUSY_MS = 0
/** Tries that follow each other by about a millisecond before the pauses grow. */
const FAST_TRIES = 5
/** The longest pause between two attempts. */
const MAX_PAUSE_MS = 50

/** The file stayed locked by another process for the whole wait. */
export class SqliteBusyError extends SchedulerError {
  /** For the HTTP `Retry-After` header. */
  readonly retryAfterSeconds = 1
  constructor (path: string, waitedMs: number, options?: { cause?: unknown }) {
    super(`The SQLite job store ${path} is locked by another process (waited ${Math.round(waitedMs)} ms); try again`, 503)
    if (options?.cause !== undefined) this.cause = options.cause
  }
}

/** SQLITE_BUSY and its extended codes (SQLITE_BUSY_SNAPSHOT, SQLITE_BUSY_RECOVERY, ...). */
export function isBusy (err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_'))
}

/** What a guarded store tells the waiter. */
export interface LockSettings {
  readonly path: string
  /** The total time a call waits for a lock before failing with SqliteBusyError. */
  readonly busyTimeoutMs: number
}

/**
 * Runs `attempt` until it does not fail with SQLITE_BUSY, pausing asynchronously between tries
 * (about 1 ms for the first tries, then 2, 4, 8 ... 50 ms, with jitter so two waiting processes do not retry in step), until
 * `busyTimeoutMs` after `started`. `attempt` must be safe to repeat after SQLITE_BUSY: a failed
 * transaction has rolled back and a failed single statement has written nothing.
 */
export async function waitForLock<T> (settings: LockSettings, attempt: () => Promise<T>, started = performance.now()): Promise<T> {
  let pause = 1
  for (let tries = 1; ; tries++) {
    try {
      return await attempt()
    } catch (err) {
      if (!isBusy(err)) throw err
      const waited = performance.now() - started
      const left = settings.busyTimeoutMs - waited
      if (left <= 0) throw new SqliteBusyError(settings.path, waited, { cause: err })
      await sleep(Math.min(left, pause * (0.5 + Math.random())))
      // A lock taken for a claim batch is held a millisecond or two and another process may take
      // the next one right after: the first tries come every millisecond or so, else the process
      // that started first could claim a whole wave of due jobs while the others back off.
      if (tries >= FAST_TRIES) pause = Math.min(pause * 2, MAX_PAUSE_MS)
    }
  }
}

/**
 * One store's writers waiting for the lock, served in the order they first met it. Without it,
 * whichever retry comes first after the lock is released wins: a claim of a job's next fire could
 * overtake the write that finishes its previous run, see that run still `running`, and skip the
 * fire for max_instances. Reads do not queue: in WAL mode they are not blocked by a writer.
 */
export class LockQueue {
  #tail: Promise<void> = Promise.resolve()
  #waiting = 0

  async run<T> (settings: LockSettings, attempt: () => Promise<T>, write: boolean): Promise<T> {
    const started = performance.now()
    if (!write) return await waitForLock(settings, attempt, started)
    if (this.#waiting === 0) {
      // The usual case: nobody waits, so no queue and no extra tick.
      try {
        return await attempt()
      } catch (err) {
        if (!isBusy(err)) throw err
      }
    }
    this.#waiting++
    const before = this.#tail
    let done!: () => void
    const mine = new Promise<void>((resolve) => { done = resolve })
    this.#tail = before.then(async () => await mine)
    try {
      const left = settings.busyTimeoutMs - (performance.now() - started)
      if (!await settlesWithin(before, left)) throw new SqliteBusyError(settings.path, performance.now() - started)
      return await waitForLock(settings, attempt, started)
    } finally {
      this.#waiting--
      done()
    }
  }
}

async function settlesWithin (promise: Promise<void>, ms: number): Promise<boolean> {
  if (ms <= 0) return false
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<boolean>((resolve) => { timer = setTimeout(resolve, ms, false) })
  try {
    return await Promise.race([promise.then(() => true), timeout])
  } finally {
    clearTimeout(timer)
  }
}

const queues = new WeakMap<object, LockQueue>()

/**
 * Makes every public async method of a store class (all but `except`) wait for locks through a
 * LockQueue of its instance; the methods named in `reads` only read and do not queue. `before`
 * runs at the start of every attempt. Each method must touch the database in at most one
 * transaction or one writing statement (after any reads), so that repeating it after SQLITE_BUSY
 * is safe, and must not call another guarded method (it would queue behind itself).
 */
export function guardLockedCalls (proto: object & LockSettings, { except, reads, before }: {
  except: readonly string[]
  reads: readonly string[]
  before?: (store: LockSettings) => Promise<void>
}): void {
  for (const name of Object.getOwnPropertyNames(proto)) {
    if (name === 'constructor' || except.includes(name)) continue
    const descriptor = Object.getOwnPropertyDescriptor(proto, name)
    const original: unknown = descriptor?.value
    // Only async methods: a synchronous one does not touch the file and must stay synchronous.
    if (typeof original !== 'function' || original.constructor.name !== 'AsyncFunction') continue
    const write = !reads.includes(name)
    Object.defineProperty(proto, name, {
      ...descriptor,
      value: async function (this: LockSettings, ...args: unknown[]): Promise<unknown> {
        let queue = queues.get(this)
        if (queue === undefined) queues.set(this, queue = new LockQueue())
        return await queue.run(this, async () => {
          if (before !== undefined) await before(this)
          return await (original as (...a: unknown[]) => Promise<unknown>).apply(this, args)
        }, write)
      }
    })
  }
}
