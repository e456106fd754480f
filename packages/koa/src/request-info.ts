/**
 * Koa's side of the @cortex request port: method, path, the route template
 * @koa/router matched (`ctx._matchedRoute`) and the client address as Koa
 * resolves it under its `proxy` setting.
 */
import { pathOf, type RequestInfo } from '@cortex/core'
import type { Context } from 'koa'

/**
 * The framework-free facts about a Koa request.
 * The route is known once @koa/router has matched (after `await next()`).
 *
 * @example
 * router.get('/users/:id', (ctx) => { ctx.body = requestInfo(ctx) })
 * // → { method: 'GET', path: '/users/42', route: '/users/:id', clientAddress: '127.0.0.1' }
 */
export function requestInfo(ctx: Context): RequestInfo {
  return facts(ctx, routeOf(ctx))
}

/**
 * What the rate limiter reads, before routing: the route is left out (the
 * limiter matches its policies on the path, and @koa/router has not run
 * yet), which spares a lookup per request.
 */
export function limiterInfo(ctx: Context): RequestInfo {
  return facts(ctx, undefined)
}

function facts(ctx: Context, route: string | undefined): RequestInfo {
  return {
    // The raw Node fields behind Koa's delegated getters (`ctx.method` is `ctx.req.method`): each
    // delegate hop is a getter call per request, measurable inside a running server.
    method: ctx.req.method as string,
    path: pathOf(ctx.originalUrl ?? ctx.url),
    route,
    clientAddress: ctx.ip || ctx.req.socket?.remoteAddress,
  }
}

const routeHints = new WeakMap<object, string>()

/**
 * Records the route a middleware proved before @koa/router ran (the rate
 * limiter's exact-path policy), so SLO and energy figures keep a request
 * the router never dispatched (a 429, a body the parser refused) under its
 * endpoint. Internal to the adapter.
 */
export function setRouteHint(ctx: Context, route: string): void {
  routeHints.set(ctx, route)
}

/** The template @koa/router matched; else a route hint; else undefined (no match). */
export function routeOf(ctx: Context): string | undefined {
  const matched: unknown = (ctx as { _matchedRoute?: unknown })._matchedRoute
  return typeof matched === 'string' && matched.length > 0 ? matched : routeHints.get(ctx)
}
