/**
 * Fastify wiring for @cortex/energy: `energyTracking` (a plugin) attributes
 * each request's time in flight to its route template; `energyHandler`
 * serves the meter's JSON snapshot, by default to loopback and private
 * addresses only.
 */
import { type AccessRule, checkMethods, routeNames, UNMATCHED_ROUTE } from '@cortex/core'
import type { EndRequest, EnergyMeter } from '@cortex/energy'
import type { FastifyRequest } from 'fastify'
import { internalEndpoint } from './internal-endpoint.js'
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

function endOnce(request: FastifyRequest): void {
  const end = request.cortexEnergyEnd
  if (!end) return
  request.cortexEnergyEnd = null
  end()
}

/**
 * A plugin that starts attributing energy in `onRequest` under
 * `METHOD /route/:template` (`__unmatched__` for a 404) and ends it when
 * the response closes (sent, or the client went away).
 *
 * @example
 * await app.register(energyTracking({ meter }))
 */
export const energyTracking = cortexPlugin<EnergyTrackingOptions>(
  '@cortex/fastify/energy-tracking',
  (options) =>
    checkMethods(
      options?.meter,
      'meter',
      ['startRequest'],
      'a meter from createEnergyMeter()',
      'energyTracking',
    ),
  async (app, { meter }) => {
    decorateRoute(app)
    if (!app.hasRequestDecorator('cortexEnergyEnd')) app.decorateRequest('cortexEnergyEnd', null)
    // "METHOD /route" strings, built once per pair instead of per request.
    const nameOf = routeNames()
    // A callback-style hook: no promise per request. The end comes from the response's
    // 'close', which Node emits for every response, once it is sent or when the client goes
    // away: Fastify runs neither onResponse nor onRequestAbort for a client that leaves after
    // sending its whole request, so those hooks alone would leave such a request in flight.
    app.addHook('onRequest', (request, reply, done) => {
      const route = routeOf(request)
      request.cortexEnergyEnd = meter.startRequest(
        route === undefined ? UNMATCHED_ROUTE : nameOf(request.method, route),
      )
      if (reply.raw.closed) endOnce(request)
      else reply.raw.once('close', () => endOnce(request))
      done()
    })
  },
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
