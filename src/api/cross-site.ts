/**
 * Refuses state-changing requests that a browser marks as coming from another site.
 *
 * The API accepts bodies sent as text/plain and form-urlencoded (so `curl -d` works), which a
 * browser sends cross-site without a CORS preflight; any page a user opens could otherwise add
 * jobs or shut the scheduler down. The check follows the Fetch Metadata approach (as Go's
 * net/http CrossOriginProtection does): browsers send `Sec-Fetch-Site` and `Origin` on such
 * requests; curl, scripts and generated clients send neither and are unaffected.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { SchedulerError } from '../errors.js'

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

export class CrossSiteError extends SchedulerError {
  constructor (reason: string) { super(`Cross-site request refused: ${reason}`, 403) }
}

/**
 * Normalizes an `allowedOrigins` entry ('https://dash.example.com', no path) to the form browsers
 * send in `Origin`; throws a message saying what is wrong.
 */
export function parseOrigin (value: unknown): string {
  if (typeof value !== 'string') throw new Error(`must be an origin string like 'https://dash.example.com' (got ${JSON.stringify(value)})`)
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new Error(`must be an origin like 'https://dash.example.com' (scheme://host[:port]) (got ${JSON.stringify(value)})`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`must be an http or https origin (got ${JSON.stringify(value)})`)
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '' || /[?#@]/.test(value)) {
    throw new Error(`must be an origin only: scheme://host[:port], without path, query or credentials (got ${JSON.stringify(value)})`)
  }
  return url.origin
}

/** The reason to refuse `request`, or null when it may go on. */
export function crossSiteReason (request: FastifyRequest, allowed: ReadonlySet<string>): string | null {
  if (SAFE_METHODS.has(request.method)) return null
  const origin = header(request, 'origin')
  const site = header(request, 'sec-fetch-site')
  if (origin !== undefined && allowed.has(origin)) return null
  if (site !== undefined) {
    // Sent by every current browser; 'none' is a request the user made (address bar, bookmark).
    if (site === 'same-origin' || site === 'none') return null
    return `Sec-Fetch-Site is '${site}' and Origin ${origin === undefined ? 'is absent' : `'${origin}' is not in allowedOrigins`}`
  }
  // No Origin and no Sec-Fetch-Site: not a browser (curl, scripts), or a browser too old to tell.
  if (origin === undefined) return null
  if (origin === 'null') return "Origin is 'null' (a sandboxed or opaque document) and is not in allowedOrigins"
  if (sameHost(origin, request.host)) return null
  return `Origin '${origin}' is neither this host ('${request.host}') nor in allowedOrigins`
}

/** Adds the check as an onRequest hook of the scheduler's context (API and dashboard routes). */
export function registerCrossSiteProtection (api: FastifyInstance, allowedOrigins: readonly string[]): void {
  const allowed = new Set(allowedOrigins)
  api.addHook('onRequest', (request, _reply, done) => {
    const reason = crossSiteReason(request, allowed)
    if (reason === null) { done(); return }
    request.log.warn({ origin: request.headers.origin, secFetchSite: request.headers['sec-fetch-site'], method: request.method, url: request.url }, 'fastify-apscheduler: refused a cross-site request')
    done(new CrossSiteError(reason))
  })
}

function header (request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name]
  return Array.isArray(value) ? value[0] : value
}

/** True when the Origin's host[:port] is the Host the request was sent to (default ports aside). */
function sameHost (origin: string, host: string): boolean {
  try {
    const from = new URL(origin)
    return from.host === new URL(`${from.protocol}//${host}`).host
  } catch {
    return false
  }
}
