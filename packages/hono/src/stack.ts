/**
 * The one request path every @cortex Hono middleware runs: `cortex()` wires
 * any of rate limiting, SLO tracking, energy tracking and power mode as ONE
 * middleware, and `rateLimit()`, `sloTracking()`, `energyTracking()` and
 * `powerMode()` are this same path with one part each.
 *
 * The parts run in a fixed order: SLO timing and energy attribution start
 * first (so a refused request is still timed and attributed), then the rate
 * limit (a refused request never takes a concurrency slot), then the power
 * mode's slot. Hono has routed the request before any middleware runs, so
 * the limiter chooses its policy on the matched route template, never on the
 * client's spelling of the URL, and a request that matches no route gets
 * only the default policy.
 *
 * When the exchange ends, the SLO record is made, the energy attribution
 * ends and the slot is released. Where that is depends on the runtime:
 * - Node (@hono/node-server): the Node response's 'close' event, once the
 *   response is sent or the client went away (then nothing is recorded);
 * - Deno (`Deno.serve(app.fetch)`): `info.completed`, which settles once the
 *   response is sent (rejects when it was not);
 * - elsewhere (Bun, workers, `app.request`): when the handlers have produced
 *   the Response, since those runtimes tell nothing more about the socket;
 *   a request whose signal was aborted by then (Bun: the client left) is
 *   not recorded.
 */
import type { ServerResponse } from 'node:http'
import { CortexConfigError, checkMethods, checkParts, routeNames, UNMATCHED_ROUTE } from '@cortex/core'
import type { EndRequest, EnergyMeter } from '@cortex/energy'
import type { PowerModeController } from '@cortex/low-power'
import type { SloTracker } from '@cortex/slo'
import type { RateLimiter, RateLimitHandler, RateLimitHandlerOptions } from '@cortex/token-bucket'
import type { Context, MiddlewareHandler, Next } from 'hono'
import { addressOf, type ClientAddress, headerRecord, matchedRoute, UNKNOWN_ROUTE } from './request-info.js'

export interface RateLimitOptions extends RateLimitHandlerOptions<Context> {
  /** The limiter from `createRateLimiter` (policies, store, failure policy). */
  limiter: RateLimiter
  /**
   * The client address the limiter keys on. Default: the runtime's peer
   * address (Node, Bun and Deno; see `runtimeClientAddress`). Hono has no
   * trust-proxy setting: read a forwarding header here only for a proxy you run.
   */
  clientAddress?: ClientAddress
  /**
   * Set `true` when `clientAddress` reads a forwarding header: it stands for
   * a framework's trust-proxy setting and silences the limiter's warning
   * about forwarding headers arriving untrusted. Default `false`.
   */
  trustProxy?: boolean
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
  /** Rate limiting: `rateLimit`'s options (`{ limiter, key?, skip?, cost?, headers?, clientAddress?, trustProxy? }`). */
  rateLimit?: RateLimitOptions
  /** SLO tracking: `sloTracking`'s options (`{ tracker }`). */
  slo?: SloTrackingOptions
  /** Energy attribution: `energyTracking`'s options (`{ meter }`). */
  energy?: EnergyTrackingOptions
  /** Power mode: `powerMode`'s options (`{ controller, header? }`). */
  powerMode?: PowerModeOptions
}

/** The context variable `powerMode` sets: `c.get('powerMode')`, the current mode's name. */
export interface PowerModeVariables {
  powerMode: string
}

const PARTS = ['rateLimit', 'slo', 'energy', 'powerMode'] as const

/** What one stack keeps about one request until its exchange ends. */
class Exchange {
  /** When the request started on the SLO tracker's clock; -1 when not timed. */
  sloStart = -1
  /** Ends this request's energy attribution; undefined once ended. */
  energyEnd: EndRequest | undefined = undefined
  /** Releases this request's concurrency slot; undefined once released. */
  release: (() => void) | undefined = undefined
  /** The Node response, when the request came through @hono/node-server. */
  node: ServerResponse | undefined = undefined
  constructor(
    readonly method: string,
    readonly route: string | undefined,
  ) {}
}

function isPromise<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as { then?: unknown })?.then === 'function'
}

function checkRateLimitOptions(
  options: RateLimitOptions | undefined,
  where: string,
): { handler: RateLimitHandler<Context>; clientAddress: ClientAddress | undefined; trustProxy: boolean } {
  if (typeof options?.limiter?.handler !== 'function') {
    throw new CortexConfigError('limiter', options?.limiter, 'a limiter from createRateLimiter()', where)
  }
  const { clientAddress, trustProxy, ...handlerOptions } = options
  if (clientAddress !== undefined && typeof clientAddress !== 'function') {
    throw new CortexConfigError('clientAddress', clientAddress, 'a function (c) => string | undefined', where)
  }
  if (trustProxy !== undefined && typeof trustProxy !== 'boolean') {
    throw new CortexConfigError('trustProxy', trustProxy, 'true or false', where)
  }
  return {
    handler: options.limiter.handler<Context>(handlerOptions), // validates key, skip, cost, headers now
    clientAddress,
    trustProxy: trustProxy === true,
  }
}

/**
 * Whether the client went away before the Response was produced, where the
 * runtime aborts the request's signal for that (Bun does). Not asked on Deno,
 * which warns when `request.signal` is read and has `info.completed` instead.
 */
function clientLeft(c: Context): boolean {
  try {
    return c.req.raw.signal?.aborted === true
  } catch {
    return false
  }
}

/** The Node response behind a request served by @hono/node-server, if any. */
function nodeResponse(c: Context): ServerResponse | undefined {
  const env = c.env as { outgoing?: ServerResponse; server?: { outgoing?: ServerResponse } } | undefined
  if (typeof env !== 'object' || env === null) return undefined
  const outgoing = env.outgoing ?? env.server?.outgoing
  return typeof outgoing?.on === 'function' ? outgoing : undefined
}

/** Deno's `info.completed`: settles once the response is sent, rejects when it was not. */
function completion(c: Context): PromiseLike<unknown> | undefined {
  const env = c.env as { completed?: unknown } | undefined
  const completed = typeof env === 'object' && env !== null ? env.completed : undefined
  return isPromise(completed) ? completed : undefined
}

/**
 * Sets headers for the response to come. On Node they go on the Node
 * response itself, which @hono/node-server's `writeHead` merges with the
 * Response's own, whatever the handler returns; a `Headers` object per
 * request would also take Hono off its fast path for plain responses.
 * Elsewhere Hono applies them to what `c.json`, `c.text`, `c.body`, the 404
 * and the error handler build (see `keepHeaders` for the rest).
 */
function setHeaders(
  c: Context,
  node: ServerResponse | undefined,
  headers: Readonly<Record<string, string>>,
): void {
  if (node === undefined) {
    for (const name in headers) c.header(name, headers[name] as string)
  } else if (!node.headersSent) {
    for (const name in headers) node.setHeader(name, headers[name] as string)
  }
}

/**
 * Makes sure the final response carries `headers`: a handler that returned
 * its own `Response` (or `fetch()`'s, with immutable headers) skipped the
 * prepared ones. Left alone when the first one is there: an inner stack has
 * already written them (with every limiter's decisions combined).
 */
function keepHeaders(c: Context, headers: Readonly<Record<string, string>>): void {
  let first: string | undefined
  for (first in headers) break
  if (first === undefined) return
  let res = c.res
  if (res.headers.has(first)) return
  try {
    for (const name in headers) res.headers.set(name, headers[name] as string)
  } catch {
    c.res = new Response(res.body, res)
    res = c.res
    for (const name in headers) res.headers.set(name, headers[name] as string)
  }
}

/**
 * The middleware for the given parts (at least one). `where` names the
 * public function in error messages.
 */
export function createStack(parts: CortexOptions, where: string): MiddlewareHandler {
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
  /** This stack's exchange on each Node response (one symbol per stack, so two stacks never mix). */
  const kExchange = Symbol('cortex.hono.exchange')
  type Carrier = ServerResponse & { [kExchange]?: Exchange }
  const reportFailure = failureReporter(where)

  /** Ends the exchange once: records a completed response, ends the attribution, frees the slot. */
  function finish(x: Exchange, completed: boolean, status: number): void {
    const start = x.sloStart
    x.sloStart = -1
    if (start >= 0 && completed && tracker !== undefined) {
      try {
        const end = tracker.now()
        tracker.record({
          method: x.method,
          route: x.route,
          statusCode: status,
          durationMs: end - start,
          at: end,
        })
      } catch (err) {
        reportFailure(err)
      }
    }
    const energyEnd = x.energyEnd
    if (energyEnd !== undefined) {
      x.energyEnd = undefined
      try {
        energyEnd(x.route === undefined ? UNMATCHED_ROUTE : nameOf(x.method, x.route))
      } catch (err) {
        reportFailure(err)
      }
    }
    const release = x.release
    if (release !== undefined) {
      x.release = undefined
      try {
        release()
      } catch (err) {
        reportFailure(err)
      }
    }
  }

  /** One listener for every Node response: no closure per request. */
  function onClose(this: Carrier): void {
    const x = this[kExchange]
    if (x !== undefined) finish(x, this.writableEnded, this.statusCode)
  }

  /** Ends an exchange the runtime reports no socket event for, once its Response exists. */
  function endWithResponse(c: Context, x: Exchange, answer: Response | undefined, failed: boolean): void {
    const status = failed ? 500 : (answer ?? c.res).status
    const sent = completion(c)
    if (sent === undefined) finish(x, !clientLeft(c), status)
    else
      sent.then(
        () => finish(x, true, status),
        () => finish(x, false, status),
      )
  }

  return async function cortexMiddleware(c: Context, next: Next): Promise<Response | undefined> {
    const matched = matchedRoute(c)
    // Hono tells the matched routes in every 4.x; were it ever not to, the limiter falls back to
    // the path Hono routed on (`c.req.path`, decoded as the router decodes it).
    const routed = matched !== UNKNOWN_ROUTE
    const route = routed ? matched : undefined
    const node = nodeResponse(c) as Carrier | undefined
    let x: Exchange | undefined
    if (listens) {
      x = new Exchange(c.req.method, route)
      if (tracker !== undefined) x.sloStart = tracker.now()
      if (meter !== undefined) x.energyEnd = meter.startRequest()
      if (node !== undefined) {
        x.node = node
        node[kExchange] = x
        // Already closed (the client left before this middleware ran): 'close' will not come again.
        if (node.closed) onClose.call(node)
        else node.on('close', onClose)
      }
    }
    let failed = false
    /** The answer this middleware gives itself (429, 503); otherwise the handlers' `c.res`. */
    let answer: Response | undefined
    try {
      let rateHeaders: Record<string, string> | undefined
      if (rate !== undefined) {
        const decided = rate.handler.handle(c, {
          info: {
            method: c.req.method,
            path: c.req.path,
            route,
            clientAddress: addressOf(c, rate.clientAddress),
          },
          headers: headerRecord(c),
          trustProxy: rate.trustProxy,
          routed,
        })
        const plan = decided !== undefined && isPromise(decided) ? await decided : decided
        if (plan !== undefined) {
          setHeaders(c, node, plan.headers)
          if (!plan.allowed) {
            answer = c.json(plan.body, plan.status)
            return answer
          }
          rateHeaders = plan.headers
        }
      }
      let mode: string | undefined
      if (controller !== undefined) {
        // A free slot is taken synchronously; only a queued request waits on a promise.
        let release = controller.tryAcquire()
        if (release === undefined) {
          try {
            release = await controller.acquire()
          } catch (err) {
            const plan = controller.overloadResponse(err)
            if (!plan) throw err
            setHeaders(c, node, plan.headers)
            answer = c.json(plan.body, plan.status)
            return answer
          }
        }
        // The client left while the request was queued: the slot goes back at once.
        if (node?.closed === true) release()
        else (x as Exchange).release = release
        mode = controller.mode
        c.set('powerMode', mode)
        if (header !== false) {
          if (node === undefined) c.header(header, mode)
          else if (!node.headersSent) node.setHeader(header, mode)
        }
      }
      await next()
      if (node === undefined) {
        if (rateHeaders !== undefined) keepHeaders(c, rateHeaders)
        if (mode !== undefined && header !== false) keepHeaders(c, { [header]: mode })
      }
      return undefined
    } catch (err) {
      failed = true
      throw err
    } finally {
      if (x !== undefined && x.node === undefined) endWithResponse(c, x, answer, failed)
    }
  }
}

/**
 * Where a failure in the work that ends an exchange goes (say, a custom
 * tracker that throws): never into the request. Hono has no error event for
 * work after the response, so it is logged, at most once a minute per stack.
 */
function failureReporter(where: string): (err: unknown) => void {
  let last = Number.NEGATIVE_INFINITY
  let skipped = 0
  return (err) => {
    const now = Date.now()
    if (now - last < 60_000) {
      skipped++
      return
    }
    last = now
    const more = skipped > 0 ? ` (${skipped} more since the last report)` : ''
    skipped = 0
    console.error(
      `@cortex/hono ${where}: ending a request failed${more}: ${String((err as Error)?.message ?? err)}`,
    )
  }
}

/**
 * The whole @cortex stack as ONE Hono middleware: any of rate limiting, SLO
 * tracking, energy tracking and power mode, each configured exactly as its
 * own middleware is. It behaves like `app.use(sloTracking(slo))`,
 * `energyTracking(energy)`, `rateLimit(rateLimit)`, `powerMode(powerMode)`
 * in that order, at a fraction of the cost. Mount it before your routes.
 *
 * @example
 * app.use(cortex({
 *   rateLimit: { limiter },
 *   slo: { tracker },
 *   energy: { meter },
 *   powerMode: { controller: power },
 * }))
 */
export function cortex(
  options: CortexOptions,
): MiddlewareHandler<{ Variables: Partial<PowerModeVariables> }> {
  checkParts(options, PARTS, 'cortex')
  return createStack(options, 'cortex')
}
