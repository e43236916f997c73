// One job: its definition, next fire times, run history with a chart, and the actions.
import { useState } from 'preact/hooks'
import { call, get, jobPath, post } from './api.js'
import { absolute, cronFields, duration, relative, triggerWords } from './format.js'
import { Dialog, html, notify, Title, useNow, usePoll } from './lib.js'
import { RunBadge, StateBadge } from './list.js'

const TRIGGER_KEYS = {
  date: ['run_date'],
  interval: ['weeks', 'days', 'hours', 'minutes', 'seconds', 'start_date', 'end_date'],
  cron: ['crontab', 'year', 'month', 'day', 'week', 'day_of_week', 'hour', 'minute', 'second', 'start_date', 'end_date']
}

function Definition ({ job }) {
  const keys = TRIGGER_KEYS[job.trigger] ?? []
  const cron = job.trigger === 'cron' && job.crontab === undefined ? cronFields(job) : null
  const row = (term, value) => html`<div><dt>${term}</dt><dd>${value}</dd></div>`
  return html`<dl class="definition">
    ${row('Id', html`<code>${job.id}</code>`)}
    ${row('Task', html`<code>${job.func}</code>`)}
    ${row('Trigger', html`${triggerWords(job)} <span class="muted">(${job.trigger})</span>`)}
    ${keys.filter((k) => job[k] !== undefined).map((k) => row(k, html`<code>${String(job[k])}</code>`))}
    ${cron === null ? null : row('cron, as read', html`<code>${Object.entries(cron).map(([k, v]) => `${k}=${v}`).join(' ')}</code>`)}
    ${row('Time zone', job.timezone)}
    ${row('Arguments', html`<code>${JSON.stringify(job.args)}</code>`)}
    ${row('Keyword arguments', html`<code>${JSON.stringify(job.kwargs)}</code>`)}
    ${row('Misfire grace', job.misfire_grace_time === null ? 'no limit' : `${job.misfire_grace_time} s`)}
    ${row('Coalesce', job.coalesce ? 'yes' : 'no')}
    ${row('Max instances', String(job.max_instances))}
    ${row('Jitter', job.jitter === null ? 'none' : `${job.jitter} s`)}
    ${job.timeout === undefined ? null : row('Timeout', job.timeout === null ? 'none' : `${job.timeout} s`)}
    ${row('Store / executor', `${job.jobstore} / ${job.executor}`)}
    ${row('Source', job.source)}
  </dl>`
}

/** Bars of the recent runs' durations and fire lags, oldest on the left (inline SVG). */
export function RunChart ({ runs }) {
  const recent = runs.filter((r) => r.duration_ms !== null || r.lag_ms !== null).slice(0, 40).reverse()
  if (recent.length === 0) return html`<p class="muted">No finished runs to chart yet.</p>`
  const W = 480
  const H = 64
  const series = [
    { key: 'duration_ms', label: 'Duration', cls: 'bar-duration' },
    { key: 'lag_ms', label: 'Fire lag', cls: 'bar-lag' }
  ]
  return html`<div class="charts">${series.map(({ key, label, cls }) => {
    const values = recent.map((r) => r[key] ?? 0)
    const max = Math.max(1, ...values)
    const step = W / recent.length
    const summary = `${label} of the last ${recent.length} runs: max ${duration(max)}, latest ${duration(values[values.length - 1])}`
    return html`<figure key=${key}>
      <figcaption>${label} <span class="muted">(max ${duration(max)})</span></figcaption>
      <svg viewBox=${`0 0 ${W} ${H}`} width="100%" height=${H} role="img" aria-label=${summary} preserveAspectRatio="none">
        <line x1="0" y1=${H - 0.5} x2=${W} y2=${H - 0.5} class="axis" />
        ${recent.map((r, i) => {
          const h = Math.max(1, (values[i] / max) * (H - 4))
          return html`<rect key=${r.run_id} x=${i * step + 1} y=${H - h} width=${Math.max(1, step - 2)} height=${h} class=${`${cls} run-${r.status}`}>
            <title>${`${absolute(r.scheduled_at, 'UTC')}: ${duration(values[i])} (${r.status})`}</title>
          </rect>`
        })}
      </svg>
    </figure>`
  })}</div>`
}

function RunRow ({ run, timezone }) {
  return html`<tr>
    <td><${RunBadge} run=${run} /></td>
    <td>${run.trigger}</td>
    <td>${absolute(run.scheduled_at, timezone)}</td>
    <td>${run.started_at === null ? '—' : absolute(run.started_at, timezone)}</td>
    <td>${duration(run.duration_ms)}</td>
    <td>${duration(run.lag_ms)}</td>
    <td><code>${run.node_id}</code></td>
    <td>${run.error === null
      ? html`<span class="muted">—</span>`
      : html`<details><summary><strong>${run.error.name}</strong>: ${run.error.message}</summary>
          ${run.error.stack === null ? null : html`<pre>${run.error.stack}</pre>`}</details>`}</td>
  </tr>`
}

function Actions ({ job, onChange, onDelete }) {
  const [dialog, setDialog] = useState(null)
  const [reason, setReason] = useState('')
  const [busy, setBusy] = useState(false)
  const path = jobPath(job.id)
  const act = async (fn, done) => {
    setBusy(true)
    try {
      await fn()
      if (done !== undefined) notify(done)
      setDialog(null)
      onChange()
    } catch (err) {
      notify(err.message, 'error')
    } finally {
      setBusy(false)
    }
  }
  const pause = (e) => {
    e.preventDefault()
    void act(() => post(`${path}/pause`, { reason: reason.trim() === '' ? null : reason.trim() }), `Paused ${job.name}`)
  }
  const remove = async () => {
    setBusy(true)
    onDelete() // no more reads of a job that is going away
    try {
      await call('DELETE', path)
      notify(`Deleted ${job.name}`)
      location.hash = '#/'
    } catch (err) {
      notify(err.message, 'error')
      setBusy(false)
      onDelete(false)
      onChange()
    }
  }
  return html`<div class="actions" role="group" aria-label="Job actions">
    ${job.paused
      ? html`<button type="button" disabled=${busy} onClick=${() => act(() => post(`${path}/resume`), `Resumed ${job.name}`)}>Resume</button>`
      : html`<button type="button" disabled=${busy} onClick=${() => { setReason(''); setDialog('pause') }}>Pause…</button>`}
    <button type="button" disabled=${busy} onClick=${() => act(() => post(`${path}/run?wait=false`), `Started a run of ${job.name}`)}>Run now</button>
    <a class="button" href=${`#${path}/edit`}>Edit</a>
    <button type="button" class="danger" disabled=${busy} onClick=${() => setDialog('delete')}>Delete…</button>
    <${Dialog} open=${dialog === 'pause'} title=${`Pause ${job.name}`} onClose=${() => setDialog(null)}>
      <form onSubmit=${pause}>
        <label for="pause-reason">Reason <span class="muted">(optional, shown with the job)</span></label>
        <input id="pause-reason" name="reason" maxlength="1024" value=${reason} onInput=${(e) => setReason(e.currentTarget.value)} />
        <div class="dialog-buttons">
          <button type="button" onClick=${() => setDialog(null)}>Cancel</button>
          <button type="submit" class="primary" disabled=${busy}>Pause job</button>
        </div>
      </form>
    <//>
    <${Dialog} open=${dialog === 'delete'} title=${`Delete ${job.name}?`} onClose=${() => setDialog(null)}>
      <p>The job and its run history are removed on every process sharing the store. This cannot be undone.</p>
      <div class="dialog-buttons">
        <button type="button" onClick=${() => setDialog(null)}>Cancel</button>
        <button type="button" class="danger" disabled=${busy} onClick=${remove}>Delete job</button>
      </div>
    <//>
  </div>`
}

export function JobPage ({ id }) {
  const now = useNow()
  const path = jobPath(id)
  const page = usePoll(async () => {
    const [job, runs] = await Promise.all([get(path), get(`${path}/runs?limit=100`)])
    let next = []
    try { next = await get(`${path}/next?count=10`) } catch { next = [] }
    return { job, runs, next }
  }, [id])
  if (page.data === undefined) {
    return page.error === null
      ? html`<h1 tabindex="-1">Job</h1><p class="muted" aria-busy="true">Loading…</p>`
      : html`<${Title}>Job<//><p class="error" role="alert">${page.error.status === 404 ? 'This job does not exist (any more).' : page.error.message}</p><p><a href="#/">Back to all jobs</a></p>`
  }
  const { job, runs, next } = page.data
  const running = runs.filter((r) => r.status === 'running').length
  const gone = page.error?.status === 404
  return html`<article aria-labelledby="job-title">
    <p class="crumbs"><a href="#/">All jobs</a></p>
    <${Title} id="job-title">${job.name}<//>
    ${gone ? html`<p class="error" role="alert">This job was removed.</p>` : null}
    <p class="state"><${StateBadge} job=${job} running=${running} />
      ${job.next_run_time === null ? null : html` next run <strong>${relative(job.next_run_time, now)}</strong>, ${absolute(job.next_run_time, job.timezone)}`}</p>
    ${gone ? null : html`<${Actions} job=${job} onChange=${page.reload} onDelete=${page.stop} />`}
    <div class="columns">
      <section aria-labelledby="def-title"><h2 id="def-title">Definition</h2><${Definition} job=${job} /></section>
      <section aria-labelledby="next-title"><h2 id="next-title">Next ${next.length === 0 ? '' : next.length} fire times</h2>
        ${job.paused ? html`<p class="muted">Paused: these are the times it would fire if resumed now.</p>` : null}
        ${next.length === 0
          ? html`<p class="muted">None: the trigger has no fire time left.</p>`
          : html`<ol class="next-times">${next.map((t) => html`<li key=${t}>${absolute(t, job.timezone)} <span class="muted">${relative(t, now)}</span></li>`)}</ol>`}
      </section>
    </div>
    <section aria-labelledby="chart-title"><h2 id="chart-title">Recent runs</h2><${RunChart} runs=${runs} /></section>
    <section aria-labelledby="history-title"><h2 id="history-title">Run history <span class="muted">(newest first, ${runs.length})</span></h2>
      ${runs.length === 0
        ? html`<p class="muted">No runs yet.</p>`
        : html`<div class="table-wrap"><table class="runs">
            <thead><tr><th scope="col">Status</th><th scope="col">Trigger</th><th scope="col">Scheduled</th><th scope="col">Started</th>
              <th scope="col">Duration</th><th scope="col">Lag</th><th scope="col">Node</th><th scope="col">Error</th></tr></thead>
            <tbody>${runs.map((r) => html`<${RunRow} key=${r.run_id} run=${r} timezone=${job.timezone} />`)}</tbody>
          </table></div>`}
    </section>
  </article>`
}
