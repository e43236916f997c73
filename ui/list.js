// All jobs: one server-side page at a time (limit/offset), searched and filtered by the API.
import { useEffect, useState } from 'preact/hooks'
import { call, get, jobPath, post } from './api.js'
import { absolute, relative, triggerWords } from './format.js'
import { html, Title, useNow, usePoll } from './lib.js'

export function StateBadge ({ job, running }) {
  if (running > 0) return html`<span class="badge running">running now</span>`
  if (job.paused) {
    return html`<span class="badge paused">paused</span>${job.paused_reason === null ? null : html` <span class="reason">${job.paused_reason}</span>`}`
  }
  return html`<span class="badge scheduled">scheduled</span>`
}

export function RunBadge ({ run }) {
  if (run === null || run === undefined) return html`<span class="muted">never</span>`
  return html`<span class=${`badge run-${run.status}`}>${run.status}</span>`
}

function NextRun ({ job, now }) {
  if (job.next_run_time === null) return html`<span class="muted">—</span>`
  return html`<span class="when">${relative(job.next_run_time, now)}</span>
    <span class="abs">${absolute(job.next_run_time, job.timezone)}</span>`
}

function LastRun ({ run, job, now }) {
  if (run === null || run === undefined) return html`<span class="muted">never</span>`
  const at = run.finished_at ?? run.started_at ?? run.scheduled_at
  return html`<${RunBadge} run=${run} />
    <span class="when">${relative(at, now)}</span>
    <span class="abs">${absolute(at, job.timezone)}</span>`
}

const PAGE_SIZES = [25, 50, 100, 200]

export function JobList ({ query, setQuery }) {
  const now = useNow()
  const [search, setSearch] = useState(query.q)
  // Search as you type, once typing pauses.
  useEffect(() => {
    const t = setTimeout(() => setQuery((cur) => (cur.q === search ? cur : { ...cur, q: search, offset: 0 })), 250)
    return () => clearTimeout(t)
  }, [search])
  const tasks = usePoll(() => get('/tasks'), [], 30_000)
  const page = usePoll(async () => {
    const params = new URLSearchParams({ limit: String(query.limit), offset: String(query.offset) })
    if (query.q !== '') params.set('q', query.q)
    if (query.state !== '') params.set('state', query.state)
    if (query.func !== '') params.set('func', query.func)
    const res = await call('GET', `/jobs?${params}`)
    return { jobs: res.data, total: res.total ?? res.data.length }
  }, [query.q, query.state, query.func, query.offset, query.limit])
  // The rows show first; their latest runs follow in a second request.
  const ids = (page.data?.jobs ?? []).map((j) => j.id)
  const idsKey = JSON.stringify(ids)
  const runs = usePoll(async () => {
    const latest = ids.length === 0 ? [] : await post('/runs/latest', { job_ids: ids })
    return new Map(latest.map((l) => [l.job_id, l]))
  }, [idsKey])

  // A performance mark when the first page of rows is on screen (read by the tests, visible in devtools).
  const shown = page.data !== undefined
  useEffect(() => {
    if (shown && performance.getEntriesByName('dashboard:jobs-shown').length === 0) performance.mark('dashboard:jobs-shown')
  }, [shown])

  const set = (change) => setQuery((cur) => ({ ...cur, offset: 0, ...change }))
  const data = page.data
  const total = data?.total ?? 0
  const first = total === 0 ? 0 : query.offset + 1
  const last = Math.min(query.offset + query.limit, total)

  return html`<section aria-labelledby="jobs-title">
    <${Title} id="jobs-title">Jobs<//>
    <form class="toolbar" role="search" onSubmit=${(e) => { e.preventDefault(); set({ q: search }) }}>
      <label>Search <input type="search" name="q" value=${search} placeholder="id or name starts with…"
        onInput=${(e) => setSearch(e.currentTarget.value)} /></label>
      <label>State <select name="state" value=${query.state} onChange=${(e) => set({ state: e.currentTarget.value })}>
        <option value="">all</option><option value="scheduled">scheduled</option><option value="paused">paused</option>
      </select></label>
      <label>Task <select name="func" value=${query.func} onChange=${(e) => set({ func: e.currentTarget.value })}>
        <option value="">all</option>
        ${(tasks.data ?? []).map((t) => html`<option key=${t} value=${t}>${t}</option>`)}
      </select></label>
      <label>Per page <select name="limit" value=${String(query.limit)} onChange=${(e) => set({ limit: Number(e.currentTarget.value) })}>
        ${PAGE_SIZES.map((n) => html`<option key=${n} value=${String(n)}>${n}</option>`)}
      </select></label>
    </form>
    ${page.error !== null ? html`<p class="error" role="alert">Could not load the jobs: ${page.error.message}</p>` : null}
    ${data === undefined
      ? html`<p class="muted" aria-busy="true">Loading jobs…</p>`
      : html`<div class="table-wrap"><table class="jobs" aria-describedby="jobs-count">
          <thead><tr>
            <th scope="col">Name</th><th scope="col">Task</th><th scope="col">Trigger</th><th scope="col">State</th>
            <th scope="col">Next run</th><th scope="col">Last run</th>
          </tr></thead>
          <tbody>
            ${data.jobs.length === 0 ? html`<tr><td colspan="6" class="muted">No jobs match.</td></tr>` : null}
            ${data.jobs.map((job) => {
              const latest = runs.data?.get(job.id)
              return html`<tr key=${job.id} data-job-id=${job.id}>
                <td><a href=${`#${jobPath(job.id)}`}>${job.name}</a>${job.name === job.id ? null : html`<span class="abs"><code>${job.id}</code></span>`}</td>
                <td><code>${job.func}</code></td>
                <td>${triggerWords(job)}</td>
                <td><${StateBadge} job=${job} running=${latest?.running ?? 0} /></td>
                <td><${NextRun} job=${job} now=${now} /></td>
                <td>${runs.data === undefined ? html`<span class="muted">…</span>` : html`<${LastRun} run=${latest?.last_run} job=${job} now=${now} />`}</td>
              </tr>`
            })}
          </tbody>
        </table></div>
        <nav class="pager" aria-label="Pages">
          <p id="jobs-count">${first.toLocaleString('en')}–${last.toLocaleString('en')} of ${total.toLocaleString('en')} jobs</p>
          <button type="button" disabled=${query.offset === 0} onClick=${() => setQuery((cur) => ({ ...cur, offset: Math.max(0, cur.offset - cur.limit) }))}>Previous</button>
          <button type="button" disabled=${last >= total} onClick=${() => setQuery((cur) => ({ ...cur, offset: cur.offset + cur.limit }))}>Next</button>
        </nav>`}
  </section>`
}
