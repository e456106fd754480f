/**
 * Hono wiring for @cortex/energy: `energyTracking` attributes each request's
 * time in flight to the route template Hono matched; `energyHandler` serves
 * the meter's JSON snapshot, by default to internal addresses only.
 */

import { type AccessRule, checkMethods } from '@cortex/core'
import type { EnergyMeter } from '@cortex/energy'
import type { Handler, MiddlewareHandler } from 'hono'
import { type ClientOptions, internalEndpoint } from './internal-endpoint.js'
import { createStack, type EnergyTrackingOptions } from './stack.js'

export type { EnergyTrackingOptions }

export interface EnergyHandlerOptions extends ClientOptions {
  meter: Pick<EnergyMeter, 'snapshot'>
  /**
   * Who may read: `'internal'` (the default: loopback only), `'private'`
   * (loopback and private networks), `'any'`, `(address) => boolean` or
   * `{ bearerToken }`.
   */
  allow?: AccessRule
}

/**
 * Starts attributing energy when a request arrives and ends it with the
 * exchange (see `sloTracking` for when that is on each runtime), under
 * `METHOD /route/:template` (`__unmatched__` when no route matched).
 *
 * @example
 * app.use(energyTracking({ meter }))
 */
export function energyTracking(options: EnergyTrackingOptions): MiddlewareHandler {
  return createStack({ energy: options ?? ({} as EnergyTrackingOptions) }, 'energyTracking')
}

/**
 * A handler serving `meter.snapshot()` as JSON (`Cache-Control: no-store`).
 * Refused requests get 403 (address) or 401 (bearer token).
 *
 * @example
 * app.get('/metrics/energy', energyHandler({ meter }))
 */
export function energyHandler({ meter, allow, ...client }: EnergyHandlerOptions): Handler {
  checkMethods(meter, 'meter', ['snapshot'], 'a meter from createEnergyMeter()', 'energyHandler')
  return internalEndpoint(allow, client, 'energyHandler', () => ({
    contentType: 'application/json; charset=utf-8',
    body: JSON.stringify(meter.snapshot()),
  }))
}
