/**
 * The API benchmark's HTTP client: autocannon in its own process, so the client's CPU is not the
 * server's event loop. POST bodies get a fresh job id each (prefix + counter).
 */
import autocannon from 'autocannon'

const { url, method, seconds, connections, body, idPrefix } = JSON.parse(process.argv[2] ?? '{}') as {
  url: string, method: 'GET' | 'POST', seconds: number, connections: number, body?: Record<string, unknown>, idPrefix?: string
}
let counter = 0
const result = await autocannon({
  url,
  connections,
  duration: seconds,
  requests: [method === 'GET'
    ? { method: 'GET' }
    : {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => ({ ...req, body: JSON.stringify({ ...body, id: `${idPrefix ?? 'p'}-${counter++}` }) })
      }]
})
process.send?.({ rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99, ok: result['2xx'], non2xx: result.non2xx, errors: result.errors + result.timeouts }, () => { process.exit(0) })
