/**
 * WAL checkpoints off the event loop.
 *
 * In WAL mode SQLite copies the log back into the database file (a checkpoint) inside whichever
 * commit makes the log pass `wal_autocheckpoint` pages, and with `synchronous = NORMAL` that
 * checkpoint waits for fsync: 30 to 600 ms measured here for 1,800 pages on a busy disk. The commit
 * that happened to cross the threshold (a claim, a fire's release) blocked the event loop that long.
 * So the store's own connection checkpoints only as a backstop (BACKSTOP_PAGES), and a worker thread
 * with its own connection runs a PASSIVE checkpoint every CHECKPOINT_EVERY_MS. A passive checkpoint
 * takes no lock that writers or readers wait for; when another process is checkpointing, it is
 * simply skipped until the next time.
 */
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'

/** How often the worker checkpoints (ms). */
export const CHECKPOINT_EVERY_MS = 250
/** The store connection's own automatic checkpoint threshold, should the worker fall behind (pages). */
export const BACKSTOP_PAGES = 10_000
/** Commits a store makes before it starts its worker (short-lived stores, as in tests, need none). */
export const COMMITS_BEFORE_WORKER = 64

const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads')
const Database = require(workerData.driver)
let db = null
try {
  db = new Database(workerData.path, { timeout: 0, fileMustExist: true })
} catch {
  // The file is gone (deleted or replaced): the store notices and starts a new worker.
}
const timer = setInterval(() => {
  try {
    db?.pragma('wal_checkpoint(PASSIVE)')
  } catch {
    // Busy (another connection checkpoints) or I/O trouble the store itself will meet: next time.
  }
}, workerData.everyMs)
parentPort.on('message', () => {
  clearInterval(timer)
  try { db?.close() } catch {}
  db = null
  parentPort.close()
})
`

export class WalCheckpointer {
  readonly #path: string
  #worker: Worker | null = null

  constructor (path: string) {
    this.#path = path
  }

  get running (): boolean { return this.#worker !== null }

  /** Starts the worker (idempotent). Failing to start it only leaves checkpoints to the backstop. */
  start (onError: (err: unknown) => void): void {
    if (this.#worker !== null) return
    try {
      const driver = createRequire(import.meta.url).resolve('better-sqlite3')
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { path: this.#path, driver, everyMs: CHECKPOINT_EVERY_MS } })
      worker.unref()
      worker.on('error', onError)
      this.#worker = worker
    } catch (err) {
      onError(err)
    }
  }

  /** Asks the worker to close its connection and end. */
  stop (): void {
    const worker = this.#worker
    this.#worker = null
    worker?.postMessage('close')
  }
}
