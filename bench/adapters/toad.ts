/**
 * toad-scheduler (what @fastify/schedule wraps). Cron jobs run on croner; intervals on setInterval.
 * It has no one-shot job: a CronJob with an ISO date as its pattern (croner takes one) stands in.
 * Neither job kind reports its due time: a cron fire's is the second it started in, an interval's
 * the k-th multiple of the period after the job was added.
 */
import { AsyncTask, CronJob, SimpleIntervalJob, Task, ToadScheduler } from 'toad-scheduler'
import { nowMs } from '../lib/clock.js'
import { secondOf, type Adapter, type AdapterContext, type JobSpec } from './types.js'

export class ToadAdapter implements Adapter {
  readonly name = 'toad-scheduler'
  #scheduler = new ToadScheduler()
  #ctx!: AdapterContext

  async open (ctx: AdapterContext): Promise<void> { this.#ctx = ctx }

  async add (jobs: JobSpec[]): Promise<void> {
    const onFire = this.#ctx.onFire
    for (const spec of jobs) {
      const id = `j${spec.n}`
      if (spec.kind === 'cron-second') {
        this.#scheduler.addCronJob(new CronJob({ cronExpression: '* * * * * *' }, new Task(id, () => {
          const start = nowMs()
          onFire(spec.n, secondOf(start), start)
        }), { id }))
      } else if (spec.kind === 'once') {
        const at = spec.at
        const job = new CronJob({ cronExpression: new Date(at).toISOString() }, new Task(id, () => {
          onFire(spec.n, at, nowMs())
        }), { id })
        this.#scheduler.addCronJob(job)
      } else {
        let k = 0
        let origin = 0
        const job = new SimpleIntervalJob({ milliseconds: spec.everyMs }, new AsyncTask(id, async () => {
          const start = nowMs()
          onFire(spec.n, origin + (++k) * spec.everyMs, start)
        }), { id, preventOverrun: false })
        // Started a period before the first fire, so the first fire is due at firstAt.
        const delay = spec.firstAt - spec.everyMs - nowMs()
        setTimeout(() => { origin = nowMs(); this.#scheduler.addSimpleIntervalJob(job) }, Math.max(0, delay))
      }
    }
  }

  async start (): Promise<void> {}

  async close (): Promise<void> { this.#scheduler.stop() }
}
