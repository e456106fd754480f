/**
 * Express wiring for @cortex/energy: `energyTracking` attributes each
 * request's time in flight to its route template; `energyHandler` serves the
 * meter's JSON snapshot, by default to loopback and private addresses only.
 */
import { type AccessRule, checkMethods, routeNames, UNMATCHED_ROUTE } from '@cortex/core'
import type { EndRequest, EnergyMeter } from '@cortex/energy'
import type { RequestHandler, Response } from 'express'
import { internalEndpoint } from './internal-endpoint.js'
import { routeOf } from './request-info.js'
import { closeListener, onResponseClose } from './response.js'

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
 * (`__unmatched__` when no route matched). Mount it before your routes.
 *
 * @example
 * app.use(energyTracking({ meter }))
 */
export function energyTracking({ meter }: EnergyTrackingOptions): RequestHandler {
  checkMethods(meter, 'meter', ['startRequest'], 'a meter from createEnergyMeter()', 'energyTracking')
  const nameOf = routeNames()
  /** This middleware's end function on each response. */
  const kEnd = Symbol('cortex.express.energyEnd')
  type Tracked = Response & { [kEnd]?: EndRequest | undefined }
  const onClose = closeListener(function end(this: Tracked): void {
    const endRequest = this[kEnd]
    if (endRequest === undefined) return
    this[kEnd] = undefined
    const route = routeOf(this.req)
    endRequest(route === undefined ? UNMATCHED_ROUTE : nameOf(this.req.method, route))
  })
  return (_req, res, next) => {
    ;(res as Tracked)[kEnd] = meter.startRequest()
    onResponseClose(res, onClose)
    next()
  }
}

/**
 * Serves `meter.snapshot()` as JSON (`Cache-Control: no-store`). Refused
 * requests get 403 (address) or 401 (bearer token) with a JSON body.
 *
 * @example
 * app.get('/metrics/energy', energyHandler({ meter }))
 */
export function energyHandler({ meter, allow }: EnergyHandlerOptions): RequestHandler {
  checkMethods(meter, 'meter', ['snapshot'], 'a meter from createEnergyMeter()', 'energyHandler')
  return internalEndpoint(allow, 'energyHandler', () => ({
    contentType: 'application/json; charset=utf-8',
    body: JSON.stringify(meter.snapshot()),
  }))
}
