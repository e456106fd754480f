/**
 * Koa wiring for @cortex/slo: `sloTracking` records every request under the
 * route template @koa/router matched (`ctx._matchedRoute`); `metricsHandler`
 * serves a prom-client registry, by default to loopback and private
 * addresses only.
 */

import type { ServerResponse } from 'node:http'
import { type AccessRule, CortexConfigError } from '@cortex/core'
import type { SloTracker } from '@cortex/slo'
import type { Middleware } from 'koa'
import { internalEndpoint } from './internal-endpoint.js'
import { routeOf } from './request-info.js'
import { closeListener, contextOf, onResponseClose } from './response.js'

export interface SloTrackingOptions {
  tracker: Pick<SloTracker, 'record' | 'now'>
}

/** The part of a prom-client `Registry` the handler uses. */
export interface MetricsRegistry {
  metrics(): Promise<string>
  readonly contentType: string
}

export interface MetricsHandlerOptions {
  registry: MetricsRegistry
  /** Who may read: `'internal'` (default: loopback and private addresses), `'any'`, `(address) => boolean` or `{ bearerToken }`. */
  allow?: AccessRule
}

/**
 * Times each request on the tracker's clock, from when it reaches this
 * middleware to when its response closes, and records it with the matched
 * route template (`__unmatched__` for 404s) and the status actually sent
 * (after Koa's error handling: a thrown error is recorded as the status it
 * was answered with). Responses the server never completed (the client left
 * first) are not recorded. `app.use` it before the router.
 *
 * The middleware itself is synchronous: it adds no promise and no await to
 * the request; the record is made by one 'close' listener shared by every
 * response.
 *
 * @example
 * app.use(sloTracking({ tracker }))
 * app.use(router.routes())
 */
export function sloTracking({ tracker }: SloTrackingOptions): Middleware {
  const t = tracker as Partial<SloTracker> | undefined
  if (typeof t?.record !== 'function' || typeof t.now !== 'function') {
    throw new CortexConfigError('tracker', tracker, 'a tracker from createSloTracker()', 'sloTracking')
  }
  /** This middleware's start time on each response (one symbol per middleware, so two trackers never mix). */
  const kStart = Symbol('cortex.koa.sloStart')
  const onClose = closeListener(function record(this: ServerResponse & { [kStart]?: number }): void {
    const start = this[kStart]
    const ctx = contextOf(this)
    if (start === undefined || ctx === undefined || !this.writableEnded) return
    const end = tracker.now()
    tracker.record({
      method: ctx.req.method as string,
      route: routeOf(ctx),
      statusCode: this.statusCode,
      durationMs: end - start,
      at: end,
    })
  })
  return (ctx, next) => {
    ;(ctx.res as ServerResponse & { [kStart]?: number })[kStart] = tracker.now()
    onResponseClose(ctx, onClose)
    return next()
  }
}

/**
 * A middleware serving `registry.metrics()` with the registry's content
 * type. Refused requests get 403 (address) or 401 (bearer token) with a JSON body.
 *
 * @example
 * router.get('/metrics', metricsHandler({ registry }))
 */
export function metricsHandler({ registry, allow }: MetricsHandlerOptions): Middleware {
  checkRegistry(registry, 'metricsHandler')
  return internalEndpoint(allow, 'metricsHandler', async () => ({
    contentType: registry.contentType,
    body: await registry.metrics(),
  }))
}

function checkRegistry(registry: unknown, where: string): void {
  const r = registry as Partial<MetricsRegistry> | undefined
  if (typeof r?.metrics !== 'function' || typeof r.contentType !== 'string') {
    throw new CortexConfigError('registry', registry, 'a prom-client Registry', where)
  }
}
