/**
 * The one request path every @cortex Express middleware runs: `cortex()`
 * wires any of rate limiting, SLO tracking, energy tracking and power mode
 * as ONE middleware with ONE 'close' listener per response, and
 * `rateLimit()`, `sloTracking()`, `energyTracking()` and `powerMode()` are
 * this same path with one part each.
 *
 * Why one middleware: inside Express every extra middleware, listener and
 * per-response property costs about as much as a part's own work (Express has
 * already swapped the request's prototypes and added dozens of properties),
 * so the whole stack in one pass costs about what one of its parts costs on
 * its own.
 *
 * The parts run in a fixed order: SLO timing and energy attribution start
 * first (so a refused request is still timed and attributed), then the rate
 * limit (a refused request never takes a concurrency slot), then the power
 * mode's slot. When the response closes (sent, or the client went away) the
 * SLO record is made, the energy attribution ends and the slot is released.
 */
import {
  checkCortexOptions,
  checkPartsOptions,
  createPipeline,
  type EnergyTrackingOptions,
  type ExchangePort,
  type CortexOptions as GenericCortexOptions,
  type RateLimitOptions as GenericRateLimitOptions,
  type Parts,
  type PowerModeOptions,
  type QuotaAccess,
  quotaAccess,
  type SloTrackingOptions,
} from '@cortex/exchange'
import type { Cost, MaybePromise, RateLimitDecision } from '@cortex/token-bucket'
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { limiterInfo, routeOf, setRouteHint } from './request-info.js'
import { decisionsOf, installRequestSlots, keepDecisions } from './request-slots.js'

declare global {
  namespace Express {
    interface Request {
      /** The power mode this request was admitted under (set by @cortex/express `powerMode` or `cortex`). */
      powerMode?: string
    }
  }
}

/** `rateLimit`'s options: `{ limiter, key?, skip?, cost?, headers? }`, the key/skip/cost functions taking Express's `req`. */
export type RateLimitOptions = GenericRateLimitOptions<Request>
/** The parts of `cortex()`: each is the options of the middleware of the same concern. */
export type CortexOptions = GenericCortexOptions<Request>
export type { EnergyTrackingOptions, PowerModeOptions, SloTrackingOptions }

/** Express's `trust proxy` setting: anything but false/0/unset trusts some proxy. */
function trustsProxy(req: Request): boolean {
  return Boolean(req.app?.get('trust proxy'))
}

/** A failure in work that runs when a response closes becomes a process warning, never an exception in the socket's event. */
function warnCloseFailure(err: unknown): void {
  process.emitWarning(`@cortex/express: a response-close step failed: ${(err as Error)?.message ?? err}`, {
    code: 'ERR_CORTEX_CLOSE_LISTENER',
    detail: (err as Error)?.stack,
  })
}

const resOf = (req: Request) => req.res as Response

/**
 * Express's side of the exchange pipeline. The pipeline's state lives in the
 * 'close' listener's closure: no property is added to `req` or `res` (Express
 * has already swapped their prototypes and added dozens of its own
 * properties, so each further one is a costly shape change per request).
 */
const port: ExchangePort<Request> = {
  // Express routes after the middleware: the limiter matches its policies on the path the router
  // will route on (`pathOf`), before routing.
  limiterInput: (req) => ({ info: limiterInfo(req), headers: req.headers, trustProxy: trustsProxy(req) }),
  method: (req) => req.method,
  route: routeOf,
  statusCode: (req) => resOf(req).statusCode,
  completed: (req) => resOf(req).writableEnded,
  closed: (req) => resOf(req).closed,
  // One small closure per request: far cheaper here than a property on `res`.
  watchEnd: (req, x, end) => void resOf(req).on('close', () => end(x)),
  setHeader: (req, name, value) => void resOf(req).setHeader(name, value),
  reply: (req, status, headers, body) => {
    const res = resOf(req)
    if (headers !== undefined) res.set(headers)
    res.status(status).json(body)
  },
  setPowerMode: (req, mode) => {
    req.powerMode = mode
  },
  setRouteHint,
  decisions: decisionsOf,
  keepDecisions,
  report: (_req, err) => warnCloseFailure(err),
}

/**
 * The current request's quota: `rateLimitDecisions(req)` lists the rate
 * limits' decisions; `settleRateLimit(req, { tokens })` charges the actual
 * cost of a list policy's reservation once it is known.
 *
 * @example
 * app.post('/agents/plan', async (req, res) => {
 *   const plan = await generate(req.body)
 *   settleRateLimit(req, { tokens: plan.usage.totalTokens })
 *   res.json(plan)
 * })
 */
const quota: QuotaAccess<Request> = quotaAccess<Request>(decisionsOf)
export const rateLimitDecisions: (req: Request) => readonly RateLimitDecision[] = quota.rateLimitDecisions
export const settleRateLimit: (req: Request, actual: Cost) => MaybePromise<void> = quota.settleRateLimit

function isPromise(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown })?.then === 'function'
}

/**
 * The middleware for the given parts (at least one). `where` names the
 * public function in error messages.
 */
export function createStack(options: CortexOptions, where: string): RequestHandler {
  return middleware(checkPartsOptions<Request>(options, where))
}

function middleware(parts: Parts<Request>): RequestHandler {
  const pipeline = createPipeline(parts, port)
  // `req.powerMode` and the rate-limit decisions, without a property added to `req`.
  const slots = parts.rate !== undefined || parts.controller !== undefined
  return function cortexMiddleware(req: Request, res: Response, next: NextFunction): void {
    // Express links `req.res`; a request it did not initialise gets the link here.
    if (req.res === undefined) req.res = res
    if (slots) installRequestSlots(req)
    let result: unknown
    try {
      result = pipeline.run(req, next)
    } catch (err) {
      next(err)
      return
    }
    if (isPromise(result)) result.then(undefined, next)
  }
}

/**
 * The whole @cortex stack as ONE Express middleware: any of rate limiting,
 * SLO tracking, energy tracking and power mode, each configured exactly as
 * its own middleware is. It behaves like `app.use(sloTracking(slo),
 * energyTracking(energy), rateLimit(rateLimit), powerMode(powerMode))`, at
 * a fraction of the cost. Mount it before your routes.
 *
 * @example
 * app.use(cortex({
 *   rateLimit: { limiter },
 *   slo: { tracker },
 *   energy: { meter },
 *   powerMode: { controller: power },
 * }))
 */
export function cortex(options: CortexOptions): RequestHandler {
  return middleware(checkCortexOptions<Request>(options, 'cortex'))
}
