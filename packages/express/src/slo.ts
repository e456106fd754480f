/**
 * Express wiring for @cortex/slo: `sloTracking` records every completed
 * request under its route template (mount path + route path, so nested
 * routers are right); `metricsHandler` serves a prom-client registry, by
 * default to loopback and private addresses only.
 */
import { type AccessRule, CortexConfigError } from '@cortex/core'
import type { RequestHandler } from 'express'
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
 * Times each request on the tracker's clock and records it when the response
 * closes, with the matched route template (`__unmatched__` for 404s), for
 * every response the server completed: a request whose client left before
 * the response was produced is not recorded. Mount it before your routes.
 *
 * @example
 * app.use(sloTracking({ tracker }))
 */
export function sloTracking(options: SloTrackingOptions): RequestHandler {
  return createStack({ slo: options ?? ({} as SloTrackingOptions) }, 'sloTracking')
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

function checkRegistry(registry: unknown, where: string): void {
  const r = registry as Partial<MetricsRegistry> | undefined
  if (typeof r?.metrics !== 'function' || typeof r.contentType !== 'string') {
    throw new CortexConfigError('registry', registry, 'a prom-client Registry', where)
  }
}
