import { pathToFileURL } from 'node:url'
import { isAbsolute, resolve } from 'node:path'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { JobInfo } from './job.js'

/** What a task receives. */
export interface TaskContext {
  args: unknown[]
  kwargs: Record<string, unknown>
  job: JobInfo
  runId: string
  /** The nominal fire time (before jitter); for a manual run, when it was asked for. */
  scheduledAt: Date
  fastify: FastifyInstance
  log: FastifyBaseLogger
  /** Aborts on shutdown, or when this process lost the run's lease. */
  signal: AbortSignal
}

export type TaskFunction = (ctx: TaskContext) => unknown

/** Named functions a job may run. The API can only name these; it never imports code. */
export class TaskRegistry {
  readonly #tasks = new Map<string, TaskFunction>()

  register (name: string, fn: TaskFunction): void {
    if (typeof name !== 'string' || name.length === 0) throw new TypeError('task name must be a non-empty string')
    if (typeof fn !== 'function') throw new TypeError(`task '${name}' must be a function`)
    this.#tasks.set(name, fn)
  }

  get (name: string): TaskFunction | undefined { return this.#tasks.get(name) }
  has (name: string): boolean { return this.#tasks.has(name) }
  names (): string[] { return [...this.#tasks.keys()].sort() }

  /** Registers every function a module exports as `alias:exportName` (`default` included). */
  async registerModule (alias: string, modulePath: string, baseDir = process.cwd()): Promise<number> {
    const url = /^[a-z]+:/i.test(modulePath) && !isAbsolute(modulePath)
      ? modulePath
      : modulePath.startsWith('.') || isAbsolute(modulePath)
        ? pathToFileURL(resolve(baseDir, modulePath)).href
        : modulePath
    let mod: Record<string, unknown>
    try {
      mod = await import(url) as Record<string, unknown>
    } catch (err) {
      throw new Error(`fastify-apscheduler: taskModules.${alias}: cannot import '${modulePath}': ${(err as Error).message}`)
    }
    let count = 0
    for (const [name, value] of Object.entries(mod)) {
      if (typeof value === 'function') {
        this.register(`${alias}:${name}`, value as TaskFunction)
        count++
      }
    }
    if (count === 0) throw new Error(`fastify-apscheduler: taskModules.${alias}: '${modulePath}' exports no functions`)
    return count
  }
}
