/**
 * The one request path every @cortex Express middleware runs: `cortex()`
 * wires any of rate limiting, SLO tracking, energy tracking and power mode
 * as ONE middleware with ONE 'close' listener per response, and
 * `rateLimit()`, `sloTracking()`, `energyTracking()` and `powerMode()` are
 * this same path with one part each.
 *
 * Why one middleware: inside Express every extra middleware, listener and
 * per-response property costs several microseconds (Express's own request
 * already costs over 100 µs on a small VM), so the whole stack in one pass
 * costs about what one of its parts costs on its own.
 *
 * The parts run in a fixed order: SLO timing and energy attribution start
 * first (so a refused request is still timed and attributed), then the rate
 * limit (a refused request never takes a concurrency slot), then the power
 * mode's slot. When the response closes (sent, or the client went away) the
 * SLO record is made, the energy attribution ends and the slot is released.
 */
import { CortexConfigError, checkMethods, checkParts, routeNames, UNMATCHED_ROUTE } from '@cortex/core'
import type { EndRequest, EnergyMeter } from '@cortex/energy'
import type { PowerModeController } from '@cortex/low-power'
import type { SloTracker } from '@cortex/slo'
import type {
  RateLimiter,
  RateLimitHandler,
  RateLimitHandlerOptions,
  RateLimitPlan,
} from '@cortex/token-bucket'
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { limiterInfo, routeOf, setRouteHint } from './request-info.js'
import { installRequestSlots } from './request-slots.js'

declare global {
  namespace Express {
    interface Request {
      /** The power mode this request was admitted under (set by @cortex/express `powerMode` or `cortex`). */
      powerMode?: string
    }
  }
}

export interface RateLimitOptions extends RateLimitHandlerOptions<Request> {
  /** The limiter from `createRateLimiter` (policies, store, failure policy). */
  limiter: RateLimiter
}

export interface SloTrackingOptions {
  tracker: Pick<SloTracker, 'record' | 'now'>
}

export interface EnergyTrackingOptions {
  meter: Pick<EnergyMeter, 'startRequest'>
}

export interface PowerModeOptions {
  controller: PowerModeController
  /** Response header naming the mode; `false` to send none. Default `Power-Mode`. */
  header?: string | false
}

/** The parts of `cortex()`: each is the options of the middleware of the same concern. */
export interface CortexOptions {
  /** Rate limiting: `rateLimit`'s options (`{ limiter, key?, skip?, cost?, headers? }`). */
  rateLimit?: RateLimitOptions
  /** SLO tracking: `sloTracking`'s options (`{ tracker }`). */
  slo?: SloTrackingOptions
  /** Energy attribution: `energyTracking`'s options (`{ meter }`). */
  energy?: EnergyTrackingOptions
  /** Power mode: `powerMode`'s options (`{ controller, header? }`). */
  powerMode?: PowerModeOptions
}

const PARTS = ['rateLimit', 'slo', 'energy', 'powerMode'] as const

/**
 * What one stack keeps about one exchange: a fixed shape, one object, held by
 * the response's 'close' listener. No property is added to `req` or `res`:
 * in Express each one costs one to two microseconds per request (Express has
 * already swapped their prototypes and added dozens of its own properties),
 * more than the rest of a part's work (see `request-slots.ts`).
 */
class Exchange {
  constructor(
    readonly req: Request,
    readonly res: Response,
  ) {}

  /** When the request started on the SLO tracker's clock; -1 when not timed. */
  sloStart = -1
  /** Ends this request's energy attribution; undefined once ended. */
  energyEnd: EndRequest | undefined = undefined
  /** Releases this request's concurrency slot; undefined once released. */
  release: (() => void) | undefined = undefined
}

function isPromise<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown })?.then === 'function'
}

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

function checkRateLimitOptions(
  options: RateLimitOptions | undefined,
  where: string,
): RateLimitHandler<Request> {
  if (typeof options?.limiter?.handler !== 'function') {
    throw new CortexConfigError('limiter', options?.limiter, 'a limiter from createRateLimiter()', where)
  }
  return options.limiter.handler<Request>(options) // validates key, skip, cost, headers now
}

function checkTracker(tracker: unknown, where: string): void {
  checkMethods(tracker, 'tracker', ['record', 'now'], 'a tracker from createSloTracker()', where)
}

function checkMeter(meter: unknown, where: string): void {
  checkMethods(meter, 'meter', ['startRequest'], 'a meter from createEnergyMeter()', where)
}

function checkController(controller: unknown, where: string): void {
  checkMethods(
    controller,
    'controller',
    ['acquire', 'tryAcquire', 'overloadResponse'],
    'a controller from createPowerModeController()',
    where,
  )
}

/**
 * The middleware for the given parts (at least one). `where` names the
 * public function in error messages.
 */
export function createStack(parts: CortexOptions, where: string): RequestHandler {
  const rate = parts.rateLimit === undefined ? undefined : checkRateLimitOptions(parts.rateLimit, where)
  const tracker = parts.slo === undefined ? undefined : parts.slo.tracker
  if (parts.slo !== undefined) checkTracker(tracker, where)
  const meter = parts.energy === undefined ? undefined : parts.energy.meter
  if (parts.energy !== undefined) checkMeter(meter, where)
  const controller = parts.powerMode === undefined ? undefined : parts.powerMode.controller
  if (parts.powerMode !== undefined) checkController(controller, where)
  const header = parts.powerMode?.header ?? 'Power-Mode'
  if (header !== false && (typeof header !== 'string' || header.length === 0)) {
    throw new CortexConfigError('header', header, 'a header name, or false to send none', where)
  }
  const listens = tracker !== undefined || meter !== undefined || controller !== undefined
  const nameOf = routeNames()
  /** Runs once when the exchange's response closes (sent, or the client went away). */
  function onClose(x: Exchange): void {
    const { req, res } = x
    // The route is looked up once, for the SLO record and the energy attribution alike.
    let route: string | undefined
    if (x.sloStart >= 0 && res.writableEnded && tracker !== undefined) {
      // Responses the server completed only: a client that left first did not get one.
      route = routeOf(req)
      try {
        const end = tracker.now()
        tracker.record({
          method: req.method,
          route,
          statusCode: res.statusCode,
          durationMs: end - x.sloStart,
          at: end,
        })
      } catch (err) {
        warnCloseFailure(err)
      }
    }
    const energyEnd = x.energyEnd
    if (energyEnd !== undefined) {
      x.energyEnd = undefined
      if (route === undefined) route = routeOf(req)
      try {
        energyEnd(route === undefined ? UNMATCHED_ROUTE : nameOf(req.method, route))
      } catch (err) {
        warnCloseFailure(err)
      }
    }
    const release = x.release
    if (release !== undefined) {
      x.release = undefined
      try {
        release()
      } catch (err) {
        warnCloseFailure(err)
      }
    }
  }

  /** Holds the slot until the response closes (at once if the client already left while it was queued). */
  function admit(req: Request, res: Response, next: NextFunction, x: Exchange, release: () => void): void {
    if (res.closed) release()
    else x.release = release
    const mode = (controller as PowerModeController).mode
    req.powerMode = mode
    if (header !== false) res.setHeader(header, mode)
    next()
  }

  function takeSlot(req: Request, res: Response, next: NextFunction, x: Exchange | undefined): void {
    if (controller === undefined) {
      next()
      return
    }
    // A free slot is taken synchronously; only a queued request waits on a promise.
    const release = controller.tryAcquire()
    if (release !== undefined) {
      admit(req, res, next, x as Exchange, release)
      return
    }
    controller.acquire().then(
      (queued) => admit(req, res, next, x as Exchange, queued),
      (err: unknown) => {
        const plan = controller.overloadResponse(err)
        if (!plan) return next(err)
        res.status(plan.status).set(plan.headers).json(plan.body)
      },
    )
  }

  /** Sends the rate-limit headers; a refused request is answered here, an allowed one goes on. */
  function applyPlan(
    req: Request,
    res: Response,
    next: NextFunction,
    x: Exchange | undefined,
    plan: RateLimitPlan,
  ): void {
    const headers = plan.headers
    for (const name in headers) res.setHeader(name, headers[name] as string)
    if (plan.allowed) {
      takeSlot(req, res, next, x)
      return
    }
    if (plan.route !== undefined) setRouteHint(req, plan.route)
    res.status(plan.status).json(plan.body)
  }

  const slots = rate !== undefined || controller !== undefined
  return function cortexMiddleware(req: Request, res: Response, next: NextFunction): void {
    // `req.powerMode` and the rate-limit decisions, without a property added to `req`.
    if (slots) installRequestSlots(req)
    // Only a stack with work at the close keeps an exchange (a rate limit alone needs none).
    let x: Exchange | undefined
    if (listens) {
      const exchange = new Exchange(req, res)
      x = exchange
      if (tracker !== undefined) exchange.sloStart = tracker.now()
      if (meter !== undefined) exchange.energyEnd = meter.startRequest()
      // Already closed (the client left before this middleware ran): 'close' will not come again.
      // One small closure per request: far cheaper here than a property on `res`.
      if (res.closed) onClose(exchange)
      else res.on('close', () => onClose(exchange))
    }
    if (rate === undefined) {
      takeSlot(req, res, next, x)
      return
    }
    let plan: ReturnType<typeof rate.handle>
    try {
      plan = rate.handle(req, { info: limiterInfo(req), headers: req.headers, trustProxy: trustsProxy(req) })
    } catch (err) {
      next(err)
      return
    }
    if (plan === undefined) takeSlot(req, res, next, x)
    else if (isPromise(plan)) plan.then((p) => applyPlan(req, res, next, x, p), next)
    else applyPlan(req, res, next, x, plan)
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
  checkParts(options, PARTS, 'cortex')
  return createStack(options, 'cortex')
}
