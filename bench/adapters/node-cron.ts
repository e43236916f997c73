/**
 * node-cron 4: one task per job; its context carries the slot it fires for (`ctx.date`), the due
 * time. It has no one-shot: a pattern naming the instant's second, minute, hour, day and month,
 * with `maxExecutions: 1`, stands in.
 */
import cron, { type ScheduledTask } from 'node-cron'
import { nowMs } from '../lib/clock.js'
import type { Adapter, AdapterContext, JobSpec } from './types.js'

export class NodeCronAdapter implements Adapter {
  readonly name = 'node-cron'
  #tasks: ScheduledTask[] = []
  #ctx!: AdapterContext

  async open (ctx: AdapterContext): Promise<void> { this.#ctx = ctx }

  async add (jobs: JobSpec[]): Promise<void> {
    const onFire = this.#ctx.onFire
    for (const spec of jobs) {
      if (spec.kind === 'cron-second') {
        this.#tasks.push(cron.schedule('* * * * * *', (c) => { onFire(spec.n, c.date.getTime(), nowMs()) }, { suppressMissedWarning: true }))
      } else if (spec.kind === 'once') {
        const d = new Date(spec.at)
        const pattern = `${d.getUTCSeconds()} ${d.getUTCMinutes()} ${d.getUTCHours()} ${d.getUTCDate()} ${d.getUTCMonth() + 1} *`
        this.#tasks.push(cron.schedule(pattern, (c) => { onFire(spec.n, c.date.getTime(), nowMs()) }, { timezone: 'UTC', maxExecutions: 1, suppressMissedWarning: true }))
      } else {
        throw new Error('node-cron has no interval trigger')
      }
    }
  }

  async start (): Promise<void> {}

  async close (): Promise<void> {
    for (const task of this.#tasks) await task.destroy()
  }
}
