/**
 * Koa wiring for @cortex/energy: `energyTracking` attributes each request's
 * time in flight to the route template @koa/router matched;
 * `energyHandler` serves the meter's JSON snapshot, by default to loopback
 * and private addresses only.
 */

import type { ServerResponse } from 'node:http'
import { type AccessRule, checkMethods, routeNames, UNMATCHED_ROUTE } from '@cortex/core'
import type { EndRequest, EnergyMeter } from '@cortex/energy'
import type { Context, Middleware } from 'koa'
import { internalEndpoint } from './internal-endpoint.js'
import { routeOf } from './request-info.js'
import { closeListener, contextOf, onResponseClose } from './response.js'

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
 * response closes (sent, or the client went away), under `METHOD /route/:template`
 * (`__unmatched__` when no route matched). Use it before the router.
 *
 * @example
 * app.use(energyTracking({ meter }))
 * app.use(router.routes())
 */
export function energyTracking({ meter }: EnergyTrackingOptions): Middleware {
  checkMethods(meter, 'meter', ['startRequest'], 'a meter from createEnergyMeter()', 'energyTracking')
  const nameOf = routeNames()
  /** This middleware's end function on each response. */
  const kEnd = Symbol('cortex.koa.energyEnd')
  const onClose = closeListener(function end(
    this: ServerResponse & { [kEnd]?: EndRequest | undefined },
  ): void {
    const end = this[kEnd]
    if (end === undefined) return
    this[kEnd] = undefined
    const ctx = contextOf(this)
    const route = ctx === undefined ? undefined : routeOf(ctx)
    end(route === undefined ? UNMATCHED_ROUTE : nameOf((ctx as Context).req.method as string, route))
  })
  // Synchronous: no promise and no await added to the request.
  return (ctx, next) => {
    ;(ctx.res as ServerResponse & { [kEnd]?: EndRequest })[kEnd] = meter.startRequest()
    onResponseClose(ctx, onClose)
    return next()
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
