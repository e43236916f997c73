import type { FastifyBaseLogger } from 'fastify'
import type { Clock } from '../clock.js'
import type { Executor } from '../executor.js'
import type { Metrics } from '../metrics.js'
import type { AcquiredJob, JobStore, StoreChange } from '../store.js'
import type { JobRecord, RunRecord } from '../types.js'
import { ClockWatch, type ClockStep } from './clock-watch.js'
import { decideFire, type FireDecision } from './fire-decision.js'
import { earlyDelay } from './early-wake.js'
import type { Runner } from './runner.js'
import { storeNow, toLocalTime } from './store-clock.js'

/**
 * Jobs claimed in one store call. Not the executor's free slots: a claim is a round trip (a write
 * transaction on SQLite), so it takes a batch, and the runs wait in the executor's queue. Batches
 * of this size leave the store to other processes between them, so fires spread over processes.
 */
const CLAIM_BATCH = 100
/**
 * Runs an executor may have waiting beyond its running ones before the cycle stops claiming: a
 * process does not hoard due jobs that idle processes sharing the store could start now.
 */
const MAX_BACKLOG = 2 * CLAIM_BATCH
/** How soon a claim ahead of time looks again at jobs it left because their previous run was live. */
const AHEAD_RETRY_MS = 20

export interface ClaimCycleConfig {
  stores: Readonly<Record<string, JobStore>>
  executors: ReadonlyMap<string, Executor>
  runner: Runner
  nodeId: string
  leaseMs: number
  historyLimit: number
  clock: Clock
  log: FastifyBaseLogger
  metrics: Metrics
  /** Longest sleep of the timer, so clock jumps and suspends are noticed. */
  maxSleepMs: number
  /**
   * How long before their time jobs of a store that claims ahead (`claimsAhead`) are claimed
   * and decided; their tasks start at their due time. 0: at their time.
   */
  lookAheadMs: number
  /** Emits an event; the payload is built only when the event has listeners. */
  emit: (event: string, payload: () => unknown) => void
  /** Whether an event has listeners: the hot path builds no payload (nor closure) for none. */
  listening: (event: string) => boolean
  /** A step of the wall clock was noticed (before this wakeup claims anything). */
  onClockStep: (step: ClockStep) => Promise<void>
}

/**
 * The timer loop of one process: sleeps until the earliest instant any store needs a look, then
 * per store expires lapsed runs, claims due jobs, decides each claim, writes the decisions in one
 * store call and hands the runs it wrote to the runner. Wakes early on store changes.
 */
export class ClaimCycle {
  /** Scheduler-wide pause, shared through the default store. */
  paused = false
  readonly #c: ClaimCycleConfig
  #active = false
  #timer: unknown = null
  #timerTarget: number | null = null
  #cycle: Promise<void> | null = null
  #cycleAgain = false
  #starved = false
  readonly #watch: ClockWatch
  /** After a step forward, until this monotonic instant no lease is expired (see #checkClock). */
  #holdExpiryUntil = -Infinity

  constructor (config: ClaimCycleConfig) {
    this.#c = config
    this.#watch = new ClockWatch(config.clock)
    for (const executor of config.executors.values()) {
      // Only a cycle that stopped for lack of slots has due jobs left waiting.
      executor.onSlotFree = () => { if (this.#active && this.#starved) { this.#starved = false; this.wake() } }
    }
  }

  /** The cycle in progress, if any. */
  get current (): Promise<void> | null { return this.#cycle }

  start (): void {
    this.#active = true
    this.wake()
  }

  /** Stops waking; resolves once a cycle in progress has finished. */
  async stop (): Promise<void> {
    this.#active = false
    this.#clearTimer()
    await this.#cycle
  }

  /** Runs a cycle now (or right after the one in progress). */
  wake (): void {
    if (!this.#active) return
    if (this.#cycle !== null) { this.#cycleAgain = true; return }
    this.#clearTimer()
    this.#cycle = this.#runCycle().catch((err: unknown) => {
      this.#c.log.error({ err }, 'scheduler cycle failed; retrying in a second')
      this.#arm(this.#c.clock.now() + 1000)
    }).finally(() => {
      this.#cycle = null
      if (this.#cycleAgain && this.#active) { this.#cycleAgain = false; this.wake() }
    })
  }

  /**
   * A store change: wakes the cycle unless the change cannot make anything due sooner than the
   * timer already set (an add or change whose next run is not earlier, a pause, a removal). So a
   * burst of API adds does not run a claim cycle each.
   */
  notify (store: JobStore, change: StoreChange): void {
    if (change.type === 'scheduler_state') {
      this.paused = change.paused
      this.wake()
      return
    }
    if (this.#cycle === null && this.#timerTarget !== null) {
      if (change.type === 'job_removed') return
      if (change.nextRunTime === null) return
      if (toLocalTime(change.nextRunTime, store, this.#c.clock) >= this.#timerTarget) return
    }
    this.wake()
  }

  defaultStore (): JobStore {
    const { stores } = this.#c
    return (stores.default ?? Object.values(stores)[0]) as JobStore
  }

  async #runCycle (): Promise<void> {
    this.#cycleAgain = false
    this.#starved = false
    if (!this.#active) return
    await this.#checkClock()
    this.paused = (await this.defaultStore().getSchedulerState()).paused
    let wakeAt: number | null = null
    for (const [alias, store] of Object.entries(this.#c.stores)) {
      // One failing store (or claim) must not hold back the others: it is retried in a second.
      let next: number | null
      try {
        // Read once per store and wakeup: every decision below uses this instant, in the store's time.
        const now = storeNow(store, this.#c.clock)
        const wake = await this.#cycleStore(store, alias, now)
        next = wake === null ? null : toLocalTime(wake, store, this.#c.clock)
      } catch (err) {
        this.#c.log.error({ err, jobstore: alias }, 'job store failed in a scheduler cycle; retrying in a second')
        next = this.#c.clock.now() + 1000
      }
      if (next !== null && (wakeAt === null || next < wakeAt)) wakeAt = next
    }
    if (this.#active) this.#arm(wakeAt)
  }

  /** Expires lapsed runs, claims and fires due jobs of one store; returns when it next needs a look. */
  async #cycleStore (store: JobStore, jobstore: string, now: number): Promise<number | null> {
    const ahead = store.claimsAhead === true ? this.#c.lookAheadMs : 0
    const holding = this.#holdingExpiry()
    if (!holding) {
      // Our own leases first, should they look lapsed (a late renewal timer): never expire our own live runs.
      await this.#c.runner.renewLapsing(store, now)
      for (const run of await store.expireRuns(now)) this.#recordAbandoned(run)
    }
    if (!this.paused) {
      // Runs that finished before this claim must not count against max_instances while their
      // results wait for the group commit.
      await this.#c.runner.flushFinished(store)
      const claim = (limit: number): Promise<AcquiredJob[]> =>
        store.acquireDueJobs({ owner: this.#c.nodeId, now, leaseMs: this.#c.leaseMs, limit, dueBy: now + ahead })
      // The claim sent while the previous batch was decided (a store that overlaps claims).
      let next: Promise<AcquiredJob[]> | null = null
      for (;;) {
        if (next === null) {
          const limit = Math.min(this.#claimRoom(), CLAIM_BATCH)
          if (limit === 0) { this.#starved = true; break }
          next = claim(limit)
        }
        const acquired = await next
        next = null
        if (store.overlapsClaims === true && acquired.length > 0 && this.#active) {
          // The batch in hand is not in the executors yet: it counts against the room already.
          const limit = Math.min(this.#claimRoom() - acquired.length, CLAIM_BATCH)
          if (limit > 0) {
            next = claim(limit)
            // Awaited below; until then its failure must not count as unhandled.
            next.catch(() => {})
          }
        }
        // A claim that waited (another process held the SQLite lock) is decided at the time it
        // returned: fires that came due meanwhile run in this instance rather than meet it at max_instances.
        await this.#fire(store, jobstore, acquired, Math.max(now, storeNow(store, this.#c.clock)))
        // Until a claim comes back empty: a store sharing its jobs with other processes may
        // claim fewer than asked ahead of time, so that they take turns. A claim already sent is
        // fired all the same (its jobs are ours until their lease lapses): one more turn.
        if (next === null && (acquired.length === 0 || !this.#active)) break
        // Between batches, let timers, I/O and the runs just started have the event loop: an
        // in-process store answers in microtasks, so a long run of batches would starve them.
        await new Promise<void>((resolve) => setImmediate(resolve))
      }
    }
    // Paused, due jobs stay due: only a resume (notified) or the sleep cap wakes us.
    // Starved, the next free executor slot wakes us.
    if (this.paused || this.#starved) return null
    const wake = await store.nextWakeTime(now)
    // Lapsed-looking leases are left alone while holding: look again in a second, not at once.
    if (holding && wake !== null && wake <= now) return now + Math.min(1000, this.#c.maxSleepMs)
    if (wake === null) return null
    // A little after the window opens, not as it opens: it mostly opens at the instant the same
    // jobs' previous fires start (an interval of lookAheadMs or a multiple), and a claim then only
    // finds those runs live and delays their start.
    if (wake - ahead > now) return wake - ahead + Math.min(AHEAD_RETRY_MS, ahead / 4)
    if (wake <= now) return wake
    // A job within the window was left (a live run, which usually ends within milliseconds):
    // look again soon, so that it is still decided ahead of its time once its run has ended.
    return Math.min(wake, now + AHEAD_RETRY_MS)
  }

  /**
   * Notices a step of the wall clock since the last wakeup. After a step forward every lease on a
   * store judged by this host's wall clock looks lapsed, those of live processes too: for leaseMs
   * (monotonic) no lease is expired, which gives every live process on the host time to renew its
   * leases (every leaseMs / 3) at the new time; a dead process's leases are expired after that.
   */
  async #checkClock (): Promise<void> {
    const step = this.#watch.take()
    if (step === null) return
    const mono = this.#c.clock.monotonic?.()
    if (step.ms > 0 && mono !== undefined) this.#holdExpiryUntil = mono + this.#c.leaseMs
    await this.#c.onClockStep(step)
  }

  #holdingExpiry (): boolean {
    if (this.#holdExpiryUntil === -Infinity) return false
    const mono = this.#c.clock.monotonic?.()
    if (mono !== undefined && mono < this.#holdExpiryUntil) return true
    this.#holdExpiryUntil = -Infinity
    return false
  }

  /**
   * Sleeps until `target` (capped). The timer is armed early (see early-wake.ts) and re-arms for
   * the rest, so it wakes on time rather than a share of its sleep late.
   */
  #arm (target: number | null): void {
    this.#clearTimer()
    if (!this.#active) return
    const { clock } = this.#c
    const now = clock.now()
    const cap = now + this.#c.maxSleepMs
    const at = target === null ? cap : Math.min(target, cap)
    this.#timerTarget = at
    this.#timer = clock.setTimeout(() => this.#onTimer(), earlyDelay(at - now))
  }

  #onTimer (): void {
    this.#timer = null
    const target = this.#timerTarget
    const now = this.#c.clock.now()
    if (target !== null && now < target && !this.#watch.poll()) {
      // Armed early on purpose (and Node timers may fire early): wait out the remainder.
      // Re-armed through #arm, so a wall clock stepped back still sleeps at most maxSleepMs; a step
      // back is noticed here and runs a cycle, which moves the schedules it affects.
      this.#arm(target)
      return
    }
    this.wake()
  }

  #clearTimer (): void {
    if (this.#timer !== null) this.#c.clock.clearTimeout(this.#timer)
    this.#timer = null
    this.#timerTarget = null
  }

  /** Runs the executors can take now or soon (a bounded queue). */
  #claimRoom (): number {
    let room = 0
    for (const executor of this.#c.executors.values()) {
      room += Math.max(0, executor.maxConcurrency + MAX_BACKLOG - executor.running - executor.queued)
    }
    return room
  }

  /**
   * Fires a batch of claimed jobs: decides each, writes every decision in one store call, then
   * starts the runs that were written. A claim that cannot be decided or written keeps its claim
   * until it lapses (leaseMs) and is then taken over; the others go on now.
   */
  async #fire (store: JobStore, jobstore: string, claims: AcquiredJob[], now: number): Promise<void> {
    const { log, nodeId, leaseMs, historyLimit } = this.#c
    const decisions: FireDecision[] = []
    for (const claim of claims) {
      try {
        if (claim.takeover) {
          this.#c.metrics.leaseTakeovers++
          log.warn({ jobId: claim.job.id }, 'took over a job claim whose holder stopped renewing it')
        }
        // A job claimed ahead of its time is decided as at its time (its task starts then).
        const at = claim.job.next_run_time !== null && claim.job.next_run_time > now ? claim.job.next_run_time : now
        decisions.push(decideFire(claim, at, { nodeId, leaseMs, historyLimit }))
      } catch (err) {
        log.error({ err, jobId: claim.job.id, jobstore }, 'could not fire a claimed job')
      }
    }
    if (decisions.length === 0) return
    let written: boolean[]
    try {
      written = await store.releaseJobs(nodeId, decisions.map((d) => d.release))
    } catch {
      // One bad write must not hold back the batch: each on its own.
      written = []
      for (const d of decisions) {
        try {
          written.push((await store.releaseJobs(nodeId, [d.release]))[0] === true)
        } catch (err) {
          log.error({ err, jobId: d.job.id, jobstore }, 'could not fire a claimed job')
          written.push(false)
        }
      }
    }
    // Not written: modified, paused or removed meanwhile, or the claim was lost; nothing fires.
    decisions.forEach((d, i) => { if (written[i] === true) this.#afterRelease(store, jobstore, d) })
  }

  /** Events, metrics and run starts of a decision the store accepted. */
  #afterRelease (store: JobStore, jobstore: string, { job, runs, missed, blocked, skippedAhead, release }: FireDecision): void {
    const { metrics, log } = this.#c
    for (const at of missed) {
      metrics.recordRun('missed')
      this.#emitJob('job_missed', job, jobstore, at)
    }
    if (missed.length > 0 || skippedAhead) {
      log.warn({ jobId: job.id, missed: missed.length, skippedAhead }, 'job fires missed (later than misfire_grace_time)')
    }
    for (const at of blocked) {
      metrics.maxInstancesSkips++
      this.#emitJob('job_max_instances', job, jobstore, at)
      log.warn({ jobId: job.id, maxInstances: job.max_instances }, 'job fire skipped: maximum number of running instances reached')
    }
    if (release.remove) this.#emitJob('job_removed', job, jobstore, null)
    if (runs.length > 0) {
      this.#c.runner.submit(store, jobstore, job, runs)
    }
  }

  /** A job's event; its own method, so that a fire allocates no closure when nobody listens. */
  #emitJob (event: string, job: JobRecord, jobstore: string, scheduledAt: number | null): void {
    if (!this.#c.listening(event)) return
    this.#c.emit(event, () => scheduledAt === null ? { job_id: job.id, jobstore } : { job_id: job.id, jobstore, scheduled_run_time: new Date(scheduledAt) })
  }

  #recordAbandoned (run: RunRecord): void {
    this.#c.metrics.recordRun('abandoned')
    this.#c.metrics.leaseTakeovers++
    this.#c.log.warn({ jobId: run.job_id, runId: run.run_id, nodeId: run.node_id }, 'run abandoned: its process stopped renewing the lease')
  }
}
