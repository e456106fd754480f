/**
 * Koa wiring for @cortex/energy: `energyTracking` attributes each request's
 * time in flight to the route template @koa/router matched;
 * `energyHandler` serves the meter's JSON snapshot, by default to loopback
 * and private addresses only.
 */
import { type AccessRule, checkMethods, routeNames, UNMATCHED_ROUTE } from '@cortex/core'
import type { EnergyMeter } from '@cortex/energy'
import type { Middleware } from 'koa'
import { internalEndpoint } from './internal-endpoint.js'
import { routeOf } from './request-info.js'

export interface EnergyTrackingOptions {
  meter: Pick<EnergyMeter, 'startRequest'>
}

export interface EnergyHandlerOptions {
  meter: Pick<EnergyMeter, 'snapshot'>
  /** Who may read: `'internal'` (default: loopback and private addresses), `'any'`, `(address) => boolean` or `{ bearerToken }`. */
  allow?: AccessRule
}

/**
 * Starts attributing energy when a request arrives and ends it when the
 * response finishes (or the connection closes), under `METHOD /route/:template`
 * (`__unmatched__` when no route matched). Use it before the router.
 *
 * @example
 * app.use(energyTracking({ meter }))
 * app.use(router.routes())
 */
export function energyTracking({ meter }: EnergyTrackingOptions): Middleware {
  checkMethods(meter, 'meter', ['startRequest'], 'a meter from createEnergyMeter()', 'energyTracking')
  const nameOf = routeNames()
  return async (ctx, next) => {
    const end = meter.startRequest()
    // 'close' follows 'finish' for every response and also comes when the client goes away.
    ctx.res.once('close', () => {
      const route = routeOf(ctx)
      end(route === undefined ? UNMATCHED_ROUTE : nameOf(ctx.method, route))
    })
    await next()
  }
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
