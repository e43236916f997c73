/**
 * The API benchmark's HTTP client: autocannon in its own process, so the client's CPU is not the
 * server's event loop. POST bodies get a fresh job id each (prefix + counter).
 */
import autocannon from 'autocannon'

const { url, method, seconds, connections, body, idPrefix } = JSON.parse(process.argv[2] ?? '{}') as {
  url: string, method: 'GET' | 'POST', seconds: number, connections: number, body?: Record<string, unknown>, idPrefix?: string
}
let counter = 0
// Every response's time, unrounded: autocannon's own histogram keeps whole milliseconds, too
// coarse for routes answering in one or two.
const times: number[] = []
const instance = autocannon({
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
instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
  if (statusCode >= 200 && statusCode < 300) times.push(responseTime)
})
const result = await instance
times.sort((a, b) => a - b)
const at = (q: number): number => times.length === 0 ? NaN : times[Math.min(times.length - 1, Math.floor(q * times.length))] as number
process.send?.({ rps: result.requests.average, p50: at(0.5), p99: at(0.99), ok: result['2xx'], non2xx: result.non2xx, errors: result.errors + result.timeouts }, () => { process.exit(0) })
