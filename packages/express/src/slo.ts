/**
 * Express wiring for @cortex/slo: `sloTracking` records every completed
 * request under its route template (mount path + route path, so nested
 * routers are right); `metricsHandler` serves a prom-client registry, by
 * default to loopback and private addresses only.
 */
import { type AccessRule, CortexConfigError } from '@cortex/core'
import type { SloTracker } from '@cortex/slo'
import type { RequestHandler, Response } from 'express'
import { internalEndpoint } from './internal-endpoint.js'
import { routeOf } from './request-info.js'
import { closeListener, onResponseClose } from './response.js'

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
 * Times each request on the tracker's clock and records it when the response
 * closes, with the matched route template (`__unmatched__` for 404s), for
 * every response the server completed: a request whose client left before
 * the response was produced is not recorded. Mount it before your routes.
 *
 * @example
 * app.use(sloTracking({ tracker }))
 */
export function sloTracking({ tracker }: SloTrackingOptions): RequestHandler {
  checkTracker(tracker, 'sloTracking')
  /** This middleware's start time on each response (one symbol per middleware, so two trackers never mix). */
  const kStart = Symbol('cortex.express.sloStart')
  type Timed = Response & { [kStart]?: number }
  // Responses the server completed only: a client that left first did not get one.
  const onClose = closeListener(function record(this: Timed): void {
    const start = this[kStart]
    if (start === undefined || !this.writableEnded) return
    const end = tracker.now()
    tracker.record({
      method: this.req.method,
      route: routeOf(this.req),
      statusCode: this.statusCode,
      durationMs: end - start,
      at: end,
    })
  })
  return (_req, res, next) => {
    ;(res as Timed)[kStart] = tracker.now()
    onResponseClose(res, onClose)
    next()
  }
}

/**
 * Serves `registry.metrics()` with the registry's content type. Refused
 * requests get 403 (address) or 401 (bearer token) with a JSON body.
 *
 * @example
 * app.get('/metrics', metricsHandler({ registry }))
 * app.get('/metrics', metricsHandler({ registry, allow: { bearerToken: process.env.METRICS_TOKEN! } }))
 */
export function metricsHandler({ registry, allow }: MetricsHandlerOptions): RequestHandler {
  checkRegistry(registry, 'metricsHandler')
  return internalEndpoint(allow, 'metricsHandler', async () => ({
    contentType: registry.contentType,
    body: await registry.metrics(),
  }))
}

function checkTracker(tracker: unknown, where: string): void {
  const t = tracker as Partial<SloTracker> | undefined
  if (typeof t?.record !== 'function' || typeof t.now !== 'function') {
    throw new CortexConfigError('tracker', tracker, 'a tracker from createSloTracker()', where)
  }
}

function checkRegistry(registry: unknown, where: string): void {
  const r = registry as Partial<MetricsRegistry> | undefined
  if (typeof r?.metrics !== 'function' || typeof r.contentType !== 'string') {
    throw new CortexConfigError('registry', registry, 'a prom-client Registry', where)
  }
}
