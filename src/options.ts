import { hostname } from 'node:os'
import { randomBytes } from 'node:crypto'
import type { Clock } from './clock.js'
import { readTimeout, type JobDefaults, type JobDefinition } from './job.js'
import type { AuthenticateFn } from './scheduler.js'
import type { JobStore } from './store.js'
import type { TaskFunction } from './tasks.js'
import { parseOrigin } from './api/cross-site.js'
import { canonicalTimezone, isValidTimezone } from './time.js'
import { MemoryStore } from '../stores/memory.js'

/** Plugin options (SPEC §2). Flask-APScheduler's config key each replaces is in brackets. */
export interface SchedulerPluginOptions {
  /** Shorthand for `jobstores: { default: store }`. */
  store?: JobStore
  /** [SCHEDULER_JOBSTORES] */
  jobstores?: Record<string, JobStore>
  /** [SCHEDULER_EXECUTORS] */
  executors?: Record<string, { maxConcurrency?: number }>
  /** [SCHEDULER_JOB_DEFAULTS] */
  jobDefaults?: Partial<JobDefaults>
  /** [SCHEDULER_TIMEZONE] */
  timezone?: string
  /** [JOBS] boot-time jobs, upserted. */
  jobs?: JobDefinition[]
  tasks?: Record<string, TaskFunction>
  taskModules?: Record<string, string>
  /** [SCHEDULER_API_ENABLED] */
  apiEnabled?: boolean
  /** [SCHEDULER_API_PREFIX] */
  apiPrefix?: string
  /** [SCHEDULER_ENDPOINT_PREFIX] */
  endpointPrefix?: string
  /** [SCHEDULER_AUTH] */
  auth?: { authenticate: AuthenticateFn }
  /** [SCHEDULER_ALLOWED_HOSTS] */
  allowedHosts?: string[]
  /** Origins (scheme://host[:port]) of other sites whose pages may change state through the API, e.g. a dashboard served elsewhere. */
  allowedOrigins?: string[]
  ui?: boolean
  autoStart?: boolean
  nodeId?: string
  leaseMs?: number
  historyLimit?: number
  decorator?: string
  /** Time source and timers; tests pass a ManualClock. */
  clock?: Clock
  /** Longest sleep of the timer loop (ms); bounds how late a clock jump or a change made by another process is noticed. */
  maxSleepMs?: number
  /** How long closing waits for running tasks before aborting them (ms). */
  shutdownTimeoutMs?: number
  /**
   * How long before their time jobs are claimed and their fires
   * decided and written (ms); each task still starts at its due time. 0: at their time.
   */
  lookAheadMs?: number
}

export interface ResolvedOptions {
  jobstores: Record<string, JobStore>
  executors: Record<string, { maxConcurrency: number }>
  jobDefaults: JobDefaults
  timezone: string
  jobs: JobDefinition[]
  tasks: Record<string, TaskFunction>
  taskModules: Record<string, string>
  apiEnabled: boolean
  apiPrefix: string
  endpointPrefix: string
  auth: { authenticate: AuthenticateFn } | null
  allowedHosts: string[]
  allowedOrigins: string[]
  ui: boolean
  autoStart: boolean
  nodeId: string
  leaseMs: number
  historyLimit: number
  decorator: string
  clock: Clock | undefined
  maxSleepMs: number
  shutdownTimeoutMs: number
  lookAheadMs: number
}

const KNOWN = new Set(['store', 'jobstores', 'executors', 'jobDefaults', 'timezone', 'jobs', 'tasks', 'taskModules',
  'apiEnabled', 'apiPrefix', 'endpointPrefix', 'auth', 'allowedHosts', 'allowedOrigins', 'ui', 'autoStart', 'nodeId', 'leaseMs',
  'historyLimit', 'decorator', 'clock', 'maxSleepMs', 'shutdownTimeoutMs', 'lookAheadMs'])
// Fastify passes these to every plugin.
const FASTIFY_KEYS = new Set(['prefix', 'logLevel', 'logSerializers'])
const STORE_METHODS = ['open', 'close', 'addJob', 'getJob', 'updateJob', 'removeJob', 'queryJobs', 'overdueJobs',
  'acquireDueJobs', 'releaseJobs', 'insertRuns', 'renewRunLeases', 'finishRuns', 'expireRuns', 'getRuns', 'nextWakeTime',
  'getSchedulerState', 'setSchedulerState', 'subscribe'] as const

function fail (option: string, message: string): never {
  throw new Error(`fastify-apscheduler: option '${option}' ${message}`)
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

function checkStore (value: unknown, option: string): JobStore {
  if (!isPlainObject(value) && typeof value !== 'object') fail(option, 'must be a JobStore (new MemoryStore(), new SqliteStore({ path }), new RedisStore({ url }))')
  const missing = STORE_METHODS.filter((m) => typeof (value as Record<string, unknown>)?.[m] !== 'function')
  if (missing.length > 0) fail(option, `must be a JobStore; it lacks ${missing.join(', ')}`)
  return value as JobStore
}

/**
 * Default 1 s (a quarter of the lease at most): long enough for a store to claim and write a wave
 * of thousands of fires before it is due. At most 1 s, and under half the lease, so a claim never
 * lapses before its fire.
 */
function readLookAhead (value: unknown, leaseMs: number): number {
  if (value === undefined) return Math.min(1000, Math.floor(leaseMs / 4))
  const ms = positiveInt(value, 'lookAheadMs', 0)
  if (ms > 1000 || ms >= leaseMs / 2) fail('lookAheadMs', `must be at most 1000 and under half of leaseMs (${leaseMs}) (got ${ms})`)
  return ms
}

function positiveInt (value: unknown, option: string, min = 1): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) fail(option, `must be an integer >= ${min} (got ${JSON.stringify(value)})`)
  return value
}

function readDefaultTimeout (value: unknown): number | null {
  try {
    return readTimeout(value)
  } catch (err) {
    return fail('jobDefaults.timeout', `${(err as Error).message.replace(/^timeout: /, '')} (got ${JSON.stringify(value)})`)
  }
}

function bool (value: unknown, option: string): boolean {
  if (typeof value !== 'boolean') fail(option, `must be true or false (got ${JSON.stringify(value)})`)
  return value
}

/** Validates every option up front, so a typo fails at register time with a message saying what to fix. */
export function resolveOptions (raw: SchedulerPluginOptions | undefined): ResolvedOptions {
  const opts = (raw ?? {}) as Record<string, unknown>
  for (const key of Object.keys(opts)) {
    if (!KNOWN.has(key) && !FASTIFY_KEYS.has(key)) fail(key, `is not an option of fastify-apscheduler (known: ${[...KNOWN].join(', ')})`)
  }

  if (opts.store !== undefined && opts.jobstores !== undefined) fail('store', "and 'jobstores' cannot both be given; use 'jobstores: { default: store }'")
  let jobstores: Record<string, JobStore>
  if (opts.store !== undefined) {
    jobstores = { default: checkStore(opts.store, 'store') }
  } else if (opts.jobstores !== undefined) {
    if (!isPlainObject(opts.jobstores) || Object.keys(opts.jobstores).length === 0) fail('jobstores', 'must be an object of { alias: JobStore } with at least one store')
    jobstores = {}
    for (const [alias, store] of Object.entries(opts.jobstores)) jobstores[alias] = checkStore(store, `jobstores.${alias}`)
  } else {
    jobstores = { default: new MemoryStore() }
  }
  if (new Set(Object.values(jobstores)).size !== Object.keys(jobstores).length) fail('jobstores', 'must not list the same store instance twice')

  const executors: Record<string, { maxConcurrency: number }> = {}
  const rawExecutors = opts.executors ?? { default: { maxConcurrency: 10 } }
  if (!isPlainObject(rawExecutors)) fail('executors', 'must be an object of { alias: { maxConcurrency } }')
  for (const [alias, cfg] of Object.entries(rawExecutors)) {
    if (!isPlainObject(cfg)) fail(`executors.${alias}`, 'must be an object like { maxConcurrency: 10 }')
    for (const k of Object.keys(cfg)) if (k !== 'maxConcurrency') fail(`executors.${alias}.${k}`, 'is not an executor option (known: maxConcurrency)')
    executors[alias] = { maxConcurrency: cfg.maxConcurrency === undefined ? 10 : positiveInt(cfg.maxConcurrency, `executors.${alias}.maxConcurrency`) }
  }
  if (executors.default === undefined) executors.default = { maxConcurrency: 10 }

  const jd = opts.jobDefaults ?? {}
  if (!isPlainObject(jd)) fail('jobDefaults', 'must be an object')
  for (const k of Object.keys(jd)) if (!['misfire_grace_time', 'coalesce', 'max_instances', 'timeout'].includes(k)) fail(`jobDefaults.${k}`, 'is not a job default (known: misfire_grace_time, coalesce, max_instances, timeout)')
  const grace = jd.misfire_grace_time === undefined ? 1 : jd.misfire_grace_time
  if (grace !== null && (typeof grace !== 'number' || !(grace > 0) || !Number.isFinite(grace))) fail('jobDefaults.misfire_grace_time', 'must be a positive number of seconds or null')
  const jobDefaults: JobDefaults = {
    misfire_grace_time: grace as number | null,
    coalesce: jd.coalesce === undefined ? true : bool(jd.coalesce, 'jobDefaults.coalesce'),
    max_instances: jd.max_instances === undefined ? 1 : positiveInt(jd.max_instances, 'jobDefaults.max_instances'),
    timeout: jd.timeout === undefined ? null : readDefaultTimeout(jd.timeout)
  }

  const rawTimezone = opts.timezone ?? 'UTC'
  if (typeof rawTimezone !== 'string' || !isValidTimezone(rawTimezone)) fail('timezone', `must be an IANA time zone such as 'UTC' or 'Europe/Berlin' (got ${JSON.stringify(rawTimezone)})`)
  const timezone = canonicalTimezone(rawTimezone)

  const jobs = opts.jobs ?? []
  if (!Array.isArray(jobs)) fail('jobs', 'must be an array of job definitions')

  const tasks = opts.tasks ?? {}
  if (!isPlainObject(tasks)) fail('tasks', 'must be an object of { name: function }')
  for (const [name, fn] of Object.entries(tasks)) if (typeof fn !== 'function') fail(`tasks.${name}`, 'must be a function')

  const taskModules = opts.taskModules ?? {}
  if (!isPlainObject(taskModules)) fail('taskModules', 'must be an object of { alias: modulePath }')
  for (const [alias, path] of Object.entries(taskModules)) {
    if (typeof path !== 'string' || path.length === 0) fail(`taskModules.${alias}`, 'must be a module path or specifier')
    if (alias.includes(':')) fail(`taskModules.${alias}`, "alias must not contain ':'")
  }

  const apiPrefix = opts.apiPrefix ?? '/scheduler'
  if (typeof apiPrefix !== 'string' || (apiPrefix !== '' && (!apiPrefix.startsWith('/') || apiPrefix.endsWith('/')))) {
    fail('apiPrefix', `must be '' or a path starting with '/' and not ending with '/' (got ${JSON.stringify(apiPrefix)})`)
  }
  const endpointPrefix = opts.endpointPrefix ?? ''
  if (typeof endpointPrefix !== 'string' || !/^[A-Za-z0-9_]*$/.test(endpointPrefix)) fail('endpointPrefix', 'must be letters, digits or _ (it prefixes OpenAPI operationIds)')

  let auth: ResolvedOptions['auth'] = null
  if (opts.auth !== undefined) {
    if (!isPlainObject(opts.auth) || typeof opts.auth.authenticate !== 'function') fail('auth', 'must be { authenticate(credentials, request) => boolean | Promise<boolean> }')
    auth = { authenticate: opts.auth.authenticate as AuthenticateFn }
  }

  const allowedHosts = opts.allowedHosts ?? ['*']
  if (!Array.isArray(allowedHosts) || allowedHosts.length === 0 || allowedHosts.some((h) => typeof h !== 'string' || h.length === 0)) {
    fail('allowedHosts', "must be a non-empty array of host names (['*'] allows every host)")
  }

  const apiEnabled = opts.apiEnabled === undefined ? false : bool(opts.apiEnabled, 'apiEnabled')
  // The dashboard is a client of the REST API, so it follows the API unless turned off.
  const ui = opts.ui === undefined ? apiEnabled : bool(opts.ui, 'ui')
  if (ui && !apiEnabled) fail('ui', 'needs apiEnabled: true (the dashboard is served under apiPrefix and talks to the REST API)')

  const rawOrigins = opts.allowedOrigins ?? []
  if (!Array.isArray(rawOrigins)) fail('allowedOrigins', "must be an array of origins like ['https://dash.example.com']")
  const allowedOrigins = rawOrigins.map((origin, i) => {
    try { return parseOrigin(origin) } catch (err) { return fail(`allowedOrigins[${i}]`, (err as Error).message) }
  })

  const nodeId = opts.nodeId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`
  if (typeof nodeId !== 'string' || nodeId.length === 0 || nodeId.length > 191) fail('nodeId', 'must be a string of 1 to 191 characters')

  const leaseMs = opts.leaseMs === undefined ? 30_000 : positiveInt(opts.leaseMs, 'leaseMs', 1000)
  const historyLimit = opts.historyLimit === undefined ? 100 : positiveInt(opts.historyLimit, 'historyLimit')
  const decorator = opts.decorator ?? 'scheduler'
  if (typeof decorator !== 'string' || !/^[A-Za-z_$][\w$]*$/.test(decorator)) fail('decorator', 'must be a valid identifier')

  const clock = opts.clock as Clock | undefined
  if (clock !== undefined && (typeof clock.now !== 'function' || typeof clock.setTimeout !== 'function' || typeof clock.clearTimeout !== 'function')) {
    fail('clock', 'must have now(), setTimeout(fn, ms) and clearTimeout(handle)')
  }
  if (clock !== undefined && clock.monotonic !== undefined && typeof clock.monotonic !== 'function') {
    fail('clock', 'monotonic, when given, must be a function returning milliseconds')
  }

  return {
    jobstores,
    executors,
    jobDefaults,
    timezone,
    jobs: jobs as JobDefinition[],
    tasks: tasks as Record<string, TaskFunction>,
    taskModules: taskModules as Record<string, string>,
    apiEnabled,
    apiPrefix,
    endpointPrefix,
    auth,
    allowedHosts: allowedHosts as string[],
    allowedOrigins,
    ui,
    autoStart: opts.autoStart === undefined ? true : bool(opts.autoStart, 'autoStart'),
    nodeId,
    leaseMs,
    historyLimit,
    decorator,
    clock,
    maxSleepMs: opts.maxSleepMs === undefined ? 1000 : positiveInt(opts.maxSleepMs, 'maxSleepMs', 10),
    shutdownTimeoutMs: opts.shutdownTimeoutMs === undefined ? 10_000 : positiveInt(opts.shutdownTimeoutMs, 'shutdownTimeoutMs', 0),
    lookAheadMs: readLookAhead(opts.lookAheadMs, leaseMs)
  }
}

export function hostAllowed (allowedHosts: readonly string[], host = hostname()): boolean {
  return allowedHosts.includes('*') || allowedHosts.includes(host)
}
