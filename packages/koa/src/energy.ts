/**
 * Koa wiring for @cortex/energy: `energyTracking` attributes each request's
 * time in flight to the route template @koa/router matched;
 * `energyHandler` serves the meter's JSON snapshot, by default to loopback
 * and private addresses only.
 */

import { type AccessRule, checkMethods } from '@cortex/core'
import type { EnergyMeter } from '@cortex/energy'
import type { Middleware } from 'koa'
import { internalEndpoint } from './internal-endpoint.js'
import { createStack, type EnergyTrackingOptions } from './stack.js'

export type { EnergyTrackingOptions }

export interface EnergyHandlerOptions {
  meter: Pick<EnergyMeter, 'snapshot'>
  /** Who may read: `'internal'` (default: loopback and private addresses), `'any'`, `(address) => boolean` or `{ bearerToken }`. */
  allow?: AccessRule
}

/**
 * Starts attributing energy when a request arrives and ends it when the
 * response closes (sent, or the client went away), under `METHOD /route/:template`
 * (`__unmatched__` when no route matched). Use it before the router.
 *
 * @example
 * app.use(energyTracking({ meter }))
 * app.use(router.routes())
 */
export function energyTracking(options: EnergyTrackingOptions): Middleware {
  return createStack({ energy: options ?? ({} as EnergyTrackingOptions) }, 'energyTracking')
}

/**
 * Middleware serving `meter.snapshot()` as JSON (`Cache-Control: no-store`).
 * Refused requests get 403 (address) or 401 (bearer token).
 *
 * @example
 * router.get('/metrics/energy', energyHandler({ meter }))
 */
export function energyHandler({ meter, allow }: EnergyHandlerOptions): Middleware {
  checkMethods(meter, 'meter', ['snapshot'], 'a meter from createEnergyMeter()', 'energyHandler')
  return internalEndpoint(allow, 'energyHandler', () => ({
    contentType: 'application/json; charset=utf-8',
    body: JSON.stringify(meter.snapshot()),
  }))
}
