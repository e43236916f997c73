// The dashboard: a header with the scheduler's state and a view picked from the URL hash.
import { render } from 'preact'
import { useRef, useState } from 'preact/hooks'
import { bucketQuantile, call, get, parseMetrics, post } from './api.js'
import { duration } from './format.js'
import { JobForm } from './form.js'
import { JobPage } from './job.js'
import { JobList } from './list.js'
import { focusNextTitle, html, Notices, notify, Title, usePoll, useHash } from './lib.js'

function SchedulerBar ({ info, onChange }) {
  const [busy, setBusy] = useState(false)
  const act = async (what) => {
    setBusy(true)
    try {
      await post(`/${what}`)
      notify(what === 'pause' ? 'Scheduler paused: no process sharing the store fires until resumed' : 'Scheduler resumed')
      onChange()
    } catch (err) {
      notify(err.message, 'error')
    } finally {
      setBusy(false)
    }
  }
  const state = info?.state ?? 'unknown'
  return html`<div class="scheduler-actions">
    ${state === 'paused'
      ? html`<button type="button" onClick=${() => act('resume')} disabled=${busy}>Resume scheduler</button>`
      : html`<button type="button" onClick=${() => act('pause')} disabled=${busy || state !== 'running'}>Pause scheduler</button>`}
    <a class="button primary" href="#/new">Add job</a>
  </div>`
}

function Health () {
  const health = usePoll(async () => {
    const [h, m] = await Promise.all([call('GET', '/health', { accept: [503] }), get('/metrics')])
    return { health: h.data, metrics: parseMetrics(m) }
  }, [], 5000)
  if (health.error !== null && health.data === undefined) return html`<p class="summary error">Health: ${health.error.message}</p>`
  if (health.data === undefined) return html`<p class="summary">Loading health…</p>`
  const { health: h, metrics: m } = health.data
  const p99 = bucketQuantile(m, 0.99)
  const lag = m.lagCount === 0 ? 'no fires yet' : `avg ${duration((m.lagSum / m.lagCount) * 1000)}, p99 ${p99 === Infinity ? '> 60 s' : `≤ ${duration(p99 * 1000)}`}`
  return html`<dl class="summary" aria-label="Health and metrics of this process">
    <div><dt>Health</dt><dd><span class=${`badge ${h.status === 'ok' ? 'ok' : 'error'}`}>${h.status === 'ok' ? 'ok' : `${h.overdue.length} overdue`}</span></dd></div>
    <div><dt>Runs</dt><dd>${m.runs.success} ok · ${m.runs.error} failed · ${m.runs.abandoned} abandoned</dd></div>
    <div><dt>Missed fires</dt><dd>${m.misfires}</dd></div>
    <div><dt>Fire lag</dt><dd>${lag}</dd></div>
  </dl>`
}

function Header ({ info, onChange }) {
  const i = info.data
  return html`<header class="top">
    <div class="title">
      <p class="brand"><a href="#/">Scheduler</a></p>
      ${i === undefined
        ? html`<p class="muted">${info.error === null ? 'Loading…' : info.error.message}</p>`
        : html`<dl class="facts">
            <div><dt>State</dt><dd><span class=${`badge state-${i.state}`}>${i.state}</span></dd></div>
            <div><dt>Node</dt><dd><code>${i.node_id}</code></dd></div>
            <div><dt>Time zone</dt><dd>${i.timezone}</dd></div>
            <div><dt>Jobs</dt><dd>${i.jobs.toLocaleString('en')}</dd></div>
          </dl>`}
      <${SchedulerBar} info=${i} onChange=${onChange} />
    </div>
    <${Health} />
  </header>`
}

function route (hash) {
  const path = hash.replace(/^#/, '') || '/'
  if (path === '/' || path === '') return { view: 'list' }
  if (path === '/new') return { view: 'new' }
  const m = /^\/jobs\/([^/]+)(\/edit)?$/.exec(path)
  if (m !== null) {
    let id
    try { id = decodeURIComponent(m[1]) } catch { return { view: 'missing' } }
    return { view: m[2] === undefined ? 'job' : 'edit', id }
  }
  return { view: 'missing' }
}

function skipToContent (event) {
  event.preventDefault()
  document.querySelector('main h1')?.focus()
}

function App () {
  const hash = useHash()
  const lastHash = useRef(hash)
  const info = usePoll(() => get('/'), [])
  const r = route(hash)
  const [listState, setListState] = useState({ q: '', state: '', func: '', offset: 0, limit: 50 })
  if (hash !== lastHash.current) { // a new view: its heading takes the focus once it shows
    lastHash.current = hash
    focusNextTitle()
  }
  let view
  if (r.view === 'list') view = html`<${JobList} query=${listState} setQuery=${setListState} timezone=${info.data?.timezone} />`
  else if (r.view === 'job') view = html`<${JobPage} key=${r.id} id=${r.id} />`
  else if (r.view === 'new') view = html`<${JobForm} key="new" timezone=${info.data?.timezone} />`
  else if (r.view === 'edit') view = html`<${JobForm} key=${`edit:${r.id}`} id=${r.id} timezone=${info.data?.timezone} />`
  else view = html`<${Title}>Not found<//><p><a href="#/">Back to all jobs</a></p>`
  return html`
    <a class="skip" href="#/" onClick=${skipToContent}>Skip to content</a>
    <${Header} info=${info} onChange=${info.reload} />
    <main id="main">${view}</main>
    <${Notices} />`
}

const root = document.getElementById('app')
root.textContent = '' // the loading text
render(html`<${App} />`, root)
