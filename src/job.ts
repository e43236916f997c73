import { randomUUID } from 'node:crypto'
import { ValidationError } from './errors.js'
import { assertJsonValue, hashOf } from './json-value.js'
import type { TaskRegistry } from './tasks.js'
import { canonicalTimezone, isValidTimezone, formatDate, readDateInput } from './time.js'
import { TRIGGER_FIELDS, applyJitter, compileTrigger, parseTriggerSpec, triggerToJSON } from './triggers/index.js'
import { CRON_FIELDS, type JobRecord, type JobSource, type TriggerSpec, type TriggerType } from './types.js'

/** A job as users write it: options, `addJob`, REST bodies. Trigger fields sit beside job fields. */
export interface JobDefinition {
  id?: string
  name?: string
  func: string
  args?: unknown[]
  kwargs?: Record<string, unknown>
  trigger?: TriggerType | ({ type: TriggerType } & Record<string, unknown>)
  timezone?: string
  jitter?: number | null
  misfire_grace_time?: number | null
  coalesce?: boolean
  max_instances?: number
  /** Seconds a run may take before its signal aborts and it is recorded as a TimeoutError; null: no limit. */
  timeout?: number | null
  next_run_time?: string | Date | number | null
  jobstore?: string
  executor?: string
  replace_existing?: boolean
  [triggerField: string]: unknown
}

/** A job as the API returns it (JSON; dates as ISO strings in the job's timezone). */
export interface JobInfo {
  id: string
  name: string
  func: string
  args: unknown[]
  kwargs: Record<string, unknown>
  trigger: TriggerType
  timezone: string
  jitter: number | null
  misfire_grace_time: number | null
  coalesce: boolean
  max_instances: number
  timeout: number | null
  next_run_time: string | null
  paused: boolean
  paused_reason: string | null
  source: JobSource
  jobstore: string
  executor: string
  [triggerField: string]: unknown
}

export interface JobDefaults {
  misfire_grace_time: number | null
  coalesce: boolean
  max_instances: number
  /** Seconds; null: runs are not timed out. */
  timeout: number | null
}

export interface NormalizeContext {
  timezone: string
  jobDefaults: JobDefaults
  tasks: TaskRegistry
  jobstores: readonly string[]
  executors: readonly string[]
  now: number
}

const JOB_FIELDS = new Set(['id', 'name', 'func', 'args', 'kwargs', 'trigger', 'timezone', 'misfire_grace_time',
  'coalesce', 'max_instances', 'timeout', 'next_run_time', 'jobstore', 'executor', 'replace_existing'])
const PATCHABLE = new Set([...JOB_FIELDS].filter((f) => !['id', 'jobstore', 'replace_existing'].includes(f)))
const TRIGGER_TYPES: readonly TriggerType[] = ['date', 'interval', 'cron']
const MAX_ID_LENGTH = 191
/** The longest timeout: a timer's delay must fit in 32 bits of milliseconds (about 24.8 days). */
const MAX_TIMEOUT_SECONDS = 2_000_000

export interface NormalizedJob {
  record: JobRecord
  jobstore: string
  replaceExisting: boolean
}

/** Validates a definition whole and turns it into the record a store keeps. */
export function normalizeJob (input: unknown, source: JobSource, ctx: NormalizeContext): NormalizedJob {
  const def = asPlainObject(input, '')
  const { type, fields } = splitTrigger(def, JOB_FIELDS)
  const timezone = readTimezone(takeTimezone(def, fields), ctx.timezone)

  // null means "not given", as None does upstream: a generated id, the default name.
  const id = def.id === undefined || def.id === null ? randomUUID().replace(/-/g, '') : readId(def.id)
  const name = def.name === undefined || def.name === null ? id : readString(def.name, 'name', 1, 1024)
  const jobstore = def.jobstore === undefined ? 'default' : readAlias(def.jobstore, 'jobstore', ctx.jobstores)
  const executor = def.executor === undefined ? 'default' : readAlias(def.executor, 'executor', ctx.executors)
  if (def.replace_existing !== undefined && typeof def.replace_existing !== 'boolean') throw new ValidationError('replace_existing', 'must be a boolean')

  const spec = parseTriggerSpec(type, fields, { timezone, now: ctx.now })
  const record: JobRecord = {
    id,
    name,
    func: readFunc(def.func, ctx.tasks),
    args: readArgs(def.args),
    kwargs: readKwargs(def.kwargs),
    trigger: spec,
    executor,
    misfire_grace_time: def.misfire_grace_time === undefined ? ctx.jobDefaults.misfire_grace_time : readGrace(def.misfire_grace_time),
    coalesce: def.coalesce === undefined ? ctx.jobDefaults.coalesce : readBoolean(def.coalesce, 'coalesce'),
    max_instances: def.max_instances === undefined ? ctx.jobDefaults.max_instances : readMaxInstances(def.max_instances),
    timeout: def.timeout === undefined ? ctx.jobDefaults.timeout : readTimeout(def.timeout),
    next_run_time: null,
    next_fire_time: null,
    paused: false,
    paused_reason: null,
    source,
    config_hash: source === 'config' ? hashOf({ def, timezone }) : null,
    version: 0,
    created_at: ctx.now,
    updated_at: ctx.now
  }
  if (def.next_run_time === null) {
    record.paused = true
  } else if (def.next_run_time !== undefined) {
    setGivenNextRun(record, readDateInput(def.next_run_time, timezone, 'next_run_time'))
  } else {
    scheduleFromNow(record, ctx.now)
  }
  return { record, jobstore, replaceExisting: def.replace_existing === true }
}

/**
 * Applies a partial change, validated whole, and returns the new record (the input is not touched).
 * `trigger` in the patch replaces the trigger; trigger fields alone are merged into the current one.
 */
export function patchJob (current: JobRecord, input: unknown, ctx: NormalizeContext): JobRecord {
  const patch = asPlainObject(input, '')
  const next: JobRecord = structuredClone(current)
  if (patch.id !== undefined && patch.id !== current.id) throw new ValidationError('id', 'cannot be changed')
  if (patch.jobstore !== undefined) throw new ValidationError('jobstore', 'cannot be changed; remove the job and add it to the other store')
  const own = new Set([...PATCHABLE, 'id'])
  const hasTrigger = patch.trigger !== undefined
  const { type, fields } = splitTrigger(patch, own, hasTrigger ? undefined : current.trigger.type)
  const triggerFieldsGiven = Object.keys(fields).length > 0 || patch.timezone !== undefined

  if (patch.name !== undefined) next.name = readString(patch.name, 'name', 1, 1024)
  if (patch.func !== undefined) next.func = readFunc(patch.func, ctx.tasks)
  if (patch.args !== undefined) next.args = readArgs(patch.args)
  if (patch.kwargs !== undefined) next.kwargs = readKwargs(patch.kwargs)
  if (patch.executor !== undefined) next.executor = readAlias(patch.executor, 'executor', ctx.executors)
  if (patch.misfire_grace_time !== undefined) next.misfire_grace_time = readGrace(patch.misfire_grace_time)
  if (patch.coalesce !== undefined) next.coalesce = readBoolean(patch.coalesce, 'coalesce')
  if (patch.max_instances !== undefined) next.max_instances = readMaxInstances(patch.max_instances)
  if (patch.timeout !== undefined) next.timeout = readTimeout(patch.timeout)

  let reschedule = false
  if (hasTrigger || triggerFieldsGiven) {
    const timezone = readTimezone(takeTimezone(patch, fields), current.trigger.timezone)
    const base = hasTrigger ? {} : givenTriggerFields(current.trigger)
    // A crontab and the cron fields are two spellings of one schedule: giving one replaces the other.
    if ('crontab' in fields) for (const f of CRON_FIELDS) delete base[f]
    if (CRON_FIELDS.some((f) => f in fields)) delete base.crontab
    next.trigger = parseTriggerSpec(type, { ...base, ...fields }, { timezone, now: ctx.now })
    reschedule = true
  }
  if (patch.next_run_time === null) {
    next.paused = true
    next.next_run_time = null
    next.next_fire_time = null
  } else if (patch.next_run_time !== undefined) {
    next.paused = false
    next.paused_reason = null
    setGivenNextRun(next, readDateInput(patch.next_run_time, next.trigger.timezone, 'next_run_time'))
  } else if (reschedule && !next.paused) {
    scheduleFromNow(next, ctx.now)
  }
  next.updated_at = ctx.now
  return next
}

/** A next_run_time given explicitly; its offset, if the string named one, is kept for output. */
function setGivenNextRun (record: JobRecord, given: { ms: number, offset: number | null }): void {
  record.next_run_time = given.ms
  record.next_fire_time = given.ms
  record.next_run_time_given = given.offset === null ? null : { at: given.ms, offset: given.offset }
}

/**
 * How next_run_time is written: with the offset it was given with while it is still that instant;
 * for a date job, with its run_date's offset (its next run is its run date); else in the zone.
 */
function nextRunOffset (record: JobRecord): number | null {
  const given = record.next_run_time_given
  if (given != null && given.at === record.next_run_time) return given.offset
  if (record.trigger.type === 'date') return record.trigger.offsets?.run_date ?? null
  return null
}

/** Sets the first fire at or after `now` (used on add, resume and trigger changes). */
export function scheduleFromNow (record: JobRecord, now: number): void {
  const trigger = compileTrigger(record.trigger)
  let first = trigger.first(now)
  if (first === null) throw new ValidationError('trigger', 'never fires: no fire time remains (check start_date, end_date and the fields)')
  // A date in the past fires once, now (not as a misfire).
  if (record.trigger.type === 'date' && first < now) first = now
  record.next_fire_time = first
  record.next_run_time = applyJitter(first, trigger.next(first), record.trigger.type === 'date' ? null : record.trigger.jitter)
}

export function jobToInfo (record: JobRecord, jobstore: string): JobInfo {
  const tz = record.trigger.timezone
  return {
    id: record.id,
    name: record.name,
    func: record.func,
    args: record.args,
    kwargs: record.kwargs,
    ...triggerToJSON(record.trigger) as { trigger: TriggerType },
    timezone: tz,
    jitter: record.trigger.type === 'date' ? null : record.trigger.jitter,
    misfire_grace_time: record.misfire_grace_time,
    coalesce: record.coalesce,
    max_instances: record.max_instances,
    timeout: record.timeout ?? null,
    next_run_time: record.paused || record.next_run_time === null ? null : formatDate(record.next_run_time, tz, nextRunOffset(record)),
    paused: record.paused,
    paused_reason: record.paused ? record.paused_reason : null,
    source: record.source,
    jobstore,
    executor: record.executor
  }
}

/** The trigger fields a user gave, in input form, so a partial patch can be merged into them. */
function givenTriggerFields (spec: TriggerSpec): Record<string, unknown> {
  const out: Record<string, unknown> = { ...triggerToJSON(spec) }
  delete out.trigger
  if (spec.type !== 'date' && spec.jitter !== null) out.jitter = spec.jitter
  return out
}

function splitTrigger (def: Record<string, unknown>, own: Set<string>, fallbackType?: TriggerType): { type: TriggerType, fields: Record<string, unknown> } {
  let type: TriggerType = fallbackType ?? 'date'
  let fields: Record<string, unknown> = {}
  const raw = def.trigger
  if (typeof raw === 'string') {
    if (!TRIGGER_TYPES.includes(raw as TriggerType)) throw new ValidationError('trigger', `must be one of ${TRIGGER_TYPES.join(', ')} (got '${raw}')`)
    type = raw as TriggerType
  } else if (raw !== undefined) {
    const legacy = asPlainObject(raw, 'trigger')
    if (!TRIGGER_TYPES.includes(legacy.type as TriggerType)) throw new ValidationError('trigger.type', `must be one of ${TRIGGER_TYPES.join(', ')}`)
    type = legacy.type as TriggerType
    fields = { ...legacy }
    delete fields.type
  }
  const allowed = new Set(TRIGGER_FIELDS[type])
  for (const key of Object.keys(def)) {
    if (own.has(key)) continue
    if (!allowed.has(key)) {
      const other = TRIGGER_TYPES.find((t) => TRIGGER_FIELDS[t].includes(key))
      throw new ValidationError(key, other === undefined ? 'is not a known job field' : `is not a field of the ${type} trigger`)
    }
    if (key in fields) throw new ValidationError(key, 'is given twice (inside and beside the trigger object)')
    fields[key] = def[key]
  }
  for (const key of Object.keys(fields)) {
    if (!allowed.has(key)) throw new ValidationError(`trigger.${key}`, `is not a field of the ${type} trigger`)
  }
  return { type, fields }
}

/** The timezone beside the job fields or inside a legacy trigger object (removed from `fields`). */
function takeTimezone (def: Record<string, unknown>, fields: Record<string, unknown>): unknown {
  const inside = fields.timezone
  delete fields.timezone
  if (def.timezone !== undefined && inside !== undefined && def.timezone !== inside) {
    throw new ValidationError('timezone', 'is given twice, with different values (inside and beside the trigger object)')
  }
  return def.timezone ?? inside
}

function asPlainObject (value: unknown, field: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError(field, field === '' ? 'a job must be a JSON object' : 'must be an object')
  }
  return value as Record<string, unknown>
}

/** Unpaired UTF-16 surrogates: such a string has no UTF-8 or URL-encoded form. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

function readId (value: unknown): string {
  const id = readString(value, 'id', 1, MAX_ID_LENGTH)
  // The id must be addressable as /jobs/<encodeURIComponent(id)> and survive a UTF-8 store.
  if (LONE_SURROGATE.test(id)) throw new ValidationError('id', 'must be valid Unicode text (it has an unpaired surrogate)')
  return id
}

function readString (value: unknown, field: string, min: number, max: number): string {
  if (typeof value !== 'string' || value.length < min || value.length > max) throw new ValidationError(field, `must be a string of ${min} to ${max} characters`)
  return value
}

function readFunc (value: unknown, tasks: TaskRegistry): string {
  if (value === undefined) throw new ValidationError('func', 'is required: the name of a registered task')
  if (typeof value !== 'string' || value.length === 0) throw new ValidationError('func', 'must be the name of a registered task')
  if (!tasks.has(value)) {
    const known = tasks.names()
    throw new ValidationError('func', `'${value}' is not a registered task (register it with the tasks or taskModules option${known.length > 0 ? `; known: ${known.slice(0, 20).join(', ')}` : ''})`)
  }
  return value
}

function readArgs (value: unknown): unknown[] {
  if (value === undefined || value === null) return []
  if (!Array.isArray(value)) throw new ValidationError('args', 'must be an array')
  assertJsonValue(value, 'args')
  return structuredClone(value)
}

function readKwargs (value: unknown): Record<string, unknown> {
  if (value === undefined || value === null) return {}
  const obj = asPlainObject(value, 'kwargs')
  assertJsonValue(obj, 'kwargs')
  return structuredClone(obj)
}

function readAlias (value: unknown, field: string, known: readonly string[]): string {
  if (typeof value !== 'string' || !known.includes(value)) throw new ValidationError(field, `must be one of ${known.map((k) => `'${k}'`).join(', ')}`)
  return value
}

function readTimezone (value: unknown, fallback: string): string {
  if (value === undefined || value === null) return fallback
  if (typeof value !== 'string' || !isValidTimezone(value)) throw new ValidationError('timezone', `must be an IANA time zone such as 'Europe/Berlin' or 'UTC' (got ${JSON.stringify(value)})`)
  return canonicalTimezone(value)
}

function readGrace (value: unknown): number | null {
  if (value === null) return null
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new ValidationError('misfire_grace_time', 'must be a positive number of seconds, or null for no limit')
  return value
}

function readBoolean (value: unknown, field: string): boolean {
  if (typeof value !== 'boolean') throw new ValidationError(field, 'must be a boolean')
  return value
}

/** A run's time limit in seconds (fractions allowed), or null for none. */
export function readTimeout (value: unknown, field = 'timeout'): number | null {
  if (value === null) return null
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_TIMEOUT_SECONDS) {
    throw new ValidationError(field, `must be a positive number of seconds (at most ${MAX_TIMEOUT_SECONDS}), or null for no limit`)
  }
  return value
}

function readMaxInstances (value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new ValidationError('max_instances', 'must be a positive integer')
  return value
}
