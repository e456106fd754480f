/**
 * Express's side of the @cortex request port: method, path, the matched
 * route template (mount path + route path, so nested routers are right) and
 * the client address as Express resolves it under its `trust proxy` setting.
 */
import { pathOf, type RequestInfo } from '@cortex/core'
import type { Request } from 'express'

/**
 * The framework-free facts about an Express request.
 * The route is only known once routing has matched (after `next()` returns,
 * or inside a route handler); before that it is `undefined`.
 *
 * @example
 * app.get('/users/:id', (req, res) => res.json(requestInfo(req)))
 * // → { method: 'GET', path: '/users/42', route: '/users/:id', clientAddress: '127.0.0.1' }
 */
export function requestInfo(req: Request): RequestInfo {
  return facts(req, routeOf(req))
}

/**
 * What the rate limiter reads, before routing: the route is left out (the
 * limiter matches its policies on the path, and Express has not routed the
 * request yet), which spares a lookup per request.
 */
export function limiterInfo(req: Request): RequestInfo {
  return facts(req, undefined)
}

function facts(req: Request, route: string | undefined): RequestInfo {
  return {
    method: req.method,
    path: pathOf(req.originalUrl ?? req.url),
    route,
    clientAddress: req.ip ?? req.socket?.remoteAddress,
  }
}

const routeHints = new WeakMap<object, string>()

/**
 * Records the route a middleware proved before Express routed the request
 * (the rate limiter's exact-path policy), so SLO and energy figures keep a
 * request the router never dispatched (a 429, a body the parser refused)
 * under its endpoint. Internal to the adapter.
 */
export function setRouteHint(req: Request, route: string): void {
  routeHints.set(req, route)
}

/**
 * Mount path + route path of the matched route; else a route hint; else
 * undefined (before routing, or no match).
 */
export function routeOf(req: Request): string | undefined {
  const path: unknown = req.route?.path
  if (typeof path !== 'string') return routeHints.get(req)
  return `${req.baseUrl ?? ''}${path}` || '/'
}
