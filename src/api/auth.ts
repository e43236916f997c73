/** HTTP Basic on every route of the scheduler's own context (API and dashboard), never the host's. */
import fastifyBasicAuth from '@fastify/basic-auth'
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import { SchedulerError } from '../errors.js'
import type { Scheduler } from '../scheduler.js'

export const WWW_AUTHENTICATE = 'Basic realm="Authentication Required"'

class AuthError extends SchedulerError {}

type BasicAuthHandler = (request: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void) => void

/**
 * Adds an onRequest hook to `api` (the scheduler's encapsulated context). Auth is on when
 * `scheduler.authenticator` is set at request time, so `scheduler.authenticate(fn)` called after
 * registration takes effect, and the later of it and the `auth` option wins.
 * The error handler of `api` answers 401s with the JSON body and the `WWW-Authenticate` header.
 */
export async function registerAuth (api: FastifyInstance, scheduler: Scheduler): Promise<void> {
  // @fastify/basic-auth parses the header; it is run against a stand-in instance because it
  // decorates `basicAuth`, which would clash with a host app using @fastify/basic-auth itself.
  let handler: BasicAuthHandler | undefined
  const standIn = { decorate (name: string, fn: BasicAuthHandler) { if (name === 'basicAuth') handler = fn } }
  await fastifyBasicAuth(standIn as unknown as FastifyInstance, {
    authenticate: false, // the header is set by the error handler, exactly as specified
    utf8: true,
    async validate (username, password, request) {
      const authenticate = scheduler.authenticator
      if (authenticate === null) return
      let ok: unknown
      try {
        ok = await authenticate({ username, password }, request)
      } catch (err) {
        request.log.error({ err }, 'fastify-apscheduler: the authenticate callback threw')
        return new AuthError('Authentication failed: the authenticate callback threw', 500)
      }
      if (ok !== true) return new AuthError('Invalid username or password', 401)
    }
  })
  if (handler === undefined) throw new Error('fastify-apscheduler: @fastify/basic-auth did not provide its handler')
  const basicAuth = handler

  const hook: onRequestHookHandler = (request, reply, done) => {
    if (scheduler.authenticator === null) { done(); return }
    basicAuth(request, reply, (err) => { done(err) })
  }
  api.addHook('onRequest', hook)
}
