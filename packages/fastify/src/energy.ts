/**
 * Fastify wiring for @cortex/energy: `energyTracking` (a plugin) attributes
 * each request's time in flight to its route template; `energyHandler`
 * serves the meter's JSON snapshot, by default to loopback and private
 * addresses only.
 */
import { type AccessRule, checkMethods, UNMATCHED_ROUTE } from '@cortex/core'
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
 * `METHOD /route/:template` (`__unmatched__` for a 404) and ends it in
 * `onResponse` or `onRequestAbort`.
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
    const names = new Map<string, Record<string, string>>()
    const nameOf = (method: string, route: string): string => {
      let byMethod = names.get(route)
      if (byMethod === undefined) {
        byMethod = {}
        names.set(route, byMethod)
      }
      let name = byMethod[method]
      if (name === undefined) {
        name = `${method} ${route}`
        // Fastify's routes are finite and known; methods are checked by its router.
        byMethod[method] = name
      }
      return name
    }
    // Callback-style hooks: no promise per request.
    app.addHook('onRequest', (request, _reply, done) => {
      const route = routeOf(request)
      request.cortexEnergyEnd = meter.startRequest(
        route === undefined ? UNMATCHED_ROUTE : nameOf(request.method, route),
      )
      done()
    })
    app.addHook('onResponse', (request, _reply, done) => {
      endOnce(request)
      done()
    })
    app.addHook('onRequestAbort', (request, done) => {
      endOnce(request)
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
