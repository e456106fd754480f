/**
 * Koa wiring for @cortex/slo: `sloTracking` records every request under the
 * route template @koa/router matched (`ctx._matchedRoute`); `metricsHandler`
 * serves a prom-client registry, by default to loopback and private
 * addresses only.
 */

import { type AccessRule, CortexConfigError } from '@cortex/core'
import type { Middleware } from 'koa'
import { internalEndpoint } from './internal-endpoint.js'
import { createStack, type SloTrackingOptions } from './stack.js'

export type { SloTrackingOptions }

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
export function sloTracking(options: SloTrackingOptions): Middleware {
  return createStack({ slo: options ?? ({} as SloTrackingOptions) }, 'sloTracking')
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
