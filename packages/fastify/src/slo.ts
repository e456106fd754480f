/**
 * Fastify wiring for @cortex/slo: `sloTracking` is a plugin (applied to the
 * whole instance) that records every response under its route template
 * (`routeOptions.url`); `metricsHandler` serves a prom-client registry, by
 * default to loopback and private addresses only.
 */
import { type AccessRule, CortexConfigError } from '@cortex/core'
import { internalEndpoint } from './internal-endpoint.js'
import { partPlugin, type SloTrackingOptions } from './stack.js'

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
 * A plugin timing each request on the tracker's clock (from `onRequest` to
 * the response's close) and recording it with the matched route template
 * (`__unmatched__` for 404s). Register it before your routes; it is not
 * encapsulated, so it sees every route of the instance.
 *
 * @example
 * await app.register(sloTracking({ tracker }))
 * await app.register(sloTracking, { tracker }) // the same
 */
export const sloTracking = partPlugin<SloTrackingOptions>(
  '@cortex/fastify/slo-tracking',
  'slo',
  'sloTracking',
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
