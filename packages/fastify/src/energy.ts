/**
 * Fastify wiring for @cortex/energy: `energyTracking` (a plugin) attributes
 * each request's time in flight to its route template; `energyHandler`
 * serves the meter's JSON snapshot, by default to loopback and private
 * addresses only.
 */
import { type AccessRule, checkMethods } from '@cortex/core'
import type { EnergyMeter } from '@cortex/energy'
import { internalEndpoint } from './internal-endpoint.js'
import { type EnergyTrackingOptions, partPlugin } from './stack.js'

export type { EnergyTrackingOptions }

export interface EnergyHandlerOptions {
  meter: Pick<EnergyMeter, 'snapshot'>
  /** Who may read: `'internal'` (default: loopback and private addresses), `'any'`, `(address) => boolean` or `{ bearerToken }`. */
  allow?: AccessRule
}

/**
 * A plugin attributing each request's time in flight to its route template
 * (see `energyStep`).
 *
 * @example
 * await app.register(energyTracking({ meter }))
 */
export const energyTracking = partPlugin<EnergyTrackingOptions>(
  '@cortex/fastify/energy-tracking',
  'energy',
  'energyTracking',
)

/**
 * A route handler serving `meter.snapshot()` as JSON (`Cache-Control:
 * no-store`). Refused requests get 403 (address) or 401 (bearer token).
 *
 * @example
 * app.get('/metrics/energy', energyHandler({ meter }))
 */
export function energyHandler({ meter, allow }: EnergyHandlerOptions) {
  checkMethods(meter, 'meter', ['snapshot'], 'a meter from createEnergyMeter()', 'energyHandler')
  return internalEndpoint(allow, 'energyHandler', () => ({
    contentType: 'application/json; charset=utf-8',
    body: JSON.stringify(meter.snapshot()),
  }))
}
