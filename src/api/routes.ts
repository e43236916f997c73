/** The REST API (SPEC §6), wire-compatible with Flask-APScheduler, in its own encapsulated context. */
import { STATUS_CODES } from 'node:http'
import { hostname } from 'node:os'
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchema, FastifySchemaCompiler, HTTPMethods } from 'fastify'
import type { TSchema } from 'typebox'
import { JobNotFoundError, SchedulerStateError, ValidationError } from '../errors.js'
import type { JobDefinition } from '../job.js'
import { hostAllowed, type ResolvedOptions } from '../options.js'
import type { Scheduler } from '../scheduler.js'
import { registerAuth, WWW_AUTHENTICATE } from './auth.js'
import { registerCrossSiteProtection } from './cross-site.js'
import { dashboardRoutes } from './dashboard-routes.js'
import * as S from './schemas.js'

export interface ErrorBody { statusCode: number, error: string, message: string, error_message: string }

export function errorBody (statusCode: number, message: string): ErrorBody {
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message, error_message: message }
}

const PROMETHEUS_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

interface Input { id: string, query: Record<string, unknown>, body: unknown }
type Handler = (input: Input, reply: FastifyReply) => Promise<unknown>

export interface RouteSpec {
  method: HTTPMethods
  /** Below the prefix; job routes are given as the part after `/jobs/:id`. */
  path: string
  operationId: string
  summary: string
  tag: 'scheduler' | 'jobs'
  querystring?: TSchema
  body?: TSchema
  /** The core validates this body whole (normalizeJob/patchJob); the schema only documents it. */
  coreBody?: boolean
  /**
   * Upstream ignores this route's body: unknown fields, bodies that are not JSON objects and
   * bodies that do not parse are ignored; the fields of `body` are still validated when given.
   */
  ignoresBody?: boolean
  response: Record<string, unknown>
  handler: Handler
}

/**
 * Registers the API under `options.apiPrefix`. `extend` runs inside the same context, so routes it
 * adds (the dashboard) get the same auth, parsers and error format.
 */
export async function registerApi (
  fastify: FastifyInstance,
  scheduler: Scheduler,
  options: ResolvedOptions,
  extend?: (api: FastifyInstance) => Promise<void> | void
): Promise<void> {
  await fastify.register(async (api) => {
    // Order matters: Fastify binds hooks, error and not-found handlers to routes as they are added.
    registerBodyParsers(api)
    api.setValidatorCompiler(({ schema, httpPart }) => S.compileValidator(schema as TSchema, httpPart ?? 'body'))
    // Response schemas document; JSON.stringify keeps every field and the key order of the core.
    api.setSerializerCompiler(() => (data) => JSON.stringify(data))
    api.setErrorHandler((err: Error & { statusCode?: number }, request, reply) => {
      const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode <= 599 ? err.statusCode : 500
      if (status >= 500) request.log[err.statusCode === undefined ? 'error' : 'warn']({ err }, 'fastify-apscheduler API error')
      if (status === 401) void reply.header('WWW-Authenticate', WWW_AUTHENTICATE)
      // A store busy or unreachable for now (e.g. SQLite locked by another process) says when to retry.
      const retryAfter = (err as { retryAfterSeconds?: unknown }).retryAfterSeconds
      if ((status === 503 || status === 429) && typeof retryAfter === 'number') void reply.header('Retry-After', String(Math.max(1, Math.ceil(retryAfter))))
      void reply.code(status).type('application/json; charset=utf-8').send(errorBody(status, err.message))
    })
    // Before auth: a cross-site request is refused whatever credentials the browser holds.
    registerCrossSiteProtection(api, options.allowedOrigins)
    await registerAuth(api, scheduler)
    // With an empty prefix the host's own 404s would be captured, so only a real prefix gets one.
    if (options.apiPrefix !== '') {
      api.setNotFoundHandler((request, reply) => {
        void reply.code(404).send(errorBody(404, `Route ${request.method}:${request.url} not found`))
      })
    }

    for (const spec of [...schedulerRoutes(scheduler, options), ...jobsRoutes(scheduler), ...dashboardRoutes(scheduler)]) addRoute(api, spec, scheduler, options)
    const jobRoutes = jobRoutesById(scheduler)
    for (const spec of jobRoutes) addRoute(api, { ...spec, path: `/jobs/:id${spec.path}` }, scheduler, options)
    addLongIdFallback(api, jobRoutes)

    if (extend !== undefined) await extend(api)
  }, { prefix: options.apiPrefix })
}

// ---------------------------------------------------------------- route tables

const NOT_FOUND = S.errorResponse('No job has this id')
const CHANGING = S.errorResponse('The job kept changing; retry')
/** The most runs one request asks a store for: a larger limit means "all" (history is capped anyway). */
const MAX_RUNS_LIMIT = 1_000_000
const common = (): Record<string, unknown> => ({
  401: S.errorResponse('Authentication required (when an authenticator is set)'),
  500: S.errorResponse('Unexpected error'),
  503: S.errorResponse('The job store is busy (e.g. SQLite locked by another process) or unreachable; retry after Retry-After seconds')
})
const withBody = (): Record<string, unknown> => ({
  400: S.errorResponse('Invalid body or query; the message names the field'),
  403: S.errorResponse('A browser sent it from another site (Origin / Sec-Fetch-Site) not listed in allowedOrigins'),
  413: S.errorResponse('Body too large'),
  415: S.errorResponse('Unsupported content type (send JSON)')
})

function schedulerRoutes (scheduler: Scheduler, options: ResolvedOptions): RouteSpec[] {
  const done = S.NO_CONTENT('Done')
  return [
    {
      method: 'GET', path: '/', operationId: 'getSchedulerInfo', tag: 'scheduler', summary: 'Scheduler state and number of jobs',
      response: { 200: S.described(S.SchedulerInfo, 'Scheduler info'), ...common() },
      handler: async () => ({
        current_host: hostname(),
        allowed_hosts: options.allowedHosts,
        running: scheduler.running,
        state: scheduler.state,
        node_id: scheduler.nodeId,
        timezone: scheduler.timezone,
        jobs: (await scheduler.queryJobs({ limit: 0 })).total
      })
    },
    {
      method: 'POST', path: '/pause', operationId: 'pauseScheduler', tag: 'scheduler', summary: 'Pause firing on every process sharing the store', ignoresBody: true,
      response: { 204: done, ...common(), 500: S.errorResponse('Scheduler is not running') },
      handler: async (_, reply) => { await scheduler.pause(); return reply.code(204).send() }
    },
    {
      method: 'POST', path: '/resume', operationId: 'resumeScheduler', tag: 'scheduler', summary: 'Resume firing on every process sharing the store', ignoresBody: true,
      response: { 204: done, ...common(), 500: S.errorResponse('Scheduler is not running') },
      handler: async (_, reply) => { await scheduler.resume(); return reply.code(204).send() }
    },
    {
      method: 'POST', path: '/start', operationId: 'startScheduler', tag: 'scheduler', summary: 'Start firing in this process', ignoresBody: true,
      response: { 204: done, 400: S.errorResponse('Scheduler is already running, or this host is not in allowed_hosts'), ...common() },
      handler: async (_, reply) => {
        if (!scheduler.running && !hostAllowed(options.allowedHosts)) {
          throw new SchedulerStateError(`Host ${hostname()} is not in allowed_hosts; this process does not run jobs`, 400)
        }
        await scheduler.start()
        return reply.code(204).send()
      }
    },
    {
      method: 'POST', path: '/shutdown', operationId: 'shutdownScheduler', tag: 'scheduler', summary: 'Stop firing in this process',
      body: S.ShutdownBody, ignoresBody: true,
      response: { 204: done, ...withBody(), 400: S.errorResponse('Scheduler is not running, or an invalid body'), ...common() },
      handler: async ({ body }, reply) => {
        await scheduler.shutdown({ wait: (body as S.ShutdownBodyT | undefined)?.wait !== false })
        return reply.code(204).send()
      }
    },
    {
      method: 'GET', path: '/health', operationId: 'getHealth', tag: 'scheduler', summary: 'Liveness: 503 when a job store is unusable or jobs are overdue by more than their grace',
      response: { ...common(), 200: S.described(S.Health, 'Healthy'), 503: S.described(S.Health, 'A job store is unusable, or jobs are overdue') },
      handler: async (_, reply) => {
        const steps = scheduler.clockSteps
        const clock = steps === null ? {} : { clock_steps: steps }
        const stores = await scheduler.storeProblems()
        if (Object.keys(stores).length > 0) return reply.code(503).send({ status: 'store_unavailable', overdue: [], stores, ...clock })
        let overdue: string[]
        try {
          overdue = await scheduler.overdueJobs()
        } catch (err) {
          // A store that failed just now, before its health said so.
          if ((err as { statusCode?: number }).statusCode !== 503) throw err
          return reply.code(503).send({ status: 'store_unavailable', overdue: [], stores: { default: (err as Error).message }, ...clock })
        }
        return reply.code(overdue.length > 0 ? 503 : 200).send({ status: overdue.length > 0 ? 'overdue' : 'ok', overdue, ...clock })
      }
    },
    {
      method: 'GET', path: '/metrics', operationId: 'getMetrics', tag: 'scheduler', summary: 'Prometheus metrics',
      response: {
        200: { description: 'Prometheus text exposition format 0.0.4', content: { 'text/plain': { schema: { type: 'string' } } } },
        ...common()
      },
      handler: async (_, reply) => reply.type(PROMETHEUS_TYPE).send(scheduler.metrics.toPrometheus())
    }
  ]
}

function jobsRoutes (scheduler: Scheduler): RouteSpec[] {
  return [
    {
      method: 'POST', path: '/jobs', operationId: 'addJob', tag: 'jobs', summary: 'Add a job',
      body: S.JobInput, coreBody: true,
      response: { 200: S.described(S.Job, 'The added job'), ...withBody(), 409: S.errorResponse('Job <id> already exists.'), ...common() },
      handler: async ({ body }) => await scheduler.addJob(checkWireDates(body) as JobDefinition, { source: 'api' })
    },
    {
      method: 'GET', path: '/jobs', operationId: 'getJobs', tag: 'jobs', summary: 'List jobs by next run, paused last',
      querystring: S.JobsQuery,
      response: {
        200: { ...S.described(S.JobList, 'Jobs'), headers: { 'X-Total-Count': { type: 'integer', description: 'Jobs matching the filters, before limit/offset' } } },
        400: S.errorResponse('Invalid query; the message names the parameter'),
        ...common()
      },
      handler: async ({ query }, reply) => {
        const { jobs, total } = await scheduler.queryJobs(query as S.JobsQueryT)
        return reply.header('X-Total-Count', String(total)).send(jobs)
      }
    }
  ]
}

/** Routes below `/jobs/:id` (`path` is the rest). */
function jobRoutesById (scheduler: Scheduler): RouteSpec[] {
  const job = S.described(S.Job, 'The job')
  return [
    {
      method: 'GET', path: '', operationId: 'getJob', tag: 'jobs', summary: 'Get a job',
      response: { 200: job, 404: NOT_FOUND, ...common() },
      handler: async ({ id }) => {
        const found = await scheduler.getJob(id)
        if (found === null) throw new JobNotFoundError(id)
        return found
      }
    },
    {
      method: 'PATCH', path: '', operationId: 'updateJob', tag: 'jobs', summary: 'Change a job (validated whole, applied atomically)',
      body: S.JobPatch, coreBody: true,
      response: { 200: job, ...withBody(), 404: NOT_FOUND, 409: CHANGING, ...common() },
      handler: async ({ id, body }) => {
        // As upstream: no body at all is an error; `{}` is a valid patch that changes nothing.
        if (body === undefined) throw new ValidationError('body', 'a JSON object with the fields to change is required ({} changes nothing)')
        return await scheduler.modifyJob(id, checkWireDates(body) as Record<string, unknown>)
      }
    },
    {
      method: 'DELETE', path: '', operationId: 'deleteJob', tag: 'jobs', summary: 'Remove a job',
      response: { 204: S.NO_CONTENT('Removed'), 404: NOT_FOUND, ...common() },
      handler: async ({ id }, reply) => { await scheduler.removeJob(id); return reply.code(204).send() }
    },
    {
      method: 'POST', path: '/pause', operationId: 'pauseJob', tag: 'jobs', summary: 'Pause a job, with an optional reason',
      body: S.PauseJobBody, ignoresBody: true,
      response: { 200: S.described(S.Job, 'The paused job (next_run_time null)'), ...withBody(), 404: NOT_FOUND, 409: CHANGING, ...common() },
      handler: async ({ id, body }) => await scheduler.pauseJob(id, (body as S.PauseJobBodyT | undefined)?.reason ?? null)
    },
    {
      method: 'POST', path: '/resume', operationId: 'resumeJob', tag: 'jobs', summary: 'Resume a paused job', ignoresBody: true,
      response: {
        200: job,
        400: S.errorResponse('The trigger has no fire time left (e.g. its end_date passed while the job was paused)'),
        404: NOT_FOUND,
        409: CHANGING,
        ...common()
      },
      handler: async ({ id }) => await scheduler.resumeJob(id)
    },
    {
      method: 'POST', path: '/run', operationId: 'runJob', tag: 'jobs', summary: 'Run a job now (its schedule is not touched)', ignoresBody: true,
      querystring: S.RunQuery,
      response: {
        200: S.described(S.Job, 'The job, after the run finished'),
        202: S.described(S.RunAccepted, 'The run was started (wait=false)'),
        400: S.errorResponse('Invalid query'),
        404: NOT_FOUND,
        409: S.errorResponse('The job already runs max_instances instances'),
        429: S.errorResponse('Too many manual runs wait for the executor, or as many runs of the job wait or run as its history keeps (historyLimit); retry after Retry-After seconds'),
        ...common(),
        500: S.errorResponse("The task failed: its error's message")
      },
      handler: async ({ id, query }, reply) => {
        const wait = (query as S.RunQueryT).wait !== false
        const { job: info, run_id: runId } = await scheduler.runJob(id, { wait })
        return wait ? info : reply.code(202).send({ run_id: runId })
      }
    },
    {
      method: 'GET', path: '/runs', operationId: 'getJobRuns', tag: 'jobs', summary: 'Run history, newest first',
      querystring: S.RunsQuery,
      response: { 200: S.described(S.RunList, 'Runs'), 400: S.errorResponse('Invalid query'), 404: NOT_FOUND, ...common() },
      handler: async ({ id, query }) => {
        const { limit } = query as S.RunsQueryT
        return await scheduler.getJobRuns(id, limit === undefined ? undefined : Math.min(limit, MAX_RUNS_LIMIT))
      }
    },
    {
      method: 'GET', path: '/next', operationId: 'getJobNextRunTimes', tag: 'jobs', summary: 'The next fire times from the trigger',
      querystring: S.NextQuery,
      response: { 200: S.described(S.NextRunTimes, 'ISO 8601 fire times'), 400: S.errorResponse('Invalid count'), 404: NOT_FOUND, ...common() },
      handler: async ({ id, query }) => await scheduler.getNextRunTimes(id, (query as S.NextQueryT).count ?? 5)
    }
  ]
}

// ---------------------------------------------------------------- registration

function addRoute (api: FastifyInstance, spec: RouteSpec, scheduler: Scheduler, options: ResolvedOptions): void {
  // Any POST, PATCH or DELETE may carry a body, so each may answer 400 (not JSON), 413 or 415.
  const response = spec.method === 'GET' ? spec.response : { ...withBody(), ...spec.response }
  const schema: FastifySchema & Record<string, unknown> = {
    operationId: options.endpointPrefix + spec.operationId,
    summary: spec.summary,
    tags: [spec.tag],
    response
  }
  if (spec.path.includes(':id')) schema.params = S.JobIdParams
  if (spec.querystring !== undefined) schema.querystring = spec.querystring
  if (spec.body !== undefined) schema.body = spec.body
  const passBody: FastifySchemaCompiler<unknown> = ({ schema: s, httpPart }) =>
    httpPart === 'body' ? (data) => ({ value: data ?? undefined }) : S.compileValidator(s as TSchema, httpPart ?? 'body')
  const ignoringBody: FastifySchemaCompiler<unknown> = ({ schema: s, httpPart }) =>
    httpPart === 'body' ? lenientBodyCheck(s as TSchema) : S.compileValidator(s as TSchema, httpPart ?? 'body')
  // A variable, not a literal: `swaggerTransform` is only typed when @fastify/swagger is installed.
  const config = { swaggerTransform: securityTransform(scheduler), ignoresBody: spec.ignoresBody === true }
  const handler = async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => await spec.handler({
    id: (request.params as { id?: string }).id ?? '',
    query: (request.query ?? {}) as Record<string, unknown>,
    body: request.body
  }, reply)
  // `GET P` is documented without a trailing slash (as upstream); `GET P/` is served by a hidden twin.
  const root = spec.path === '/' ? { prefixTrailingSlash: 'no-slash' as const } : {}
  api.route({
    method: spec.method,
    url: spec.path,
    schema,
    ...(spec.coreBody === true ? { validatorCompiler: passBody } : spec.ignoresBody === true ? { validatorCompiler: ignoringBody } : {}),
    ...root,
    config,
    handler
  })
  if (spec.path === '/' && api.prefix !== '') {
    api.route({ method: spec.method, url: '/', prefixTrailingSlash: 'slash', schema: { ...schema, hide: true, operationId: undefined } as FastifySchema, config, handler })
  }
}

/**
 * Fastify's router refuses a path parameter longer than `maxParamLength` (100 by default), but job
 * ids may have 191 characters (more once URL-encoded). The router falls back to this hidden
 * wildcard route for them; it splits the raw URL itself so that `%2F` inside an id stays part of
 * the id, then validates and runs the same handler as the documented route.
 */
function addLongIdFallback (api: FastifyInstance, specs: RouteSpec[]): void {
  const checks = new Map<RouteSpec, { query?: S.Check, body?: S.Check }>()
  for (const spec of specs) {
    checks.set(spec, {
      query: spec.querystring === undefined ? undefined : S.compileValidator(spec.querystring, 'querystring'),
      body: spec.body === undefined || spec.coreBody === true ? undefined : spec.ignoresBody === true ? lenientBodyCheck(spec.body) : S.compileValidator(spec.body, 'body')
    })
  }
  const prefix = `${api.prefix}/jobs/`
  for (const method of new Set(specs.map((s) => s.method))) {
    api.route({
      method,
      url: '/jobs/*',
      schema: { hide: true } as FastifySchema,
      // Every POST below /jobs/:id (pause, resume, run) ignores its body as upstream does.
      config: { ignoresBody: method === 'POST' },
      handler: async (request, reply) => {
        const path = request.url.split('?')[0] ?? ''
        const rest = path.toLowerCase().startsWith(prefix.toLowerCase()) ? path.slice(prefix.length) : (request.params as Record<string, string>)['*'] ?? ''
        const [rawId = '', action, ...extra] = rest.split('/')
        const spec = specs.find((s) => s.method === method && s.path === (action === undefined ? '' : `/${action}`))
        if (rawId === '' || extra.length > 0 || action === '' || spec === undefined) return reply.callNotFound()
        const { query: checkQuery, body: checkBody } = checks.get(spec) ?? {}
        let query: unknown = request.query ?? {}
        if (checkQuery !== undefined) query = unwrap(checkQuery(query))
        const body = spec.ignoresBody === true && checkBody === undefined ? undefined : checkBody === undefined ? request.body : unwrap(checkBody(request.body ?? null))
        return await spec.handler({ id: decodeSegment(rawId), query: query as Record<string, unknown>, body }, reply)
      }
    })
  }
}

/** For routes whose body upstream ignores: only a JSON object is read, and only its known fields. */
function lenientBodyCheck (schema: TSchema): S.Check {
  const check = S.compileValidator(schema, 'body')
  const known = Object.keys((schema as { properties?: Record<string, unknown> }).properties ?? {})
  return (data) => {
    if (data === null || typeof data !== 'object' || Array.isArray(data)) return { value: undefined }
    const record = data as Record<string, unknown>
    return check(Object.fromEntries(known.filter((k) => record[k] !== undefined).map((k) => [k, record[k]])))
  }
}

function unwrap (result: S.CheckResult): unknown {
  if ('error' in result) throw result.error
  return result.value
}

function decodeSegment (segment: string): string {
  try { return decodeURIComponent(segment) } catch { return segment }
}

/**
 * Adds HTTP Basic to the OpenAPI operations when an authenticator is set by the time the document
 * is generated, declaring `basicAuth` in the document unless the host already did.
 */
function securityTransform (scheduler: Scheduler) {
  return ({ schema, url, openapiObject, swaggerObject }: {
    schema: FastifySchema
    url: string
    openapiObject?: { components?: { securitySchemes?: Record<string, unknown> } }
    swaggerObject?: { securityDefinitions?: Record<string, unknown> }
  }): { schema: FastifySchema, url: string } => {
    if (scheduler.authenticator === null) return { schema, url }
    if (openapiObject !== undefined) {
      const components = openapiObject.components ??= {}
      components.securitySchemes = { basicAuth: { type: 'http', scheme: 'basic' }, ...components.securitySchemes }
    } else if (swaggerObject !== undefined) {
      swaggerObject.securityDefinitions = { basicAuth: { type: 'basic' }, ...swaggerObject.securityDefinitions }
    }
    return { schema: { ...schema, security: [{ basicAuth: [] }] }, url }
  }
}

// ---------------------------------------------------------------- bodies

/**
 * JSON is parsed the same way whatever the content type says: application/json, text/plain,
 * application/x-www-form-urlencoded (what `curl -d` sends), or none at all (Flask-APScheduler read
 * bodies with `force=True`). Anything else is a 415.
 */
function registerBodyParsers (api: FastifyInstance): void {
  // Routes whose body upstream ignores take any body: what does not parse is simply not read.
  const ignores = (request: FastifyRequest): boolean => (request.routeOptions.config as { ignoresBody?: boolean } | undefined)?.ignoresBody === true
  const parse = (request: FastifyRequest, body: string | Buffer, done: (err: Error | null, body?: unknown) => void): void => {
    try {
      done(null, parseJson(String(body)))
    } catch (err) {
      if (ignores(request)) done(null, undefined)
      else done(err as Error)
    }
  }
  const unsupported = (request: FastifyRequest, done: (err: Error | null, body?: unknown) => void): void => {
    if (ignores(request)) { done(null, undefined); return }
    done(Object.assign(new Error(`Unsupported Media Type: ${request.headers['content-type']}; send JSON (application/json)`), { statusCode: 415 }))
  }
  const jsonTypes = ['application/json', 'text/plain', 'application/x-www-form-urlencoded']
  const MERGE_PATCH = 'application/merge-patch+json'
  for (const type of [...jsonTypes, MERGE_PATCH, '*']) {
    if (api.hasContentTypeParser(type)) api.removeContentTypeParser(type)
  }
  for (const type of jsonTypes) api.addContentTypeParser(type, { parseAs: 'string' }, parse)
  // RFC 7396 bodies are what PATCH merges anyway.
  api.addContentTypeParser(MERGE_PATCH, { parseAs: 'string' }, (request, body, done) => {
    if (request.method === 'PATCH') parse(request, body, done)
    else unsupported(request, done)
  })
  api.addContentTypeParser('*', { parseAs: 'string' }, (request, body, done) => {
    if (request.headers['content-type'] === undefined) { parse(request, body, done); return }
    unsupported(request, done)
  })
}

const DATE_FIELDS = ['run_date', 'start_date', 'end_date', 'next_run_time']

/**
 * Over HTTP a date is an ISO 8601 string (or null), as documented; the core also takes Date
 * objects and epoch milliseconds, but only from code. Returns the body for chaining.
 */
export function checkWireDates (body: unknown): unknown {
  const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v)
  if (!isObject(body)) return body
  for (const where of [body, isObject(body.trigger) ? body.trigger : {}]) {
    for (const field of DATE_FIELDS) {
      const value = where[field]
      if (value !== undefined && value !== null && typeof value !== 'string') {
        throw new ValidationError(field, 'must be an ISO 8601 date-time string, e.g. 2030-05-06T07:08:09+00:00')
      }
    }
  }
  return body
}

/** JSON.parse, refusing prototype-poisoning keys (`__proto__`, `constructor.prototype`). */
function parseJson (text: string): unknown {
  if (text.trim() === '') return undefined
  try {
    return JSON.parse(text, (key, value: unknown) => {
      if (key === '__proto__') throw new ValidationError('__proto__', 'is not allowed as a key in a JSON body')
      if (key === 'constructor' && value !== null && typeof value === 'object' && Object.hasOwn(value, 'prototype')) {
        throw new ValidationError('constructor.prototype', 'is not allowed in a JSON body')
      }
      return value
    })
  } catch (err) {
    if (err instanceof ValidationError) throw err
    throw new ValidationError('body', `is not valid JSON (${(err as Error).message})`)
  }
}
