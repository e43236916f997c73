/** croner 11: one Cron per job (a Date pattern for a one-shot). The due time of a per-second fire is the second it started in. */
import { Cron } from 'croner'
import { nowMs } from '../lib/clock.js'
import { secondOf, type Adapter, type AdapterContext, type JobSpec } from './types.js'

export class CronerAdapter implements Adapter {
  readonly name = 'croner'
  #jobs: Cron[] = []
  #ctx!: AdapterContext

  async open (ctx: AdapterContext): Promise<void> { this.#ctx = ctx }

  async add (jobs: JobSpec[]): Promise<void> {
    const onFire = this.#ctx.onFire
    for (const spec of jobs) {
      if (spec.kind === 'cron-second') {
        this.#jobs.push(new Cron('* * * * * *', () => { const start = nowMs(); onFire(spec.n, secondOf(start), start) }))
      } else if (spec.kind === 'once') {
        const at = spec.at
        this.#jobs.push(new Cron(new Date(at), () => { onFire(spec.n, at, nowMs()) }))
      } else {
        throw new Error('croner has no interval trigger')
      }
    }
  }

  async start (): Promise<void> {}

  async close (): Promise<void> { for (const job of this.#jobs) job.stop() }
}
