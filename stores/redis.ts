import { randomUUID } from 'node:crypto'
import type { Cluster, Redis, RedisOptions } from 'ioredis'
import { systemClock, type Clock } from '../src/clock.js'
import { ConflictingIdError, StoreUnavailableError } from '../src/errors.js'
import {
  searchKey,
  type AcquiredJob, type JobPage, type JobRelease, type JobStore, type JobStoreQuery, type RunFinish,
  type SchedulerSharedState, type StoreChange, type StoreHealth
} from '../src/store.js'
import type { JobRecord, RunRecord } from '../src/types.js'
import { scriptSources, type ScriptName } from './redis-scripts.js'

export interface RedisStoreOptions {
  /** A Redis URL (`redis://[:password@]host:port[/db]`, `rediss://` for TLS). Ignored with `client`. */
  url?: string
  /**
   * An ioredis client (`Redis` or `Cluster`) to use instead of `url`. The store defines its scripts
   * on it and opens one more connection (`duplicate()`) for change notices; it does not close it.
   */
  client?: Redis | Cluster
  /** Key prefix, wrapped in braces as a Redis Cluster hash tag: `{apscheduler}:jobs`. */
  prefix?: string
  /**
   * Whose clock decides due-ness and lease expiry: `'server'` (default) the Redis server's `TIME`,
   * so processes with skewed clocks neither fire early nor steal live leases; `'caller'` the `now`
   * each call passes (for tests that drive time by hand).
   */
  time?: 'server' | 'caller'
  /** This process's clock, against which the offset to the server clock is measured. */
  clock?: Clock
  /** Longest wait for one Redis command before the call fails as unavailable (ms). */
  commandTimeoutMs?: number
  /** Where the store reports connection loss and lost data; the scheduler's logger when attached. */
  log?: StoreLog
}

export interface StoreLog {
  error: (obj: Record<string, unknown>, msg: string) => void
  warn: (obj: Record<string, unknown>, msg: string) => void
  info: (obj: Record<string, unknown>, msg: string) => void
}

/** What `health()` reports. */
export interface RedisStoreHealth {
  status: 'ok' | 'unavailable' | 'data_lost'
  /** When the store noticed that Redis came back without its data (epoch ms), or null. */
  dataLostAt: number | null
  message: string | null
}

type Client = Redis | Cluster
type Script = (key: string, ...args: Array<string | number>) => Promise<unknown>

const DEFAULT_URL = 'redis://127.0.0.1:6379'
/** Parsed job records kept per store (cleared when full). */
const RECORD_CACHE_SIZE = 100_000
const OFFSET_SAMPLE_MS = 10_000
/** Most jobs one claim takes ahead of their time while other workers claim too (acquireDueJobs.lua). */
const AHEAD_TURN = 25
/** How long finished runs wait for Redis to come back before their results are given up. */
const FINISH_RETRY_MS = 60_000

/**
 * A number (or null) as the scripts take it. Recent conversions are kept: the releases and runs
 * of one batch share a few times (the instant of a wave, its next fire, the decision time, one
 * lease expiry), and a 13-digit number's String() costs more than looking it up.
 */
const strSeen = new Map<number, string>()
const str = (n: number | null): string => {
  if (n === null) return ''
  let s = strSeen.get(n)
  if (s === undefined) {
    if (strSeen.size >= 16) strSeen.clear()
    s = String(n)
    strSeen.set(n, s)
  }
  return s
}
const numOrNull = (s: string | undefined): number | null => s === undefined || s === '' ? null : Number(s)

/**
 * Jobs, claims and history in Redis, shared by every process (and host) that uses the same
 * prefix. Every write that must be atomic is one Lua script, loaded once and called by SHA
 * (ioredis `defineCommand`: EVALSHA, falling back to EVAL when the server lost its script cache).
 */
export class RedisStore implements JobStore {
  readonly notifiesAcrossProcesses = true
  readonly claimsAhead = true
  readonly overlapsClaims = true
  /** The hash-tagged key prefix, e.g. `{apscheduler}`. */
  readonly prefix: string
  readonly time: 'server' | 'caller'
  readonly #url: string
  readonly #ownClient: boolean
  readonly #commandTimeoutMs: number
  readonly #origin = randomUUID()
  /** How this store's notices begin (see #notice). */
  readonly #ownNotice = `{"o":${JSON.stringify(this.#origin)},`
  readonly #listeners = new Set<(change: StoreChange) => void>()
  #clock: Clock
  readonly #ownClock: boolean
  #log: StoreLog | null
  #connected = false
  #client: Client | null
  #sub: Client | null = null
  #scripts: Map<ScriptName, Script> | null = null
  #opening: Promise<void> | null = null
  #offset = 0
  /** Server time minus this process's monotonic time, at the last kept sample (null: none yet). */
  #monoOffset: number | null = null
  #offsetRtt = Infinity
  #offsetTimer: NodeJS.Timeout | null = null
  #epoch: string | null = null
  #dataLostAt: number | null = null
  #closed = false
  /**
   * Parsed job records by id, with the JSON they were parsed from: a claim that returns the same
   * JSON reuses the parsed (deeply frozen) record, so a job is parsed once per change rather than
   * once per fire, and the core keeps its compiled trigger (cached by the trigger spec object).
   */
  readonly #records = new Map<string, { json: string, job: JobRecord }>()

  constructor (options: RedisStoreOptions = {}) {
    const { url, client, prefix = 'apscheduler', time = 'server', clock, commandTimeoutMs = 5000, log } = options
    if (typeof prefix !== 'string' || prefix === '' || /[{}]/.test(prefix)) {
      throw new TypeError('RedisStore: prefix must be a non-empty string without braces (the store adds the hash tag braces itself)')
    }
    if (time !== 'server' && time !== 'caller') throw new TypeError("RedisStore: time must be 'server' or 'caller'")
    if (url !== undefined && typeof url !== 'string') throw new TypeError('RedisStore: url must be a string such as redis://127.0.0.1:6379')
    if (!Number.isFinite(commandTimeoutMs) || commandTimeoutMs <= 0) throw new TypeError('RedisStore: commandTimeoutMs must be a positive number')
    this.prefix = `{${prefix}}`
    this.time = time
    this.#url = url ?? DEFAULT_URL
    this.#client = client ?? null
    this.#ownClient = client === undefined
    this.#commandTimeoutMs = commandTimeoutMs
    this.#clock = clock ?? systemClock
    this.#ownClock = clock !== undefined
    this.#log = log ?? null
  }

  /** The key every script is called with; its hash tag routes the call in a Redis Cluster. */
  get #key (): string { return `${this.prefix}:jobs` }

  /**
   * The store's current time in the caller's terms: the local clock corrected by the measured
   * offset to the Redis server's clock (server time), or the local clock (caller time).
   */
  now (): number {
    if (this.time !== 'server') return this.#clock.now()
    // Counted on monotonic time from the last sample: a step of this host's wall clock does not move it.
    const mono = this.#monoOffset === null ? undefined : this.#clock.monotonic?.()
    return mono === undefined ? this.#clock.now() + this.#offset : mono + (this.#monoOffset as number)
  }

  /** The measured offset of the Redis server's clock from this process's clock (ms). */
  get clockOffsetMs (): number { return this.#offset }

  /** Lets the scheduler give the store its logger and clock. */
  attach ({ log, clock }: { log?: StoreLog, clock?: Clock }): void {
    if (log !== undefined && this.#log === null) this.#log = log
    if (clock !== undefined && !this.#ownClock) this.#clock = clock
  }

  async open (): Promise<void> {
    if (this.#scripts !== null) return
    this.#opening ??= this.#open().finally(() => { this.#opening = null })
    await this.#opening
  }

  async #open (): Promise<void> {
    this.#closed = false
    const { Redis } = await loadDriver()
    if (this.#client === null) {
      const options: RedisOptions = {
        lazyConnect: true,
        // Calls fail at once while disconnected (the API answers 503) instead of queueing.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        commandTimeout: this.#commandTimeoutMs,
        retryStrategy: (times: number) => Math.min(50 * times, 1000)
      }
      this.#client = new Redis(this.#url, options)
    }
    const client = this.#client
    // Said once per outage, not at every reconnect attempt.
    client.on('error', (err: Error) => {
      if (!this.#connected) return
      this.#connected = false
      this.#log?.error({ prefix: this.prefix, err: { message: err.message } }, 'redis store: connection lost; reconnecting (scheduler routes answer 503 meanwhile)')
    })
    client.on('close', () => {
      if (!this.#connected || this.#closed) return
      this.#connected = false
      this.#log?.error({ prefix: this.prefix }, 'redis store: connection lost; reconnecting (scheduler routes answer 503 meanwhile)')
    })
    if (client.status === 'wait') {
      try {
        await client.connect()
      } catch (err) {
        if (this.#ownClient) { client.disconnect(); this.#client = null }
        throw new StoreUnavailableError(`RedisStore could not connect to ${redactUrl(this.#url)}: ${(err as Error).message}`, { cause: err })
      }
    } else if (client.status !== 'ready') await waitReady(client, this.#commandTimeoutMs * 2)
    const scripts = new Map<ScriptName, Script>()
    for (const [name, lua] of scriptSources()) {
      const command = `apscheduler_${name}`
      const holder = client as unknown as Record<string, Script | undefined>
      if (typeof holder[command] !== 'function') client.defineCommand(command, { numberOfKeys: 1, lua })
      scripts.set(name, (holder[command] as Script).bind(client))
    }
    this.#connected = true
    await this.#checkEpoch(true)
    await this.#sampleOffset(3)
    this.#offsetTimer = setInterval(() => { void this.#sampleOffset(1).catch(() => {}) }, OFFSET_SAMPLE_MS)
    this.#offsetTimer.unref()
    client.on('ready', this.#onReady)

    // Its own offline queue: after a reconnect ioredis resubscribes before the connection is ready.
    const sub: Client = 'isCluster' in client && client.isCluster
      ? (client as Cluster).duplicate(undefined, { enableOfflineQueue: true })
      : (client as Redis).duplicate({ enableOfflineQueue: true })
    sub.on('error', () => {}) // reported through the main connection
    if (sub.status === 'wait') await sub.connect()
    else if (sub.status !== 'ready') await waitReady(sub, this.#commandTimeoutMs * 2)
    sub.on('message', (_channel: string, message: string) => { this.#onNotice(message) })
    await sub.subscribe(`${this.prefix}:changes`)
    this.#sub = sub
    this.#scripts = scripts
  }

  async close (): Promise<void> {
    if (this.#opening !== null) await this.#opening.catch(() => {})
    if (this.#closed) return
    this.#closed = true
    if (this.#offsetTimer !== null) clearInterval(this.#offsetTimer)
    this.#offsetTimer = null
    this.#listeners.clear()
    const sub = this.#sub
    this.#sub = null
    this.#scripts = null
    sub?.disconnect()
    const client = this.#client
    if (client === null) return
    client.off('ready', this.#onReady)
    if (this.#ownClient) {
      this.#client = null
      await client.quit().catch(() => { client.disconnect() })
    }
  }

  /** After a reconnect: notice a server that came back without our data. */
  readonly #onReady = (): void => {
    if (!this.#connected) this.#log?.info({ prefix: this.prefix }, 'redis store: connected')
    this.#connected = true
    void this.#checkEpoch(false).catch(() => {})
    void this.#sampleOffset(1).catch(() => {})
  }

  /**
   * Every store writes the same epoch key if it is missing. A store that saw it once and finds it
   * gone (or replaced) knows Redis lost its data: restarted without persistence, or flushed.
   */
  async #checkEpoch (first: boolean): Promise<void> {
    const client = this.#client
    if (client === null) return
    const key = `${this.prefix}:epoch`
    const seen = this.#epoch
    const current = await client.get(key)
    if (!first && seen !== null && current !== seen) {
      this.#dataLostAt = Date.now()
      this.#log?.error({ prefix: this.prefix }, 'redis store: REDIS CAME BACK WITHOUT THE SCHEDULER DATA (restarted without persistence, or flushed): jobs, claims and history under this prefix are gone; enable AOF/RDB persistence')
    }
    if (current === null) {
      // A fresh token, so every other process notices the loss too (theirs no longer matches).
      await client.set(key, randomUUID(), 'NX')
      this.#epoch = await client.get(key)
    } else {
      this.#epoch = current
    }
  }

  /** Measures the server clock against this process's clock; the sample with the least round trip wins. */
  async #sampleOffset (samples: number): Promise<void> {
    const client = this.#client
    if (client === null || client.status !== 'ready') return
    let best: { offset: number, monoOffset: number | null, rtt: number } | null = null
    const mono = (): number | undefined => this.#clock.monotonic?.()
    for (let i = 0; i < samples; i++) {
      const m0 = mono()
      const t0 = this.#clock.now()
      const [seconds, micros] = await client.time() as unknown as [string | number, string | number]
      const t1 = this.#clock.now()
      const m1 = mono()
      const server = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000)
      const monoOffset = m0 === undefined || m1 === undefined ? null : server - (m0 + m1) / 2
      const sample = { offset: server - (t0 + t1) / 2, monoOffset, rtt: m0 === undefined || m1 === undefined ? t1 - t0 : m1 - m0 }
      if (best === null || sample.rtt < best.rtt) best = sample
    }
    if (best === null) return
    // A slow round trip says little about the offset: keep an earlier, tighter sample unless it is stale.
    if (best.rtt <= this.#offsetRtt * 2 || best.rtt < 5) {
      this.#offset = Math.round(best.offset)
      this.#monoOffset = best.monoOffset
      this.#offsetRtt = best.rtt
    } else {
      this.#offsetRtt *= 1.5
    }
  }

  /** For /health: not ok while Redis is unreachable, or once it came back without its data. */
  async health (): Promise<StoreHealth> {
    const state = this.state()
    return state.status === 'ok' ? { ok: true } : { ok: false, reason: state.message ?? state.status }
  }

  /** Connection and data state, synchronously. */
  state (): RedisStoreHealth {
    if (this.#dataLostAt !== null) {
      return { status: 'data_lost', dataLostAt: this.#dataLostAt, message: 'Redis came back without the scheduler data (no persistence, or flushed)' }
    }
    if (this.#client?.status !== 'ready') return { status: 'unavailable', dataLostAt: null, message: `Redis is not connected (${this.#client?.status ?? 'closed'})` }
    return { status: 'ok', dataLostAt: null, message: null }
  }

  // ---------------------------------------------------------------- jobs

  async addJob (job: JobRecord): Promise<void> {
    const change: StoreChange = { type: 'job_added', jobId: job.id, nextRunTime: job.next_run_time }
    const added = await this.#run('addJob', job.id, JSON.stringify(job), job.version, str(job.next_run_time),
      str(job.next_fire_time), job.paused ? '1' : '0', graceMs(job), indexOf(job), this.#notice(change))
    if (added === 0) throw new ConflictingIdError(job.id)
    this.#emit(change)
  }

  async getJob (id: string): Promise<JobRecord | null> {
    const [job] = decodeJobs(await this.#run('readJobs', id) as string[])
    return job ?? null
  }

  async queryJobs ({ limit = Infinity, offset = 0, state, func, q }: JobStoreQuery): Promise<JobPage> {
    const [lo, hi] = state === 'paused' ? [2, 2] : state === 'scheduled' ? [0, 1] : [0, 2]
    const out = await this.#run('queryJobs', Math.max(0, Math.floor(offset)), Number.isFinite(limit) ? Math.max(0, Math.floor(limit)) : -1,
      lo, hi, func ?? '', q === undefined || q === '' ? '' : searchKey(q)) as Array<string | number>
    return { total: Number(out[0]), jobs: decodeJobs(out.slice(1) as string[]) }
  }

  async overdueJobs (now: number, limit: number): Promise<string[]> {
    if (limit <= 0) return []
    return await this.#run('overdueJobs', now, Number.isFinite(limit) ? Math.floor(limit) : -1) as string[]
  }

  async updateJob (job: JobRecord, expectedVersion?: number): Promise<JobRecord | null> {
    const change: StoreChange = { type: 'job_modified', jobId: job.id, nextRunTime: job.next_run_time }
    const version = await this.#run('updateJob', job.id, JSON.stringify(job), str(job.next_run_time), str(job.next_fire_time),
      job.paused ? '1' : '0', graceMs(job), indexOf(job), expectedVersion === undefined ? '' : expectedVersion, this.#notice(change))
    if (version === null) return null
    this.#emit(change)
    return { ...structuredClone(job), version: Number(version) }
  }

  async removeJob (id: string): Promise<boolean> {
    const change: StoreChange = { type: 'job_removed', jobId: id }
    this.#records.delete(id)
    const removed = await this.#run('removeJob', id, this.#notice(change))
    if (removed === 0) return false
    this.#emit(change)
    return true
  }

  // ---------------------------------------------------------------- claims

  async acquireDueJobs ({ owner, now, leaseMs, limit, dueBy = now }: { owner: string, now: number, leaseMs: number, limit: number, dueBy?: number }): Promise<AcquiredJob[]> {
    if (limit <= 0) return []
    // Ahead as a length, not an instant: the script judges due-ness by the server's clock.
    const ahead = Math.max(0, dueBy - now)
    const out = await this.#run('acquireDueJobs', owner, now, leaseMs, Number.isFinite(limit) ? Math.floor(limit) : -1, this.#serverFlag, ahead, AHEAD_TURN) as Array<string | number>
    const acquired: AcquiredJob[] = []
    for (let i = 1; i < out.length; i += 5) {
      acquired.push({
        job: this.#claimedJob(out[i] as string, out[i + 1] as string, out[i + 2] as string),
        running: Number(out[i + 3]),
        takeover: Number(out[i + 4]) === 1
      })
    }
    return acquired
  }

  /** A claimed job: its parsed record reused while its JSON is unchanged, with this claim's state. */
  #claimedJob (id: string, json: string, state: string): JobRecord {
    const [version, nrt, nft] = state.split('\t')
    let cached = this.#records.get(id)
    if (cached === undefined || cached.json !== json) {
      const job = JSON.parse(json) as JobRecord
      if (job.trigger.type === 'date') {
        // Fires once: nothing to reuse, and nothing else holds this parse, so it is not frozen
        // either (as the SQLite store's): freezing a one-shot's record cost 3-4 us a fire.
        job.version = Number(version)
        job.next_run_time = numOrNull(nrt)
        job.next_fire_time = numOrNull(nft)
        return job
      }
      if (cached === undefined && this.#records.size >= RECORD_CACHE_SIZE) this.#records.clear()
      cached = { json, job: deepFreeze(job) }
      this.#records.set(id, cached)
    }
    return Object.freeze({ ...cached.job, version: Number(version), next_run_time: numOrNull(nrt), next_fire_time: numOrNull(nft) })
  }

  async releaseJobs (owner: string, releases: JobRelease[]): Promise<boolean[]> {
    if (releases.length === 0) return []
    const args: Array<string | number> = [owner, releases.length]
    for (const r of releases) {
      if (r.remove) this.#records.delete(r.id)
      args.push(r.id, r.version, str(r.next_run_time), str(r.next_fire_time), r.remove ? '1' : '0', historyArg(r.historyLimit), r.runs.length)
      for (const run of r.runs) args.push(...encodeRun(run), run.job_id, historyEntry(run))
    }
    const out = await this.#run('releaseJobs', ...args) as number[]
    return out.map((n) => Number(n) === 1)
  }

  // ---------------------------------------------------------------- runs

  async insertRuns (runs: RunRecord[], historyLimit: number): Promise<void> {
    if (runs.length === 0) return
    await this.#run('insertRuns', historyArg(historyLimit), runs.length, ...runs.flatMap(encodeRun))
  }

  async renewRunLeases (owner: string, runIds: string[], leaseExpires: number): Promise<string[]> {
    if (runIds.length === 0) return []
    return await this.#run('renewRunLeases', JSON.stringify(owner), leaseExpires, ...runIds) as string[]
  }

  async finishRuns (owner: string, finishes: RunFinish[]): Promise<boolean[]> {
    if (finishes.length === 0) return []
    const args: Array<string | number> = [JSON.stringify(owner), finishes.length]
    for (const { runId, result } of finishes) {
      args.push(runId, result.status, str(result.started_at), String(result.finished_at), str(result.duration_ms),
        str(result.lag_ms), result.error === null ? '' : JSON.stringify(result.error))
    }
    // A result is worth waiting for: the write is fenced by the run's lease, so a late retry
    // cannot overwrite a run that was meanwhile expired as abandoned.
    const out = await this.#retryWhileDown(FINISH_RETRY_MS, async () => await this.#run('finishRuns', ...args)) as number[]
    return out.map((n) => Number(n) === 1)
  }

  /** Runs `fn`, and while Redis is unreachable retries it once reconnected, up to `forMs`. */
  async #retryWhileDown<T> (forMs: number, fn: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + forMs
    for (;;) {
      try {
        return await fn()
      } catch (err) {
        const client = this.#client
        if (!(err instanceof StoreUnavailableError) || this.#closed || client === null || Date.now() >= deadline) throw err
        await waitReady(client, deadline - Date.now()).catch(() => {})
        if (client.status !== 'ready') await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
  }

  async expireRuns (now: number): Promise<RunRecord[]> {
    const out = await this.#run('expireRuns', now, this.#serverFlag) as string[]
    const runs: RunRecord[] = []
    for (let i = 1; i < out.length; i += 3) runs.push(decodeRun(out[i] as string, out[i + 1] as string, out[i + 2] as string, ''))
    return runs
  }

  async getRuns (jobId: string, limit?: number): Promise<RunRecord[]> {
    const out = await this.#run('getRuns', jobId, limit === undefined ? -1 : Math.max(0, Math.floor(limit))) as string[]
    const runs: RunRecord[] = []
    for (let i = 0; i < out.length; i += 4) runs.push(decodeRun(out[i] as string, out[i + 1] as string, out[i + 2] as string, out[i + 3] as string))
    return runs
  }

  async nextWakeTime (now: number): Promise<number | null> {
    const [serverNow, wake] = await this.#run('nextWakeTime', now, this.#serverFlag) as [string, string]
    if (wake === '') return null
    // In the caller's terms: as far from its `now` as the wake time is from the server's.
    return this.time === 'server' ? now + (Number(wake) - Number(serverNow)) : Number(wake)
  }

  // ---------------------------------------------------------------- scheduler state, notices

  async getSchedulerState (): Promise<SchedulerSharedState> {
    const value = await this.#call(async (client) => await client.get(`${this.prefix}:state`))
    return value === null ? { paused: false } : { paused: (JSON.parse(value) as SchedulerSharedState).paused }
  }

  async setSchedulerState (state: SchedulerSharedState): Promise<void> {
    const change: StoreChange = { type: 'scheduler_state', paused: state.paused }
    await this.#run('setSchedulerState', JSON.stringify({ paused: state.paused }), this.#notice(change))
    this.#emit(change)
  }

  /** Hears changes made through this store at once, and other processes' through Redis pub/sub. */
  subscribe (listener: (change: StoreChange) => void): () => void {
    const entry = (change: StoreChange): void => listener(change)
    this.#listeners.add(entry)
    return () => { this.#listeners.delete(entry) }
  }

  #notice (change: StoreChange): string {
    return JSON.stringify({ o: this.#origin, c: change })
  }

  #onNotice (message: string): void {
    // This store's own notices (heard at once when written) are skipped without parsing them.
    if (message.startsWith(this.#ownNotice)) return
    let notice: { o?: string, c?: StoreChange }
    try {
      notice = JSON.parse(message) as { o?: string, c?: StoreChange }
    } catch {
      return
    }
    if (notice.o === this.#origin || notice.c === undefined) return // heard at once when written
    this.#emit(notice.c)
  }

  #emit (change: StoreChange): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(change)
      } catch {
        // A listener's failure must not turn a committed write into a rejected call.
      }
    }
  }

  get #serverFlag (): string { return this.time === 'server' ? '1' : '0' }

  async #run (name: ScriptName, ...args: Array<string | number>): Promise<unknown> {
    const script = this.#scripts?.get(name)
    if (script === undefined) throw new Error('RedisStore is not open: call open() first')
    return await this.#call(async () => await script(this.#key, ...args))
  }

  /** Runs a command; a connection that is down or too slow becomes StoreUnavailableError (503). */
  async #call<T> (fn: (client: Client) => Promise<T>): Promise<T> {
    const client = this.#client
    if (client === null || this.#closed) throw new Error('RedisStore is not open: call open() first')
    if (client.status !== 'ready') throw new StoreUnavailableError(`Redis is unavailable (${client.status})`)
    try {
      return await fn(client)
    } catch (err) {
      if ((err as Error).name === 'ReplyError') throw err
      throw new StoreUnavailableError(`Redis is unavailable: ${(err as Error).message}`, { cause: err })
    }
  }
}

/** How late a job may be before /health calls it overdue (see overdueAt in src/store.ts). */
const graceMs = (job: JobRecord): number => Math.max((job.misfire_grace_time ?? 60) * 1000, 1000)
const indexOf = (job: JobRecord): string => JSON.stringify([job.func, searchKey(job.id), searchKey(job.name)])

const historyArg = (limit: number): number => Number.isFinite(limit) ? Math.max(0, Math.floor(limit)) : -1

function decodeJob (json: string, state: string): JobRecord {
  const job = JSON.parse(json) as JobRecord
  const [version, nrt, nft] = state.split('\t')
  job.version = Number(version)
  job.next_run_time = numOrNull(nrt)
  job.next_fire_time = numOrNull(nft)
  return job
}

function deepFreeze<T> (value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value)
    for (const child of Object.values(value)) deepFreeze(child)
  }
  return value
}

function decodeJobs (out: string[]): JobRecord[] {
  const jobs: JobRecord[] = []
  for (let i = 0; i < out.length; i += 3) jobs.push(decodeJob(out[i + 1] as string, out[i + 2] as string))
  return jobs
}

/**
 * A run as the scripts take it: id, record, state line, lease. Every field but the run's trigger
 * is in the state line, so the record is the trigger alone (older versions wrote the run's JSON).
 */
function encodeRun (run: RunRecord): string[] {
  const state = [
    run.status, str(run.scheduled_at), str(run.started_at), str(run.finished_at), str(run.duration_ms), str(run.lag_ms),
    JSON.stringify(run.node_id), JSON.stringify(run.job_id), run.error === null ? '' : JSON.stringify(run.error)
  ].join('\t')
  return [run.run_id, run.trigger, state, run.status === 'running' ? str(run.lease_expires) : '']
}

/**
 * A run's member in its job's history zset, as the scripts' histEntry builds it: scheduled_at and
 * started_at offset by 1e15 in 17 digits (so byte order is time order), then the run id. Built
 * here for the runs a release writes, which spares the script a parse and two number formats per
 * fire; '' (the script builds it) for times that are not whole numbers in range.
 */
function historyEntry (run: RunRecord): string {
  const sched = padTime(run.scheduled_at)
  const started = run.started_at === null ? '0' : padTime(run.started_at)
  if (sched === null || started === null) return ''
  return `${sched}:${run.started_at === null ? '0' : '1' + started}:${run.run_id}`
}

function padTime (t: number): string | null {
  const n = t + 1e15
  return Number.isSafeInteger(n) && n >= 0 && n < 1e17 ? String(n).padStart(17, '0') : null
}

function decodeRun (runId: string, record: string, state: string, lease: string): RunRecord {
  const f = state.split('\t')
  const status = f[0] as RunRecord['status']
  return {
    run_id: runId,
    job_id: JSON.parse(f[7] as string) as string,
    scheduled_at: Number(f[1]),
    started_at: numOrNull(f[2]),
    finished_at: numOrNull(f[3]),
    status,
    error: f[8] === undefined || f[8] === '' ? null : JSON.parse(f[8]) as RunRecord['error'],
    node_id: JSON.parse(f[6] as string) as string,
    trigger: record.startsWith('{') ? (JSON.parse(record) as RunRecord).trigger : record as RunRecord['trigger'],
    duration_ms: numOrNull(f[4]),
    lag_ms: numOrNull(f[5]),
    lease_expires: status === 'running' ? numOrNull(lease) : null
  }
}

/** The URL without its password, for messages. */
function redactUrl (url: string): string {
  try {
    const u = new URL(url)
    if (u.password !== '') u.password = '***'
    return u.toString()
  } catch {
    return 'the configured Redis URL'
  }
}

async function waitReady (client: Client, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { cleanup(); reject(new StoreUnavailableError(`Redis did not become ready within ${timeoutMs} ms`)) }, timeoutMs)
    timer.unref()
    const onReady = (): void => { cleanup(); resolve() }
    const cleanup = (): void => { clearTimeout(timer); client.off('ready', onReady) }
    client.on('ready', onReady)
  })
}

async function loadDriver (): Promise<{ Redis: typeof Redis }> {
  try {
    const mod = await import('ioredis')
    return { Redis: mod.Redis }
  } catch (err) {
    const code = (err as { code?: string }).code
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new Error('RedisStore needs the ioredis package: npm install ioredis', { cause: err })
    }
    throw err
  }
}
