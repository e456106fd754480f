/**
 * Koa wiring for @cortex/slo: `sloTracking` records every request under the
 * route template @koa/router matched (`ctx._matchedRoute`); `metricsHandler`
 * serves a prom-client registry, by default to loopback and private
 * addresses only.
 */
import { type AccessRule, CortexConfigError } from '@cortex/core'
import type { SloTracker } from '@cortex/slo'
import type { Middleware } from 'koa'
import { internalEndpoint } from './internal-endpoint.js'
import { routeOf } from './request-info.js'

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
 * Times each request on the tracker's clock and records it after the
 * downstream middleware (and the router) ran, with the matched route
 * template (`__unmatched__` for 404s). A thrown error is recorded with its
 * `status` (500 when it has none) and rethrown. `app.use` it before the router.
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
  return async (ctx, next) => {
    const start = tracker.now()
    let thrown: number | undefined
    try {
      await next()
    } catch (err) {
      const status =
        (err as { status?: unknown; statusCode?: unknown })?.status ??
        (err as { statusCode?: unknown })?.statusCode
      thrown = typeof status === 'number' && status >= 400 && status < 600 ? status : 500
      throw err
    } finally {
      const end = tracker.now()
      tracker.record({
        method: ctx.method,
        route: routeOf(ctx),
        statusCode: thrown ?? ctx.status,
        durationMs: end - start,
        at: end,
      })
    }
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
