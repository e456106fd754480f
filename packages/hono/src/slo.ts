/**
 * Hono wiring for @cortex/slo: `sloTracking` records every request under the
 * route template Hono matched; `metricsHandler` serves a prom-client
 * registry, by default to internal addresses only.
 */

import { type AccessRule, CortexConfigError } from '@cortex/core'
import type { Handler, MiddlewareHandler } from 'hono'
import { type ClientOptions, internalEndpoint } from './internal-endpoint.js'
import { createStack, type SloTrackingOptions } from './stack.js'

export type { SloTrackingOptions }

/** The part of a prom-client `Registry` the handler uses. */
export interface MetricsRegistry {
  metrics(): Promise<string>
  readonly contentType: string
}

export interface MetricsHandlerOptions extends ClientOptions {
  registry: MetricsRegistry
  /**
   * Who may read: `'internal'` (the default: loopback only), `'private'`
   * (loopback and private networks), `'any'`, `(address) => boolean` or
   * `{ bearerToken }`.
   */
  allow?: AccessRule
}

/**
 * Times each request on the tracker's clock, from when it reaches this
 * middleware to the end of its exchange, and records it with the matched
 * route template (`__unmatched__` for 404s) and the status sent. On Node a
 * response the server never completed (the client left first) is not
 * recorded; on Bun the record is made when the Response is produced (see
 * the README). `app.use` it before your routes.
 *
 * @example
 * app.use(sloTracking({ tracker }))
 * app.get('/users/:id', (c) => c.json(user(c.req.param('id'))))
 */
export function sloTracking(options: SloTrackingOptions): MiddlewareHandler {
  return createStack({ slo: options ?? ({} as SloTrackingOptions) }, 'sloTracking')
}

/**
 * A handler serving `registry.metrics()` with the registry's content type.
 * Refused requests get 403 (address) or 401 (bearer token) with a JSON body.
 *
 * @example
 * app.get('/metrics', metricsHandler({ registry }))
 */
export function metricsHandler({ registry, allow, ...client }: MetricsHandlerOptions): Handler {
  checkRegistry(registry, 'metricsHandler')
  return internalEndpoint(allow, client, 'metricsHandler', async () => ({
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
