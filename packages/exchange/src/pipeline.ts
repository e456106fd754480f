/**
 * The one request path every @cortex adapter runs, written once and knowing
 * no framework. A request's journey, in the order it happens:
 *
 *  1. SLO timing and energy attribution start (so a refused request is still
 *     timed and attributed), and the response's end is watched;
 *  2. the rate limit decides: its headers are set; a refused request is
 *     answered 429 here (with the route the refusing policy proves, so the
 *     figures keep it under its endpoint) and goes no further;
 *  3. the power mode's concurrency slot is taken (at once when free, after a
 *     wait in the bounded queue otherwise, or 503 when the queue is full);
 *     the mode is handed to the handler and sent as a header;
 *  4. the request proceeds to the framework's handler;
 *  5. when the response ends (sent, or the client went away): the SLO
 *     record is made for a response the server completed, the energy
 *     attribution ends under `METHOD /route` (`METHOD __unmatched__`
 *     without a route, as the SLO tracker names it) with the status sent
 *     (none when the client left first), a failed response gives back what
 *     its quota reservations held beyond the request itself (tokens the
 *     generation never used), and the slot is released. Each of these runs at most once and
 *     never throws into the framework's event: a failure goes to `report`.
 *
 * The adapter implements {@link ExchangePort} — request facts, set a header,
 * send a refusal, watch the end — and nothing else. The decisions and the
 * exchange state live on the {@link Exchange}, never on the framework's
 * objects. Nothing here awaits: while the limiter and the controller answer
 * synchronously, a request costs no promise.
 */
import { routeNames, UNMATCHED_ROUTE } from '@cortex/core'
import type { EndRequest } from '@cortex/energy'
import type { RateLimitDecision, RateLimitHandlerInput, RateLimitPlan } from '@cortex/token-bucket'
import type { Parts } from './options.js'
import { learnSettle } from './quota.js'

/** What an adapter tells the pipeline about its framework, for one request `Req`. */
export interface ExchangePort<Req> {
  /** The limiter's input: request facts, headers, the framework's trust-proxy setting, and whether it has routed. */
  limiterInput(req: Req): RateLimitHandlerInput
  /** The request method, as the framework gives it. */
  method(req: Req): string
  /** The route template the framework matched, read when the response ends; undefined for none. */
  route(req: Req): string | undefined
  /** The status code sent. */
  statusCode(req: Req): number
  /** True when the server completed the response (not a client that left first). */
  completed(req: Req): boolean
  /** True when the response has already closed (the client left). */
  closed(req: Req): boolean
  /**
   * Calls `end(x)` once when the response ends (sent, or the client went
   * away). When it has already ended, the pipeline calls `end` itself.
   */
  watchEnd(req: Req, x: Exchange<Req>, end: (x: Exchange<Req>) => void): void
  /** Sets a response header. */
  setHeader(req: Req, name: string, value: string): void
  /** Answers the request here (429 or 503) with a JSON body. */
  reply(req: Req, status: number, headers: Readonly<Record<string, string>> | undefined, body: unknown): void
  /** Hands the power mode to the handler (`req.powerMode`, `ctx.state.powerMode`, …). */
  setPowerMode(req: Req, mode: string): void
  /** Remembers the route an exact policy proved, for `route()` when the framework never routed the request. */
  setRouteHint(req: Req, route: string): void
  /**
   * The rate-limit decisions kept for this request by earlier rate limits
   * (see `keepDecisions`), or undefined.
   */
  decisions(req: Req): readonly RateLimitDecision[] | undefined
  /**
   * Keeps the request's rate-limit decisions where the framework keeps
   * per-request values (`res.locals`, `ctx.state`, `c.set` …), for the
   * handler (`rateLimitDecisions`, `settleRateLimit`) and later rate limits.
   */
  keepDecisions(req: Req, decisions: readonly RateLimitDecision[]): void
  /** A failure in work done at the response's end: never thrown into the framework's event. */
  report(req: Req, err: unknown): void
}

/** What the pipeline keeps about one request: a fixed shape, one object. */
export class Exchange<Req> {
  /** When the request started on the SLO tracker's clock; -1 when not timed. */
  sloStart = -1
  /** Ends this request's energy attribution; undefined once ended. */
  energyEnd: EndRequest | undefined = undefined
  /** Releases this request's concurrency slot; undefined once released. */
  release: (() => void) | undefined = undefined
  /** The rate-limit decisions whose reservations the response's end settles; undefined when none. */
  decisions: readonly RateLimitDecision[] | undefined = undefined
  constructor(readonly req: Req) {}
}

export interface Pipeline<Req> {
  /**
   * Runs the parts for one request and calls `proceed` when it goes on to
   * the handler. Returns what `proceed` returned (or a promise of it), or
   * undefined when the request was answered here. A limiter or controller
   * failure is thrown (or rejects): the adapter hands it to its framework.
   */
  run<T>(req: Req, proceed: () => T): T | Promise<T | undefined> | undefined
  /** True when the pipeline keeps an exchange per request (it has work at the response's end). */
  readonly watchesEnd: boolean
}

function isPromise<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown })?.then === 'function'
}

/**
 * The pipeline for validated parts (see `checkPartsOptions`) over an adapter's port.
 *
 * @example
 * const pipeline = createPipeline(checkCortexOptions(options, 'cortex'), port)
 * return (req, res, next) => pipeline.run(req, next)
 */
export function createPipeline<Req>(parts: Parts<Req>, port: ExchangePort<Req>): Pipeline<Req> {
  const { rate, tracker, meter, controller, header } = parts
  const settles = rate?.settles === true
  if (rate !== undefined) learnSettle(rate.settle)
  const watchesEnd = tracker !== undefined || meter !== undefined || controller !== undefined || settles
  const nameOf = routeNames()

  function end(x: Exchange<Req>): void {
    const req = x.req
    // The route is looked up once, for the SLO record and the energy attribution alike.
    let route: string | undefined
    let looked = false
    const start = x.sloStart
    if (start >= 0 && tracker !== undefined) {
      x.sloStart = -1
      // Responses the server completed only: a client that left first did not get one.
      if (port.completed(req)) {
        route = port.route(req)
        looked = true
        try {
          const at = tracker.now()
          tracker.record({
            method: port.method(req),
            route,
            statusCode: port.statusCode(req),
            durationMs: at - start,
            at,
          })
        } catch (err) {
          port.report(req, err)
        }
      }
    }
    const energyEnd = x.energyEnd
    if (energyEnd !== undefined) {
      x.energyEnd = undefined
      if (!looked) route = port.route(req)
      try {
        // The outcome separates admitted work from refusals; a client that left got no status.
        const status = port.completed(req) ? port.statusCode(req) : undefined
        energyEnd(nameOf(port.method(req), route ?? UNMATCHED_ROUTE), undefined, status)
      } catch (err) {
        port.report(req, err)
      }
    }
    const decisions = x.decisions
    if (decisions !== undefined && rate !== undefined) {
      x.decisions = undefined
      try {
        // A failed response (or a client that left) gives back what it reserved beyond the request itself.
        rate.finish(decisions, !port.completed(req) || port.statusCode(req) >= 400)
      } catch (err) {
        port.report(req, err)
      }
    }
    const release = x.release
    if (release !== undefined) {
      x.release = undefined
      try {
        release()
      } catch (err) {
        port.report(req, err)
      }
    }
  }

  /** Holds the slot until the response ends (at once if the client already left while it was queued). */
  function admit<T>(req: Req, x: Exchange<Req> | undefined, release: () => void, proceed: () => T): T {
    if (x === undefined || port.closed(req)) release()
    else x.release = release
    const mode = (controller as NonNullable<typeof controller>).mode
    port.setPowerMode(req, mode)
    if (header !== false) port.setHeader(req, header, mode)
    return proceed()
  }

  function takeSlot<T>(req: Req, x: Exchange<Req> | undefined, proceed: () => T): T | Promise<T | undefined> {
    if (controller === undefined) return proceed()
    // A free slot is taken synchronously; only a queued request waits on a promise.
    const release = controller.tryAcquire()
    if (release !== undefined) return admit(req, x, release, proceed)
    return controller.acquire().then(
      (queued) => admit(req, x, queued, proceed),
      (err: unknown) => {
        const plan = controller.overloadResponse(err)
        if (!plan) throw err
        port.reply(req, plan.status, plan.headers, plan.body)
        return undefined
      },
    )
  }

  /** Sends the rate-limit headers; a refused request is answered here, an allowed one goes on. */
  function applyPlan<T>(
    req: Req,
    x: Exchange<Req> | undefined,
    plan: RateLimitPlan,
    proceed: () => T,
  ): T | Promise<T | undefined> | undefined {
    const headers = plan.headers
    for (const name in headers) port.setHeader(req, name, headers[name] as string)
    port.keepDecisions(req, plan.decisions)
    if (settles && x !== undefined) x.decisions = plan.decisions
    // The route an exact policy proves, for a request the framework never routes (refused here, or
    // a body its parser refused): its figures stay under its endpoint, as in a framework that routes first.
    if (plan.route !== undefined) port.setRouteHint(req, plan.route)
    if (plan.allowed) return takeSlot(req, x, proceed)
    port.reply(req, plan.status, undefined, plan.body)
    return undefined
  }

  function run<T>(req: Req, proceed: () => T): T | Promise<T | undefined> | undefined {
    let x: Exchange<Req> | undefined
    if (watchesEnd) {
      // Only a pipeline with work at the end keeps an exchange (a rate limit alone needs none).
      x = new Exchange(req)
      if (tracker !== undefined) x.sloStart = tracker.now()
      if (meter !== undefined) x.energyEnd = meter.startRequest()
      // Already closed (the client left before the pipeline ran): the end will not come again.
      if (port.closed(req)) end(x)
      else port.watchEnd(req, x, end)
    }
    if (rate === undefined) return takeSlot(req, x, proceed)
    const plan = rate.handle(req, port.limiterInput(req), port.decisions(req))
    if (plan === undefined) return takeSlot(req, x, proceed)
    if (isPromise(plan)) return plan.then((p) => applyPlan(req, x, p, proceed))
    return applyPlan(req, x, plan, proceed)
  }

  return { run, watchesEnd }
}
