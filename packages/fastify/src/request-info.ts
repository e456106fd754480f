/**
 * Fastify's side of the @cortex request port: method, path, the route
 * template Fastify matched (`routeOptions.url`) and the client address as
 * Fastify resolves it under its `trustProxy` setting.
 */
import { pathOf, type RequestInfo } from '@cortex/core'
import type { FastifyRequest } from 'fastify'

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

/** The matched route template, or undefined when no route matched (404). */
export function routeOf(request: FastifyRequest): string | undefined {
  // A 404 has no routeOptions.url in Fastify 5.
  const url = request.routeOptions?.url
  return typeof url === 'string' && url.length > 0 ? url : undefined
}
