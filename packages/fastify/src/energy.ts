/**
 * Fastify wiring for @cortex/energy: `energyTracking` (a plugin) attributes
 * each request's time in flight to its route template; `energyHandler`
 * serves the meter's JSON snapshot, by default to loopback and private
 * addresses only.
 */
import { type AccessRule, checkAccess, checkAccessRule, checkMethods, UNMATCHED_ROUTE } from '@cortex/core'
import type { EndRequest, EnergyMeter } from '@cortex/energy'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { cortexPlugin } from './plugin.js'
import { routeOf } from './request-info.js'

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
    if (!app.hasRequestDecorator('cortexEnergyEnd')) app.decorateRequest('cortexEnergyEnd', null)
    app.addHook('onRequest', async (request) => {
      const route = routeOf(request)
      request.cortexEnergyEnd = meter.startRequest(
        route === undefined ? UNMATCHED_ROUTE : `${request.method} ${route}`,
      )
    })
    app.addHook('onResponse', async (request) => endOnce(request))
    app.addHook('onRequestAbort', async (request) => endOnce(request))
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
  const rule = checkAccessRule(allow, 'allow', 'energyHandler')
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const decision = checkAccess(rule, {
      clientAddress: request.ip,
      authorization: request.headers.authorization,
    })
    if (!decision.allowed) {
      return reply.code(decision.status).headers(decision.headers).send(JSON.stringify(decision.body))
    }
    return reply
      .code(200)
      .headers({ 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' })
      .send(JSON.stringify(meter.snapshot()))
  }
}
