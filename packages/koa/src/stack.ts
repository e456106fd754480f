/**
 * The one request path every @cortex Koa middleware runs: `cortex()` wires
 * any of rate limiting, SLO tracking, energy tracking and power mode as ONE
 * middleware with ONE 'close' listener per response, and `rateLimit()`,
 * `sloTracking()`, `energyTracking()` and `powerMode()` are this same path
 * with one part each.
 *
 * The parts run in a fixed order: SLO timing and energy attribution start
 * first (so a refused request is still timed and attributed), then the rate
 * limit (a refused request never takes a concurrency slot), then the power
 * mode's slot. When the response closes (sent, or the client went away) the
 * SLO record is made, the energy attribution ends and the slot is released.
 * Nothing here awaits: while the limiter and the controller answer
 * synchronously, the middleware adds no promise of its own.
 */
import type { ServerResponse } from 'node:http'
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
import type { Context, Middleware, Next } from 'koa'
import { limiterInfo, routeOf, setRouteHint } from './request-info.js'
import { setHeader, setHeaders } from './response.js'

export interface RateLimitOptions extends RateLimitHandlerOptions<Context> {
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

/** What one stack keeps about one response: a fixed shape, one object, one property on `res`. */
class Exchange {
  /** When the request started on the SLO tracker's clock; -1 when not timed. */
  sloStart = -1
  /** Ends this request's energy attribution; undefined once ended. */
  energyEnd: EndRequest | undefined = undefined
  /** Releases this request's concurrency slot; undefined once released. */
  release: (() => void) | undefined = undefined
  constructor(readonly ctx: Context) {}
}

function isPromise<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown })?.then === 'function'
}

function checkRateLimitOptions(
  options: RateLimitOptions | undefined,
  where: string,
): RateLimitHandler<Context> {
  if (typeof options?.limiter?.handler !== 'function') {
    throw new CortexConfigError('limiter', options?.limiter, 'a limiter from createRateLimiter()', where)
  }
  return options.limiter.handler<Context>(options) // validates key, skip, cost, headers now
}

/**
 * The middleware for the given parts (at least one). `where` names the
 * public function in error messages.
 */
export function createStack(parts: CortexOptions, where: string): Middleware {
  const rate = parts.rateLimit === undefined ? undefined : checkRateLimitOptions(parts.rateLimit, where)
  const tracker = parts.slo === undefined ? undefined : parts.slo.tracker
  if (parts.slo !== undefined)
    checkMethods(tracker, 'tracker', ['record', 'now'], 'a tracker from createSloTracker()', where)
  const meter = parts.energy === undefined ? undefined : parts.energy.meter
  if (parts.energy !== undefined)
    checkMethods(meter, 'meter', ['startRequest'], 'a meter from createEnergyMeter()', where)
  const controller = parts.powerMode === undefined ? undefined : parts.powerMode.controller
  if (parts.powerMode !== undefined) {
    checkMethods(
      controller,
      'controller',
      ['acquire', 'tryAcquire', 'overloadResponse'],
      'a controller from createPowerModeController()',
      where,
    )
  }
  const header = parts.powerMode?.header ?? 'Power-Mode'
  if (header !== false && (typeof header !== 'string' || header.length === 0)) {
    throw new CortexConfigError('header', header, 'a header name, or false to send none', where)
  }
  const listens = tracker !== undefined || meter !== undefined || controller !== undefined
  const nameOf = routeNames()
  /** This stack's exchange on each response (one symbol per stack, so two stacks never mix). */
  const kExchange = Symbol('cortex.koa.exchange')
  type Carrier = ServerResponse & { [kExchange]?: Exchange }

  /** A failure in work that runs when a response closes goes to the app's 'error' event, never into the socket's event. */
  function report(x: Exchange, err: unknown): void {
    x.ctx.app.emit('error', err, x.ctx)
  }

  function onClose(this: Carrier): void {
    const x = this[kExchange]
    if (x === undefined) return
    const method = x.ctx.req.method as string
    // The route is looked up once, for the SLO record and the energy attribution alike.
    let route: string | undefined
    if (x.sloStart >= 0 && this.writableEnded && tracker !== undefined) {
      // Responses the server completed only: a client that left first did not get one.
      route = routeOf(x.ctx)
      try {
        const end = tracker.now()
        tracker.record({ method, route, statusCode: this.statusCode, durationMs: end - x.sloStart, at: end })
      } catch (err) {
        report(x, err)
      }
    }
    const energyEnd = x.energyEnd
    if (energyEnd !== undefined) {
      x.energyEnd = undefined
      if (route === undefined) route = routeOf(x.ctx)
      try {
        energyEnd(route === undefined ? UNMATCHED_ROUTE : nameOf(method, route))
      } catch (err) {
        report(x, err)
      }
    }
    const release = x.release
    if (release !== undefined) {
      x.release = undefined
      try {
        release()
      } catch (err) {
        report(x, err)
      }
    }
  }

  /** Holds the slot until the response closes (at once if the client already left while it was queued). */
  function admit(ctx: Context, next: Next, release: () => void): Promise<unknown> {
    const res = ctx.res as Carrier
    if (res.closed) release()
    else (res[kExchange] as Exchange).release = release
    const mode = (controller as PowerModeController).mode
    ctx.state.powerMode = mode
    if (header !== false) setHeader(ctx, header, mode)
    return next()
  }

  function takeSlot(ctx: Context, next: Next): unknown {
    if (controller === undefined) return next()
    // A free slot is taken synchronously; only a queued request waits on a promise.
    const release = controller.tryAcquire()
    if (release !== undefined) return admit(ctx, next, release)
    return controller.acquire().then(
      (queued) => admit(ctx, next, queued),
      (err: unknown) => {
        const plan = controller.overloadResponse(err)
        if (!plan) throw err
        ctx.status = plan.status
        ctx.set(plan.headers)
        ctx.body = plan.body
      },
    )
  }

  /** Sends the rate-limit headers; a refused request is answered here, an allowed one goes on. */
  function applyPlan(ctx: Context, next: Next, plan: RateLimitPlan): unknown {
    setHeaders(ctx, plan.headers)
    if (plan.allowed) return takeSlot(ctx, next)
    if (plan.route !== undefined) setRouteHint(ctx, plan.route)
    ctx.status = plan.status
    ctx.body = plan.body
    return undefined
  }

  return function cortexMiddleware(ctx: Context, next: Next): unknown {
    const res = ctx.res as Carrier
    if (listens) {
      // Only a stack with work at the close keeps an exchange (a rate limit alone needs none).
      const x = new Exchange(ctx)
      res[kExchange] = x
      if (tracker !== undefined) x.sloStart = tracker.now()
      if (meter !== undefined) x.energyEnd = meter.startRequest()
      // Already closed (the client left before this middleware ran): 'close' will not come again.
      if (res.closed) onClose.call(res)
      else res.on('close', onClose)
    }
    if (rate === undefined) return takeSlot(ctx, next)
    // A throw here reaches Koa as this middleware's rejection (koa-compose catches it).
    const plan = rate.handle(ctx, {
      info: limiterInfo(ctx),
      headers: ctx.req.headers,
      trustProxy: ctx.app.proxy,
    })
    if (plan === undefined) return takeSlot(ctx, next)
    if (isPromise(plan)) return plan.then((p) => applyPlan(ctx, next, p))
    return applyPlan(ctx, next, plan)
  }
}

/**
 * The whole @cortex stack as ONE Koa middleware: any of rate limiting, SLO
 * tracking, energy tracking and power mode, each configured exactly as its
 * own middleware is. It behaves like `app.use(sloTracking(slo))`,
 * `energyTracking(energy)`, `rateLimit(rateLimit)`, `powerMode(powerMode)`
 * in that order, at a fraction of the cost. Mount it before your router.
 *
 * @example
 * app.use(cortex({
 *   rateLimit: { limiter },
 *   slo: { tracker },
 *   energy: { meter },
 *   powerMode: { controller: power },
 * }))
 */
export function cortex(options: CortexOptions): Middleware {
  checkParts(options, PARTS, 'cortex')
  return createStack(options, 'cortex')
}
