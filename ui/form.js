// Add or edit a job: builds the definition from the form, checks it as you type (here, then with
// the server's own validation through POST P/preview), previews the next fire times, saves.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks'
import { call, get, jobPath } from './api.js'
import { absolute, relative, triggerWords, wallTimeInput } from './format.js'
import { html, notify, Title, useNow, usePoll } from './lib.js'

const UNITS = ['weeks', 'days', 'hours', 'minutes', 'seconds']
const CRON = ['year', 'month', 'day', 'week', 'day_of_week', 'hour', 'minute', 'second']
const CRON_HINTS = {
  year: '2030', month: '1-12, jan', day: '1-31, last, 3rd fri', week: '1-53', day_of_week: 'mon-fri, 0 = Monday', hour: '9, */2', minute: '0, */15', second: '0'
}
const DATES = ['run_date', 'start_date', 'end_date']
const ZONES = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : []

function emptyForm (timezone) {
  const f = {
    id: '', name: '', func: '', trigger: 'interval', cronMode: 'fields', crontab: '',
    run_date: '', start_date: '', end_date: '', timezone: timezone ?? '', args: '[]', kwargs: '{}',
    graceUnlimited: false, misfire_grace_time: '', coalesce: true, max_instances: '', jitter: '', paused: false
  }
  for (const k of [...UNITS, ...CRON]) f[k] = ''
  return f
}

function formFromJob (job) {
  const f = emptyForm(job.timezone)
  Object.assign(f, {
    id: job.id, name: job.name, func: job.func, trigger: job.trigger, timezone: job.timezone,
    args: JSON.stringify(job.args), kwargs: JSON.stringify(job.kwargs),
    graceUnlimited: job.misfire_grace_time === null, misfire_grace_time: job.misfire_grace_time === null ? '' : String(job.misfire_grace_time),
    coalesce: job.coalesce, max_instances: String(job.max_instances), jitter: job.jitter === null ? '' : String(job.jitter)
  })
  for (const k of [...UNITS, ...CRON]) if (job[k] !== undefined) f[k] = String(job[k])
  if (typeof job.crontab === 'string') { f.cronMode = 'crontab'; f.crontab = job.crontab }
  for (const k of DATES) if (job[k] !== undefined) f[k] = wallTimeInput(job[k], job.timezone)
  return f
}

/**
 * The definition the form describes, and the problems found without asking the server.
 * `original` (when editing) lets an untouched date go back exactly as the API wrote it.
 */
function buildDefinition (f, editing, original) {
  const def = {}
  const errors = {}
  if (!editing && f.id.trim() !== '') def.id = f.id.trim()
  if (f.name.trim() !== '') def.name = f.name.trim()
  if (f.func === '') errors.func = 'Choose the task this job runs.'
  else def.func = f.func
  def.trigger = f.trigger
  const number = (key, { min = 0, integer = false, positive = false } = {}) => {
    const text = String(f[key]).trim()
    if (text === '') return undefined
    const n = Number(text)
    if (!Number.isFinite(n) || n < min || (positive && n <= 0) || (integer && !Number.isInteger(n))) {
      errors[key] = integer ? `Must be a whole number ≥ ${Math.max(min, positive ? 1 : 0)}.` : positive ? 'Must be a number > 0.' : `Must be a number ≥ ${min}.`
      return undefined
    }
    return n
  }
  const date = (key) => {
    if (f[key] === '') return
    def[key] = original?.[key] !== undefined && wallTimeInput(original[key], original.timezone) === f[key] && f.timezone === original.timezone
      ? original[key]
      : f[key]
  }
  if (f.trigger === 'date') {
    date('run_date')
  } else if (f.trigger === 'interval') {
    for (const u of UNITS) {
      const n = number(u)
      if (n !== undefined) def[u] = n
    }
    if (UNITS.every((u) => !(def[u] > 0)) && UNITS.every((u) => errors[u] === undefined)) errors.seconds = 'Give at least one of weeks, days, hours, minutes or seconds.'
    date('start_date')
    date('end_date')
  } else {
    if (f.cronMode === 'crontab') {
      if (f.crontab.trim() === '') errors.crontab = "Give a crontab line, such as '*/5 * * * *'."
      else def.crontab = f.crontab.trim()
    } else {
      for (const k of CRON) if (f[k].trim() !== '') def[k] = f[k].trim()
    }
    date('start_date')
    date('end_date')
  }
  if (f.timezone.trim() !== '') def.timezone = f.timezone.trim()
  for (const [key, kind] of [['args', 'array'], ['kwargs', 'object']]) {
    const text = f[key].trim()
    if (text === '') continue
    try {
      const value = JSON.parse(text)
      const ok = kind === 'array' ? Array.isArray(value) : value !== null && typeof value === 'object' && !Array.isArray(value)
      if (ok) def[key] = value
      else errors[key] = kind === 'array' ? 'Must be a JSON array, such as ["a", 1].' : 'Must be a JSON object, such as {"name": "x"}.'
    } catch (err) {
      errors[key] = `Not valid JSON: ${err.message}`
    }
  }
  if (f.graceUnlimited) def.misfire_grace_time = null
  else {
    const grace = number('misfire_grace_time', { positive: true })
    if (grace !== undefined) def.misfire_grace_time = grace
  }
  def.coalesce = f.coalesce
  const maxInstances = number('max_instances', { min: 1, integer: true })
  if (maxInstances !== undefined) def.max_instances = maxInstances
  if (f.trigger !== 'date') {
    const jitter = number('jitter')
    def.jitter = jitter ?? null
  }
  if (!editing && f.paused) def.next_run_time = null
  return { def, errors }
}

/** Fields the form shows; a server error naming another field is shown above the buttons. */
const FORM_FIELDS = new Set(['id', 'name', 'func', 'run_date', 'start_date', 'end_date', 'crontab', 'timezone', 'args', 'kwargs',
  'misfire_grace_time', 'max_instances', 'jitter', ...UNITS, ...CRON])

function Field ({ name, label, hint, error, children }) {
  return html`<div class=${`field${error === undefined ? '' : ' invalid'}`}>
    <label for=${`f-${name}`}>${label}</label>
    ${children}
    ${hint === undefined ? null : html`<p class="hint" id=${`f-${name}-hint`}>${hint}</p>`}
    ${error === undefined ? null : html`<p class="field-error" id=${`f-${name}-error`}>${error}</p>`}
  </div>`
}

function describedBy (name, hint, error) {
  const ids = []
  if (hint !== undefined) ids.push(`f-${name}-hint`)
  if (error !== undefined) ids.push(`f-${name}-error`)
  return ids.length === 0 ? undefined : ids.join(' ')
}

export function JobForm ({ id, timezone }) {
  const editing = id !== undefined
  const [original, setOriginal] = useState(null)
  const [loadError, setLoadError] = useState(null)
  const [f, setF] = useState(() => emptyForm(timezone))
  const [serverError, setServerError] = useState(null)
  const [preview, setPreview] = useState({ state: 'idle' })
  const [saving, setSaving] = useState(false)
  const [touched, setTouched] = useState(false)
  const tasks = usePoll(() => get('/tasks'), [], 30_000)
  const now = useNow()
  const formRef = useRef(null)

  useEffect(() => {
    if (!editing) return
    get(jobPath(id)).then((job) => { setOriginal(job); setF(formFromJob(job)) }, (err) => setLoadError(err))
  }, [id])
  // The scheduler's zone arrives with the header's first poll.
  useEffect(() => { if (!editing && f.timezone === '' && timezone !== undefined) setF((s) => ({ ...s, timezone })) }, [timezone])

  const { def, errors } = useMemo(() => buildDefinition(f, editing, original), [f, editing, original])
  const clientOk = Object.keys(errors).length === 0
  const defKey = JSON.stringify(def)

  // The server's check and the next fire times, once typing pauses.
  useEffect(() => {
    if (editing && original === null) return
    if (!clientOk) { setPreview({ state: 'idle' }); setServerError(null); return }
    setPreview((p) => ({ ...p, state: 'checking' }))
    let stale = false
    const t = setTimeout(async () => {
      try {
        const { data } = await call('POST', '/preview?count=10', { body: def })
        if (stale) return
        setServerError(null)
        setPreview({ state: 'ok', job: data.job, times: data.next_run_times })
      } catch (err) {
        if (stale) return
        setServerError(err)
        setPreview({ state: 'error' })
      }
    }, 300)
    return () => { stale = true; clearTimeout(t) }
  }, [defKey, clientOk, original])

  const set = (key) => (e) => {
    const t = e.currentTarget
    setTouched(true)
    setF((s) => ({ ...s, [key]: t.type === 'checkbox' ? t.checked : t.value }))
  }
  const fieldError = (name) => {
    if (errors[name] !== undefined && (touched || editing)) return errors[name]
    if (serverError !== null && serverError.field === name) return serverError.message.slice(name.length + 2)
    return undefined
  }
  const generalError = serverError !== null && (serverError.field === null || !FORM_FIELDS.has(serverError.field)) ? serverError.message : null

  const input = (name, label, { hint, type = 'text', ...rest } = {}) => {
    const error = fieldError(name)
    return html`<${Field} name=${name} label=${label} hint=${hint} error=${error}>
      <input id=${`f-${name}`} name=${name} type=${type} value=${f[name]} onInput=${set(name)}
        aria-invalid=${error === undefined ? 'false' : 'true'} aria-describedby=${describedBy(name, hint, error)} ...${rest} />
    <//>`
  }

  const submit = async (e) => {
    e.preventDefault()
    setTouched(true)
    if (!clientOk) {
      const first = Object.keys(errors)[0]
      formRef.current?.querySelector(`[name="${first}"]`)?.focus()
      return
    }
    setSaving(true)
    try {
      const { data: job } = editing
        ? await call('PATCH', jobPath(id), { body: def })
        : await call('POST', '/jobs', { body: def })
      notify(editing ? `Saved ${job.name}` : `Added ${job.name}`)
      location.hash = `#${jobPath(job.id)}`
    } catch (err) {
      const field = err.status === 409 && !editing ? 'id' : err.field
      setServerError(Object.assign(err, { field }))
      if (field !== null) formRef.current?.querySelector(`[name="${field}"]`)?.focus()
    } finally {
      setSaving(false)
    }
  }

  if (loadError !== null) return html`<${Title}>Edit job<//><p class="error" role="alert">${loadError.message}</p><p><a href="#/">Back to all jobs</a></p>`
  if (editing && original === null) return html`<h1 tabindex="-1">Edit job</h1><p class="muted" aria-busy="true">Loading…</p>`

  const funcError = fieldError('func')
  const taskNames = tasks.data ?? []
  const funcHint = tasks.data !== undefined && taskNames.length === 0 ? 'No tasks are registered: a job can only run a task given in the tasks option.' : undefined
  return html`<section aria-labelledby="form-title">
    <p class="crumbs"><a href=${editing ? `#${jobPath(id)}` : '#/'}>${editing ? original.name : 'All jobs'}</a></p>
    <${Title} id="form-title">${editing ? `Edit ${original.name}` : 'Add a job'}<//>
    <div class="form-layout">
    <form ref=${formRef} class="job-form" onSubmit=${submit} novalidate>
      <fieldset><legend>Job</legend>
        ${editing ? null : input('id', 'Id', { hint: 'Optional; generated when empty.', maxlength: 191 })}
        ${input('name', 'Name', { hint: 'Optional; defaults to the id.', maxlength: 1024 })}
        <${Field} name="func" label="Task" error=${funcError} hint=${funcHint}>
          <select id="f-func" name="func" value=${f.func} onChange=${set('func')} aria-invalid=${funcError === undefined ? 'false' : 'true'}
            aria-describedby=${describedBy('func', funcHint, funcError)}>
            <option value="">Choose a task…</option>
            ${taskNames.map((t) => html`<option key=${t} value=${t}>${t}</option>`)}
          </select>
        <//>
        ${input('args', 'Arguments (JSON array)', { spellcheck: false })}
        ${input('kwargs', 'Keyword arguments (JSON object)', { spellcheck: false })}
      </fieldset>

      <fieldset><legend>Trigger</legend>
        <div class="radios" role="radiogroup" aria-label="Trigger type">
          ${['date', 'interval', 'cron'].map((t) => html`<label key=${t}><input type="radio" name="trigger" value=${t} checked=${f.trigger === t} onChange=${set('trigger')} /> ${t === 'date' ? 'once (date)' : t}</label>`)}
        </div>
        ${f.trigger === 'date' ? input('run_date', 'Run at', { type: 'datetime-local', step: 1, hint: 'Wall time in the job time zone; empty = now.' }) : null}
        ${f.trigger === 'interval'
          ? html`<div class="units">${UNITS.map((u) => input(u, u, { type: 'number', min: 0, step: 'any', inputmode: 'decimal' }))}</div>`
          : null}
        ${f.trigger === 'cron'
          ? html`<div class="radios" role="radiogroup" aria-label="Cron form">
              <label><input type="radio" name="cronMode" value="fields" checked=${f.cronMode === 'fields'} onChange=${set('cronMode')} /> fields</label>
              <label><input type="radio" name="cronMode" value="crontab" checked=${f.cronMode === 'crontab'} onChange=${set('cronMode')} /> crontab line</label>
            </div>
            ${f.cronMode === 'crontab'
              ? input('crontab', 'Crontab line', { hint: "minute hour day month weekday (0 = Sunday), or six fields with seconds first: '*/5 * * * *'", spellcheck: false })
              : html`<p class="hint">APScheduler fields: those after the last one given default to their minimum, those before it to *.</p>
                <div class="units">${CRON.map((k) => input(k, k.replaceAll('_', ' '), { placeholder: CRON_HINTS[k], spellcheck: false }))}</div>`}`
          : null}
        ${f.trigger === 'date'
          ? null
          : html`<div class="units wide">
              ${input('start_date', 'Start', { type: 'datetime-local', step: 1 })}
              ${input('end_date', 'End (inclusive)', { type: 'datetime-local', step: 1 })}
              ${input('jitter', 'Jitter (s)', { type: 'number', min: 0, step: 'any' })}
            </div>`}
        ${input('timezone', 'Time zone', { list: 'zones', hint: 'IANA name; dates without an offset are read in it.', spellcheck: false })}
        <datalist id="zones">${ZONES.map((z) => html`<option key=${z} value=${z} />`)}</datalist>
      </fieldset>

      <fieldset><legend>Running</legend>
        <div class="units">
          ${input('misfire_grace_time', 'Misfire grace (s)', { type: 'number', min: 0, step: 'any', disabled: f.graceUnlimited, hint: 'Empty = the default.' })}
          ${input('max_instances', 'Max instances', { type: 'number', min: 1, step: 1, hint: 'Empty = the default.' })}
        </div>
        <label class="check"><input type="checkbox" name="graceUnlimited" checked=${f.graceUnlimited} onChange=${set('graceUnlimited')} /> No misfire limit (run late fires however late)</label>
        <label class="check"><input type="checkbox" name="coalesce" checked=${f.coalesce} onChange=${set('coalesce')} /> Coalesce missed fires into one run</label>
        ${editing ? null : html`<label class="check"><input type="checkbox" name="paused" checked=${f.paused} onChange=${set('paused')} /> Add it paused</label>`}
      </fieldset>

      ${generalError === null ? null : html`<p class="error" role="alert">${generalError}</p>`}
      <div class="form-buttons">
        <button type="submit" class="primary" disabled=${saving}>${editing ? 'Save changes' : 'Add job'}</button>
        <a class="button" href=${editing ? `#${jobPath(id)}` : '#/'}>Cancel</a>
      </div>
    </form>
    <aside class="preview" aria-labelledby="preview-title" aria-live="polite">
      <h2 id="preview-title">Preview</h2>
      ${!clientOk ? html`<p class="muted">${touched ? 'Fix the marked fields to see the schedule.' : 'Choose a task and a schedule to see the next fire times.'}</p>` : null}
      ${clientOk && preview.state === 'checking' ? html`<p class="muted">Checking…</p>` : null}
      ${preview.state === 'error' ? html`<p class="error">The server refuses this definition: ${serverError?.message}</p>` : null}
      ${preview.state === 'ok'
        ? html`<p><strong>${triggerWords(preview.job)}</strong></p>
          ${preview.times.length === 0
            ? html`<p class="muted">It would never fire.</p>`
            : html`<p class="muted">Next ${preview.times.length} fire times${f.paused && !editing ? ' (once resumed)' : ''}:</p>
              <ol class="next-times" data-testid="preview-times">${preview.times.map((t) => html`<li key=${t}>${absolute(t, preview.job.timezone)} <span class="muted">${relative(t, now)}</span></li>`)}</ol>`}`
        : null}
    </aside>
    </div>
  </section>`
}
