/**
 * Fault: a web page on another site drives the API (no CORS preflight for text/plain and form bodies).
 * Sends what a browser would send from https://evil.example (and what curl sends) over real HTTP,
 * and prints the status of each request and whether the scheduler still runs and the job exists.
 *
 *   node --import tsx bench/faults-cross-site.ts
 */
import { request } from 'node:http'
import type { AddressInfo } from 'node:net'
import Fastify from 'fastify'
import scheduler, { MemoryStore } from '../src/index.js'

interface Sent { status: number, body: string }

function send (port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<Sent> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: { ...headers, ...(body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) }) } }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { text += chunk })
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: text }) })
    })
    req.on('error', reject)
    req.end(body)
  })
}

const app = Fastify({ logger: false })
await app.register(scheduler, { store: new MemoryStore(), apiEnabled: true, tasks: { noop: () => {} } })
await app.listen({ host: '127.0.0.1', port: 0 })
const { port } = app.server.address() as AddressInfo
await app.scheduler.addJob({ id: 'victim', func: 'noop', trigger: 'interval', hours: 1 })

const evil = { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors' }
const cases: Array<[string, string, string, Record<string, string>, string?]> = [
  ['cross-site text/plain add job', 'POST', '/scheduler/jobs', { ...evil, 'content-type': 'text/plain' }, JSON.stringify({ id: 'planted', func: 'noop', trigger: 'interval', seconds: 1 })],
  ['cross-site form pause job', 'POST', '/scheduler/jobs/victim/pause', { ...evil, 'content-type': 'application/x-www-form-urlencoded' }, '{"reason":"pwned"}'],
  ['Origin: null (sandboxed frame) delete', 'DELETE', '/scheduler/jobs/victim', { origin: 'null' }],
  ['cross-site shutdown', 'POST', '/scheduler/shutdown', { ...evil, 'content-type': 'text/plain' }, '{"wait":false}'],
  ['curl (no Origin) add job', 'POST', '/scheduler/jobs', { 'content-type': 'application/x-www-form-urlencoded' }, JSON.stringify({ id: 'from-curl', func: 'noop', trigger: 'interval', hours: 1 })],
  ['same-origin page pause job', 'POST', '/scheduler/jobs/from-curl/pause', { origin: `http://127.0.0.1:${port}`, 'sec-fetch-site': 'same-origin', 'content-type': 'application/json' }, '{}']
]
const rows: Array<Record<string, unknown>> = []
for (const [what, method, path, headers, body] of cases) {
  const res = await send(port, method, path, headers, body)
  rows.push({ request: what, status: res.status, message: res.status >= 400 ? (JSON.parse(res.body) as { message?: string }).message : '' })
}
console.table(rows)
const jobs = (await app.scheduler.getJobs()).map((j) => `${j.id}${j.paused ? ` (paused: ${String(j.paused_reason)})` : ''}`)
console.log(JSON.stringify({ schedulerState: app.scheduler.state, jobs }))
await app.close()
