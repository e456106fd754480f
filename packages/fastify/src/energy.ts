/**
 * Fastify wiring for @cortex/energy: `energyTracking` (a plugin) attributes
 * each request's time in flight to its route template; `energyHandler`
 * serves the meter's JSON snapshot, by default to loopback and private
 * addresses only.
 */
import { type AccessRule, checkMethods, routeNames, UNMATCHED_ROUTE } from '@cortex/core'
import type { EndRequest, EnergyMeter } from '@cortex/energy'
import type { FastifyInstance } from 'fastify'
import { internalEndpoint } from './internal-endpoint.js'
import { installSteps, type Step } from './pipeline.js'
import { cortexPlugin } from './plugin.js'
import { decorateRoute, routeOf } from './request-info.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** Ends this request's energy attribution (set by @cortex/fastify `energyTracking`). */
    cortexEnergyEnd?: EndRequest | null
  }
}

export interface EnergyTrackingOptions {
  meter: Pick<EnergyMeter, 'startRequest'>
}

export interface EnergyHandlerOptions {
  meter: Pick<EnergyMeter, 'snapshot'>
  /** Who may read: `'internal'` (default: loopback and private addresses), `'any'`, `(address) => boolean` or `{ bearerToken }`. */
  allow?: AccessRule
}

/** Checks `energyTracking`'s options. */
export function checkEnergyMeter(meter: unknown, where: string): void {
  checkMethods(meter, 'meter', ['startRequest'], 'a meter from createEnergyMeter()', where)
}

/**
 * The energy step: attribution starts in `onRequest` under
 * `METHOD /route/:template` (`__unmatched__` for a 404) and ends when the
 * response closes (sent, or the client went away).
 */
export function energyStep(app: FastifyInstance, meter: Pick<EnergyMeter, 'startRequest'>): Step {
  decorateRoute(app)
  if (!app.hasRequestDecorator('cortexEnergyEnd')) app.decorateRequest('cortexEnergyEnd', null)
  // "METHOD /route" strings, built once per pair instead of per request.
  const nameOf = routeNames()
  return {
    start(request) {
      const route = routeOf(request)
      request.cortexEnergyEnd = meter.startRequest(
        route === undefined ? UNMATCHED_ROUTE : nameOf(request.method, route),
      )
      return undefined
    },
    close(request) {
      const end = request.cortexEnergyEnd
      if (!end) return
      request.cortexEnergyEnd = null
      end()
    },
  }
}

/**
 * A plugin attributing each request's time in flight to its route template
 * (see `energyStep`).
 *
 * @example
 * await app.register(energyTracking({ meter }))
 */
export const energyTracking = cortexPlugin<EnergyTrackingOptions>(
  '@cortex/fastify/energy-tracking',
  (options) => checkEnergyMeter(options?.meter, 'energyTracking'),
  (app, { meter }) => installSteps(app, [energyStep(app, meter)]),
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
