/**
 * TypeBox schemas of the REST API. They document the wire format for @fastify/swagger and typed
 * clients; job bodies are validated whole by the core (normalizeJob/patchJob), not by these.
 */
import { Type, type Static, type TSchema } from 'typebox'
import { Compile } from 'typebox/compile'
import { ValidationError } from '../errors.js'

const DateTime = (description: string): TSchema => Type.String({ description, examples: ['2030-05-06T07:08:09+00:00'] })
const Nullable = <T extends TSchema>(schema: T, description?: string) =>
  Type.Union([schema, Type.Null()], description === undefined ? {} : { description })
// An object of any JSON values. `Type.Record` would emit `patternProperties`, which OpenAPI 3.0 lacks.
const JsonObject = (description: string): TSchema => Type.Unsafe<Record<string, unknown>>({ type: 'object', additionalProperties: true, description })

export const TriggerType = Type.Union([Type.Literal('date'), Type.Literal('interval'), Type.Literal('cron')])

/** Trigger fields as users give them (numbers are accepted for cron fields and converted). */
const triggerInputFields = {
  run_date: Type.Optional(Type.String({ description: 'date: ISO 8601; without an offset it is wall time in `timezone`' })),
  weeks: Type.Optional(Type.Number({ minimum: 0 })),
  days: Type.Optional(Type.Number({ minimum: 0 })),
  hours: Type.Optional(Type.Number({ minimum: 0 })),
  minutes: Type.Optional(Type.Number({ minimum: 0 })),
  seconds: Type.Optional(Type.Number({ minimum: 0 })),
  start_date: Type.Optional(Nullable(Type.String(), 'interval/cron: ISO 8601')),
  end_date: Type.Optional(Nullable(Type.String(), 'interval/cron: ISO 8601, inclusive')),
  year: Type.Optional(Type.Union([Type.String(), Type.Number()])),
  month: Type.Optional(Type.Union([Type.String(), Type.Number()])),
  day: Type.Optional(Type.Union([Type.String(), Type.Number()])),
  week: Type.Optional(Type.Union([Type.String(), Type.Number()])),
  day_of_week: Type.Optional(Type.Union([Type.String(), Type.Number()], { description: 'mon…sun or 0-6 (0 = Monday)' })),
  hour: Type.Optional(Type.Union([Type.String(), Type.Number()])),
  minute: Type.Optional(Type.Union([Type.String(), Type.Number()])),
  second: Type.Optional(Type.Union([Type.String(), Type.Number()])),
  crontab: Type.Optional(Type.String({ description: "cron: a standard crontab line, e.g. '*/5 * * * *' (0 = Sunday)" })),
  jitter: Type.Optional(Nullable(Type.Number({ minimum: 0 }), 'interval/cron: random delay of up to this many seconds'))
}

const LegacyTrigger = Type.Object({ type: TriggerType }, {
  additionalProperties: true,
  description: 'Legacy form: { type, ...trigger fields }'
})

const jobInputFields = {
  name: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
  func: Type.String({ description: 'Name of a registered task (`tasks` key or `alias:export` of `taskModules`)' }),
  args: Type.Optional(Nullable(Type.Array(Type.Unknown()))),
  kwargs: Type.Optional(Nullable(JsonObject('Keyword arguments (JSON)'))),
  trigger: Type.Optional(Type.Union([TriggerType, LegacyTrigger], { description: "'date' (default), 'interval', 'cron', or the legacy object" })),
  timezone: Type.Optional(Nullable(Type.String({ description: 'IANA time zone; defaults to the scheduler timezone' }))),
  misfire_grace_time: Type.Optional(Nullable(Type.Number({ exclusiveMinimum: 0 }), 'Seconds a fire may be late; null = no limit')),
  coalesce: Type.Optional(Type.Boolean()),
  max_instances: Type.Optional(Type.Integer({ minimum: 1 })),
  timeout: Type.Optional(Nullable(Type.Number({ exclusiveMinimum: 0 }), 'Seconds a run may take before its signal aborts and it is recorded as a TimeoutError; null = no limit')),
  next_run_time: Type.Optional(Nullable(Type.String(), 'null adds the job paused')),
  executor: Type.Optional(Type.String()),
  ...triggerInputFields
}

/** POST body. Unknown fields are refused (400 naming the field). */
export const JobInput = Type.Object({
  id: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 191 }), 'Any characters; generated when absent or null')),
  jobstore: Type.Optional(Type.String()),
  replace_existing: Type.Optional(Type.Boolean()),
  ...jobInputFields,
  name: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 1024 }), 'Defaults to the id (also when null)'))
}, { additionalProperties: false, description: 'A job definition; trigger fields sit beside the job fields' })

/** PATCH body: any subset; trigger fields alone are merged into the current trigger. */
export const JobPatch = Type.Object({
  id: Type.Optional(Type.String({ description: 'Must equal the current id' })),
  ...jobInputFields,
  func: Type.Optional(Type.String())
}, { additionalProperties: false, description: 'Fields to change; validated whole, applied atomically' })

/** A job as returned: only the fields its trigger has are present. */
export const Job = Type.Object({
  id: Type.String(),
  name: Type.String(),
  func: Type.String(),
  args: Type.Array(Type.Unknown()),
  kwargs: JsonObject('Keyword arguments'),
  trigger: TriggerType,
  run_date: Type.Optional(DateTime('date trigger')),
  start_date: Type.Optional(DateTime('interval/cron')),
  end_date: Type.Optional(DateTime('interval/cron')),
  weeks: Type.Optional(Type.Number()),
  days: Type.Optional(Type.Number()),
  hours: Type.Optional(Type.Number()),
  minutes: Type.Optional(Type.Number()),
  seconds: Type.Optional(Type.Number()),
  crontab: Type.Optional(Type.String()),
  year: Type.Optional(Type.String()),
  month: Type.Optional(Type.String()),
  day: Type.Optional(Type.String()),
  week: Type.Optional(Type.String()),
  day_of_week: Type.Optional(Type.String()),
  hour: Type.Optional(Type.String()),
  minute: Type.Optional(Type.String()),
  second: Type.Optional(Type.String()),
  timezone: Type.String(),
  jitter: Nullable(Type.Number()),
  misfire_grace_time: Nullable(Type.Number()),
  coalesce: Type.Boolean(),
  max_instances: Type.Integer(),
  timeout: Nullable(Type.Number(), 'Seconds a run may take; null = no limit'),
  next_run_time: Nullable(Type.String(), 'ISO 8601 in the job timezone (with its own offset when it was given with one); null when paused'),
  paused: Type.Boolean(),
  paused_reason: Nullable(Type.String()),
  source: Type.Union([Type.Literal('config'), Type.Literal('api'), Type.Literal('code')]),
  jobstore: Type.String(),
  executor: Type.String()
}, { additionalProperties: false })

export const JobList = Type.Array(Job)

export const Run = Type.Object({
  run_id: Type.String(),
  job_id: Type.String(),
  scheduled_at: Type.String(),
  started_at: Nullable(Type.String()),
  finished_at: Nullable(Type.String()),
  status: Type.Union(['running', 'success', 'error', 'missed', 'abandoned'].map((s) => Type.Literal(s))),
  error: Nullable(Type.Object({ name: Type.String(), message: Type.String(), stack: Nullable(Type.String()) })),
  node_id: Type.String(),
  trigger: Type.Union([Type.Literal('scheduled'), Type.Literal('manual')]),
  duration_ms: Nullable(Type.Number()),
  lag_ms: Nullable(Type.Number())
}, { additionalProperties: false })

export const RunList = Type.Array(Run)

export const RunAccepted = Type.Object({ run_id: Type.String() }, { additionalProperties: false })

export const NextRunTimes = Type.Array(Type.String(), { description: 'ISO 8601 fire times from the trigger' })

export const SchedulerInfo = Type.Object({
  current_host: Type.String(),
  allowed_hosts: Type.Array(Type.String()),
  running: Type.Boolean({ description: 'true while paused too (as upstream)' }),
  state: Type.Union([Type.Literal('running'), Type.Literal('paused'), Type.Literal('stopped')]),
  node_id: Type.String(),
  timezone: Type.String(),
  jobs: Type.Integer({ description: 'Number of jobs' })
}, { additionalProperties: false })

export const Health = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('overdue'), Type.Literal('store_unavailable')]),
  overdue: Type.Array(Type.String(), { description: 'Ids of jobs overdue by more than their grace' }),
  stores: Type.Optional(Type.Record(Type.String(), Type.String(), {
    description: 'Job stores that are not usable (unreachable, or their data was lost), by alias, with the reason'
  })),
  clock_steps: Type.Optional(Type.Object({
    count: Type.Integer({ description: 'Steps of the wall clock this process noticed (wall and monotonic time disagreeing by more than a second)' }),
    last_at: Type.String({ description: 'When the last one was noticed (wall time after it)' }),
    last_ms: Type.Number({ description: 'Its size in ms; negative: the clock stepped back' })
  }, { additionalProperties: false, description: 'Present once this process noticed a wall-clock step; informative, it does not change the status' }))
}, { additionalProperties: false })

export const ErrorBody = Type.Object({
  statusCode: Type.Integer(),
  error: Type.String(),
  message: Type.String(),
  error_message: Type.String({ description: 'Same as message (Flask-APScheduler clients read it)' })
}, { additionalProperties: false })

export const JobIdParams = Type.Object({
  id: Type.String({ description: 'Job id, URL-encoded (a `/` in an id is sent as %2F)' })
})

export const JobsQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 0 })),
  offset: Type.Optional(Type.Integer({ minimum: 0 })),
  func: Type.Optional(Type.String()),
  state: Type.Optional(Type.Union([Type.Literal('scheduled'), Type.Literal('paused')])),
  q: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'Case-insensitive prefix of the job id or name' })),
  jobstore: Type.Optional(Type.String())
})

export const RunsQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1 }))
})

export const NextQuery = Type.Object({
  count: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 5 }))
})

export const RunQuery = Type.Object({
  wait: Type.Optional(Type.Boolean({ default: true, description: 'false: answer 202 { run_id } at once' }))
})

export const PauseJobBody = Type.Object({
  reason: Type.Optional(Nullable(Type.String({ maxLength: 1024 }))),
}, { additionalProperties: true, description: 'Optional; other fields, and bodies that are not JSON objects, are ignored (as upstream)' })

export const ShutdownBody = Type.Object({
  wait: Type.Optional(Type.Boolean({ description: 'Wait for running jobs (default true)' }))
}, { additionalProperties: true, description: 'Optional; other fields, and bodies that are not JSON objects, are ignored (as upstream)' })

export type JobsQueryT = Static<typeof JobsQuery>
export type RunsQueryT = Static<typeof RunsQuery>
export type NextQueryT = Static<typeof NextQuery>
export type RunQueryT = Static<typeof RunQuery>
export type PauseJobBodyT = Static<typeof PauseJobBody>
export type ShutdownBodyT = Static<typeof ShutdownBody>

/** A response schema with its OpenAPI description (a copy: the shared schema stays untouched). */
export function described (schema: TSchema, description: string): Record<string, unknown> {
  return { ...schema, description }
}

export const NO_CONTENT = (description: string): Record<string, unknown> => ({ type: 'null', description })

export function errorResponse (description: string): Record<string, unknown> {
  return described(ErrorBody, description)
}

// ---------------------------------------------------------------- validation

/** What a Fastify validator compiler's function returns. */
export type CheckResult = { value: unknown } | { error: Error }
export type Check = (data: unknown) => CheckResult

interface SchemaNode {
  type?: string | string[]
  anyOf?: SchemaNode[]
  const?: unknown
  properties?: Record<string, SchemaNode>
  items?: SchemaNode
  minimum?: number
  maximum?: number
  maxLength?: number
}

/**
 * A validator that never coerces a body (`"max_instances": "2"` stays a string and fails) and
 * never strips fields; query strings are converted only where the text is exactly a number or a
 * boolean (`limit=1.5` fails instead of becoming 1). Errors are ValidationErrors naming the field.
 */
export function compileValidator (schema: TSchema, part: string): Check {
  const compiled = Compile(schema)
  const node = schema as SchemaNode
  return (data) => {
    // Optional bodies: Fastify hands a missing body over as null.
    if (part === 'body' && (data === undefined || data === null)) return { value: undefined }
    let value = data
    if (part === 'querystring' || part === 'params') {
      const converted = convertStrings(node, data)
      if (converted instanceof Error) return { error: converted }
      value = converted
    }
    if (compiled.Check(value)) return { value }
    return { error: describeErrors(node, [...compiled.Errors(value)] as TypeBoxError[], part) }
  }
}

interface TypeBoxError { keyword: string, instancePath: string, params: Record<string, unknown>, message: string }

function convertStrings (schema: SchemaNode, data: unknown): Record<string, unknown> | ValidationError {
  const out: Record<string, unknown> = {}
  if (data === null || typeof data !== 'object') return out
  for (const [key, raw] of Object.entries(data)) {
    const prop = schema.properties?.[key]
    if (prop === undefined || typeof raw !== 'string') {
      if (prop !== undefined && Array.isArray(raw)) return new ValidationError(key, 'must be given once')
      out[key] = raw
      continue
    }
    const types = typesOf(prop)
    if (types.includes('integer') && /^[+-]?\d+$/.test(raw)) out[key] = Number(raw)
    else if (types.includes('number') && raw.trim() !== '' && Number.isFinite(Number(raw))) out[key] = Number(raw)
    else if (types.includes('boolean') && (raw === 'true' || raw === 'false')) out[key] = raw === 'true'
    else out[key] = raw
  }
  return out
}

function typesOf (schema: SchemaNode): string[] {
  if (schema.anyOf !== undefined) return schema.anyOf.flatMap(typesOf)
  if (Array.isArray(schema.type)) return schema.type
  return schema.type === undefined ? [] : [schema.type]
}

function describeErrors (schema: SchemaNode, errors: TypeBoxError[], part: string): ValidationError {
  const unknown = errors.find((e) => e.keyword === 'additionalProperties')
  if (unknown !== undefined) {
    const names = unknown.params.additionalProperties as string[]
    const prefix = pathOf(unknown.instancePath)
    return new ValidationError([...prefix, names[0]].join('.'), part === 'body' ? 'is not a known field' : 'is not a known parameter')
  }
  const first = errors.find((e) => e.instancePath !== '') ?? errors[0]
  const path = first === undefined ? [] : pathOf(first.instancePath)
  if (path.length === 0) {
    return new ValidationError(part === 'body' ? 'body' : part, part === 'body' ? 'must be a JSON object' : (first?.message ?? 'is invalid'))
  }
  let sub: SchemaNode | undefined = schema
  for (const key of path) sub = /^\d+$/.test(key) && sub?.items !== undefined ? sub.items : sub?.properties?.[key]
  return new ValidationError(path.join('.'), (sub === undefined ? undefined : expectation(sub)) ?? first?.message ?? 'is invalid')
}

function pathOf (pointer: string): string[] {
  return pointer === '' ? [] : pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
}

/** A human sentence for what a schema accepts. */
function expectation (schema: SchemaNode): string | undefined {
  if (schema.anyOf !== undefined) {
    const literals = schema.anyOf.filter((s) => s.const !== undefined).map((s) => `'${String(s.const)}'`)
    const nullable = schema.anyOf.some((s) => s.type === 'null')
    const others = schema.anyOf.filter((s) => s.const === undefined && s.type !== 'null')
    const parts = [...(literals.length > 0 ? [`one of ${literals.join(', ')}`] : []), ...others.map((s) => (expectation(s) ?? '').replace(/^must be /, ''))]
    return `must be ${parts.join(' or ')}${nullable ? ' or null' : ''}`
  }
  const range = (noun: string): string => schema.minimum !== undefined && schema.maximum !== undefined
    ? `must be ${noun} from ${schema.minimum} to ${schema.maximum}`
    : schema.minimum !== undefined ? `must be ${noun} >= ${schema.minimum}` : `must be ${noun}`
  switch (schema.type) {
    case 'integer': return range('an integer')
    case 'number': return range('a number')
    case 'boolean': return 'must be true or false'
    case 'string': return schema.maxLength !== undefined ? `must be a string of at most ${schema.maxLength} characters` : 'must be a string'
    case 'array': return 'must be an array'
    case 'object': return 'must be an object'
    default: return undefined
  }
}
