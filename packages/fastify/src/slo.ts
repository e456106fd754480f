/**
 * Fastify wiring for @cortex/slo: `sloTracking` is a plugin (applied to the
 * whole instance) that records every response under its route template
 * (`routeOptions.url`); `metricsHandler` serves a prom-client registry, by
 * default to loopback and private addresses only.
 */
import { type AccessRule, CortexConfigError, checkMethods } from '@cortex/core'
import type { SloTracker } from '@cortex/slo'
import type { FastifyInstance } from 'fastify'
import { internalEndpoint } from './internal-endpoint.js'
import { installSteps, type Step } from './pipeline.js'
import { cortexPlugin } from './plugin.js'
import { decorateRoute, routeOf } from './request-info.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** When this request started on the SLO tracker's clock (set by @cortex/fastify `sloTracking`). */
    cortexSloStart: number
  }
}

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

/** Checks `sloTracking`'s options. */
export function checkSloTracker(tracker: unknown, where: string): void {
  checkMethods(tracker, 'tracker', ['record', 'now'], 'a tracker from createSloTracker()', where)
}

/**
 * The SLO step: the start on the tracker's clock in `onRequest`; the record
 * when the response closes, for responses the server completed (a client
 * that left before the response was produced did not get one).
 */
export function sloStep(app: FastifyInstance, tracker: Pick<SloTracker, 'record' | 'now'>): Step {
  // Timed on the tracker's clock (injectable), the start kept on the request
  // itself: a decorator is a plain property, cheaper than a side map.
  decorateRoute(app)
  if (!app.hasRequestDecorator('cortexSloStart')) app.decorateRequest('cortexSloStart', 0)
  return {
    start(request) {
      request.cortexSloStart = tracker.now()
      return undefined
    },
    close(request, res) {
      // Only responses the server completed: a client that left first did not get one.
      if (!res.writableEnded) return
      const end = tracker.now()
      tracker.record({
        method: request.method,
        route: routeOf(request),
        statusCode: res.statusCode,
        durationMs: end - request.cortexSloStart,
        at: end,
      })
    },
  }
}

/**
 * A plugin timing each request on the tracker's clock (from `onRequest` to
 * the response's close) and recording it with the matched route template
 * (`__unmatched__` for 404s). Register it before your routes; it is not
 * encapsulated, so it sees every route of the instance.
 *
 * @example
 * await app.register(sloTracking({ tracker }))
 * await app.register(sloTracking, { tracker }) // the same
 */
export const sloTracking = cortexPlugin<SloTrackingOptions>(
  '@cortex/fastify/slo-tracking',
  (options) => checkSloTracker(options?.tracker, 'sloTracking'),
  (app, { tracker }) => installSteps(app, [sloStep(app, tracker)]),
)

/**
 * A route handler serving `registry.metrics()` with the registry's content
 * type. Refused requests get 403 (address) or 401 (bearer token) with a JSON body.
 *
 * @example
 * app.get('/metrics', metricsHandler({ registry }))
 */
export function metricsHandler({ registry, allow }: MetricsHandlerOptions) {
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
