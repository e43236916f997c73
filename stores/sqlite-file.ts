/**
 * The SQLite file under the store: noticing when the file at the path is no longer the one that
 * was opened, and saying clearly when it cannot be written.
 *
 * A connection keeps working on its file after the file is deleted or replaced (a restore, `rm`,
 * a restarted worker creating a fresh one at the same path): workers on the old file and workers
 * on the new one would then each fire every job. The store compares the file at the path (device
 * and inode) with the one it opened, at most every CHECK_EVERY_MS, before it uses the database.
 */
import { statSync } from 'node:fs'
import { basename, dirname } from 'node:path'

/** How often the file at the path is compared with the opened one (at most; only when the store is used). */
export const CHECK_EVERY_MS = 250
/** How long /health keeps reporting a deleted or replaced file after the store reopened it. */
export const INCIDENT_SHOWN_MS = 60_000

interface FileIdentity { dev: number, ino: number }

function identityOf (stats: { dev: number, ino: number }): FileIdentity {
  return { dev: stats.dev, ino: stats.ino }
}

export class FileWatch {
  readonly #path: string
  #opened: FileIdentity | null = null
  #checkedAt = 0

  constructor (path: string) { this.#path = path }

  /** Remembers the file now at the path as the opened one (right after opening it). */
  remember (): void {
    this.#opened = identityOf(statSync(this.#path))
    this.#checkedAt = performance.now()
  }

  /** How the file at the path differs from the opened one, or null; checked at most every CHECK_EVERY_MS. */
  async changed (): Promise<'deleted' | 'replaced' | null> {
    const opened = this.#opened
    if (opened === null || performance.now() - this.#checkedAt < CHECK_EVERY_MS) return null
    this.#checkedAt = performance.now()
    let now: FileIdentity
    try {
      // Synchronous: a few microseconds on the file SQLite itself reads synchronously, where the
      // promise version's round trip through the thread pool delayed the store call it preceded
      // (a claim at the start of a wave of fires) by milliseconds on a loaded machine.
      now = identityOf(statSync(this.#path))
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') return 'deleted'
      throw err
    }
    return now.dev === opened.dev && now.ino === opened.ino ? null : 'replaced'
  }
}

/** SQLite errors saying the file or its directory cannot be written (or opened) by this process. */
export function isUnwritable (err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' && /^SQLITE_(READONLY|CANTOPEN|PERM|AUTH)/.test(code)
}

/** The start-up error for a database this process cannot write: what, where, and what to fix. */
export function unwritableError (path: string, err: unknown): Error {
  const code = (err as { code?: string }).code ?? ''
  const uid = process.getuid?.()
  const who = uid === undefined ? 'this process' : `this process (uid ${uid})`
  return new Error(`SqliteStore cannot write the database ${path}: ${(err as Error).message} (${code}). ` +
    `${who} needs write access to the file and to its directory ${dirname(path)}, where SQLite keeps ` +
    `${basename(path)}-wal and ${basename(path)}-shm; a store that cannot be written would fire nothing.`, { cause: err })
}
