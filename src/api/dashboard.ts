/**
 * Serves the dashboard under `<apiPrefix>/ui`: the files of the package's `ui/` folder and the
 * browser builds of the three libraries it loads (Preact, its hooks, htm, cronstrue), straight
 * from their npm packages. No build step and nothing from another site: the page's
 * Content-Security-Policy only allows this origin. Files are read once, at registration.
 */
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchema } from 'fastify'

interface Asset { body: Buffer, type: string, etag: string }

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.html': 'text/html; charset=utf-8'
}

/** Browser files of the libraries, by the name the page asks for; module specifiers resolved by Node. */
const VENDOR: Record<string, string> = {
  'preact.mjs': 'preact',
  'hooks.mjs': 'preact/hooks',
  'htm.mjs': 'htm',
  'cronstrue.min.js': 'cronstrue/dist/cronstrue.min.js'
}

/** The `ui/` folder beside the package's package.json (this module runs from src/ or dist/src/). */
function findUiDir (): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'ui', 'index.html'))) return join(dir, 'ui')
    dir = dirname(dir)
  }
  throw new Error("fastify-apscheduler: the dashboard's files (ui/index.html) are missing from the package; reinstall it or set ui: false")
}

function asset (body: Buffer | string, type: string): Asset {
  const buffer = Buffer.isBuffer(body) ? body : Buffer.from(body)
  return { body: buffer, type, etag: `"${createHash('sha1').update(buffer).digest('base64url')}"` }
}

function escapeHtml (text: string): string {
  return text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

function loadAssets (apiPrefix: string, base: string): { index: Asset, csp: string, files: Map<string, Asset> } {
  const uiDir = findUiDir()
  const files = new Map<string, Asset>()
  for (const name of readdirSync(uiDir)) {
    const type = TYPES[extname(name)]
    if (type !== undefined && name !== 'index.html') files.set(name, asset(readFileSync(join(uiDir, name)), type))
  }
  for (const [name, specifier] of Object.entries(VENDOR)) {
    files.set(`vendor/${name}`, asset(readFileSync(fileURLToPath(import.meta.resolve(specifier))), TYPES['.js'] as string))
  }
  // Bare specifiers inside the libraries (hooks imports 'preact') resolve through an import map.
  const importMap = JSON.stringify({
    imports: { preact: `${base}/vendor/preact.mjs`, 'preact/hooks': `${base}/vendor/hooks.mjs`, htm: `${base}/vendor/htm.mjs` }
  })
  const importMapHash = createHash('sha256').update(importMap).digest('base64')
  const html = readFileSync(join(uiDir, 'index.html'), 'utf8')
    .replace('<!--importmap-->', `<script type="importmap">${importMap}</script>`)
    .replaceAll('%BASE%', escapeHtml(base))
    .replaceAll('%API%', escapeHtml(apiPrefix))
  const csp = [
    "default-src 'none'",
    `script-src 'self' 'sha256-${importMapHash}'`,
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'"
  ].join('; ')
  return { index: asset(html, TYPES['.html'] as string), csp, files }
}

function send (request: FastifyRequest, reply: FastifyReply, file: Asset): FastifyReply {
  void reply.header('Cache-Control', 'no-cache').header('ETag', file.etag).header('X-Content-Type-Options', 'nosniff')
  if (request.headers['if-none-match'] === file.etag) return reply.code(304).send()
  return reply.type(file.type).send(file.body)
}

/** Adds the dashboard's routes to the API context `api` (so they share its auth). */
export function registerDashboard (api: FastifyInstance): void {
  const base = `${api.prefix}/ui`
  const { index, csp, files } = loadAssets(api.prefix, base)
  const hidden = { hide: true } as FastifySchema
  const page = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    void reply.header('Content-Security-Policy', csp).header('Referrer-Policy', 'no-referrer')
    return send(request, reply, index)
  }
  api.get('/ui', { schema: hidden }, page)
  // One wildcard also answers `/ui/` (as the page), so a host with ignoreTrailingSlash sees no duplicate.
  const file = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const name = (request.params as { '*': string })['*']
    if (name === '') return await page(request, reply)
    const found = files.get(name)
    if (found === undefined) { reply.callNotFound(); return reply }
    return send(request, reply, found)
  }
  api.get('/ui/*', { schema: hidden }, file)
}
