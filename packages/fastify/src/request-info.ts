/**
 * Fastify's side of the @cortex request port: method, path, the route
 * template Fastify matched (`routeOptions.url`) and the client address as
 * Fastify resolves it under its `trustProxy` setting.
 */
import { pathOf, type RequestInfo } from '@cortex/core'
import type { FastifyInstance, FastifyRequest } from 'fastify'

/**
 * The framework-free facts about a Fastify request.
 *
 * @example
 * app.get('/users/:id', async (request) => requestInfo(request))
 * // → { method: 'GET', path: '/users/42', route: '/users/:id', clientAddress: '127.0.0.1' }
 */
export function requestInfo(request: FastifyRequest): RequestInfo {
  return {
    method: request.method,
    path: pathOf(request.url),
    route: routeOf(request),
    clientAddress: request.ip,
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The route template, once looked up by @cortex/fastify ('' for no route); null before. */
    cortexRoute: string | null
  }
}

/**
 * Declares the per-request slot `routeOf` remembers its answer in. Every
 * @cortex plugin calls it, so the route is looked up once per request.
 */
export function decorateRoute(app: FastifyInstance): void {
  if (!app.hasRequestDecorator('cortexRoute')) app.decorateRequest('cortexRoute', null)
  if (!app.hasRequestDecorator('cortexDecisions')) app.decorateRequest('cortexDecisions', null)
}

/** The matched route template, or undefined when no route matched (404). */
export function routeOf(request: FastifyRequest): string | undefined {
  const known = request.cortexRoute
  if (typeof known === 'string') return known === '' ? undefined : known
  // `routeOptions` is a getter that builds a new object on every read (and a 404 has no url
  // in Fastify 5): read it once per request and remember the answer when the slot exists.
  const url = request.routeOptions?.url
  const route = typeof url === 'string' && url.length > 0 ? url : undefined
  if (known === null) request.cortexRoute = route ?? ''
  return route
}
