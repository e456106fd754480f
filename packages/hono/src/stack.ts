/**
 * Hono's side of the exchange pipeline (`@cortex/exchange`): `cortex()`
 * wires any of rate limiting, SLO tracking, energy tracking and power mode as
 * ONE middleware, and `rateLimit()`, `sloTracking()`, `energyTracking()` and
 * `powerMode()` are this same pipeline with one part each. Hono has routed
 * the request before any middleware runs, so the limiter chooses its policy
 * on the matched route template, never on the client's spelling of the URL.
 *
 * Where the exchange ends depends on the runtime:
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
import { CortexConfigError, checkParts } from '@cortex/core'
import {
  checkPartsOptions,
  createPipeline,
  type EnergyTrackingOptions,
  type Exchange,
  type ExchangePort,
  type CortexOptions as GenericCortexOptions,
  type RateLimitOptions as GenericRateLimitOptions,
  PARTS,
  type PowerModeOptions,
  type QuotaAccess,
  quotaAccess,
  type SloTrackingOptions,
} from '@cortex/exchange'
import type { RateLimitDecision } from '@cortex/token-bucket'
import type { Context, MiddlewareHandler, Next } from 'hono'
import { addressOf, type ClientAddress, headerRecord, matchedRoute, UNKNOWN_ROUTE } from './request-info.js'

/** `rateLimit`'s options: `{ limiter, key?, skip?, cost?, headers? }` (taking Hono's `c`) and Hono's own two. */
export type RateLimitOptions = GenericRateLimitOptions<Context> & {
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

/** The parts of `cortex()`: each is the options of the middleware of the same concern. */
export type CortexOptions = Omit<GenericCortexOptions<Context>, 'rateLimit'> & {
  /** Rate limiting: `rateLimit`'s options (`{ limiter, key?, skip?, cost?, headers?, clientAddress?, trustProxy? }`). */
  rateLimit?: RateLimitOptions
}
export type { EnergyTrackingOptions, PowerModeOptions, SloTrackingOptions }

/** The context variable `powerMode` sets: `c.get('powerMode')`, the current mode's name. */
export interface PowerModeVariables {
  powerMode: string
}

function isPromise(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown })?.then === 'function'
}

/**
 * Takes Hono's own `clientAddress` and `trustProxy` out of the rate-limit
 * options (the limiter's handler knows only its own), validated. A missing
 * limiter is left to the shared check, which names it first.
 */
function honoRateOptions(
  parts: CortexOptions,
  where: string,
): { parts: GenericCortexOptions<Context>; clientAddress: ClientAddress | undefined; trustProxy: boolean } {
  const rate = parts.rateLimit
  if (typeof rate?.limiter?.handler !== 'function')
    return { parts, clientAddress: undefined, trustProxy: false }
  const { clientAddress, trustProxy, ...handlerOptions } = rate
  if (clientAddress !== undefined && typeof clientAddress !== 'function') {
    throw new CortexConfigError('clientAddress', clientAddress, 'a function (c) => string | undefined', where)
  }
  if (trustProxy !== undefined && typeof trustProxy !== 'boolean') {
    throw new CortexConfigError('trustProxy', trustProxy, 'true or false', where)
  }
  return { parts: { ...parts, rateLimit: handlerOptions }, clientAddress, trustProxy: trustProxy === true }
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
 * Sets a header for the response to come. On Node it goes on the Node
 * response itself, which @hono/node-server's `writeHead` merges with the
 * Response's own, whatever the handler returns; a `Headers` object per
 * request would also take Hono off its fast path for plain responses.
 * Elsewhere Hono applies it to what `c.json`, `c.text`, `c.body`, the 404
 * and the error handler build (see `keepHeaders` for the rest).
 */
function setHeader(c: Context, name: string, value: string): void {
  const node = nodeResponse(c)
  if (node === undefined) c.header(name, value)
  else if (!node.headersSent) node.setHeader(name, value)
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
 * What one middleware call keeps about its request where no Node response
 * tells the end of the exchange (Bun, Deno, workers, `app.request`): kept
 * in the call itself, so the same middleware mounted twice on one request
 * never mixes its two calls.
 */
class Pending {
  /** The pipeline's exchange for this call. */
  x: Exchange<Context> | undefined = undefined
  /** The RateLimit headers to keep on the final response. */
  kept: Record<string, string> | undefined = undefined
  /** The power mode to keep on the final response. */
  mode: string | undefined = undefined
  /** The status produced, and whether the response reached the client. */
  status = 0
  completed = false
}

/**
 * The middleware for the given parts (at least one). `where` names the
 * public function in error messages.
 */
export function createStack(options: CortexOptions, where: string): MiddlewareHandler {
  const { parts: generic, clientAddress, trustProxy } = honoRateOptions(options, where)
  const parts = checkPartsOptions<Context>(generic, where)
  const powerHeader = parts.header
  const reportFailure = failureReporter(where)
  // What this stack keeps on a request's context and its Node response, under symbols of its own,
  // so two stacks on one request never mix. On Node that is the route (and a refusal's answer) only.
  const kRoute = Symbol('cortex.hono.route')
  const kAnswer = Symbol('cortex.hono.answer')
  const kPending = Symbol('cortex.hono.pending')
  const kExchange = Symbol('cortex.hono.exchange')
  interface Carrier extends Context {
    /** The route Hono matched, read when the middleware starts (`c.req.routeIndex` moves on). */
    [kRoute]?: string | undefined | typeof UNKNOWN_ROUTE
    /** The answer this stack gave itself (429, 503), until the middleware returns it. */
    [kAnswer]?: Response
    /** Elsewhere than Node: the middleware call under way. */
    [kPending]?: Pending
  }
  type NodeCarrier = ServerResponse & { [kExchange]?: Exchange<Context> }
  /** The pipeline's end of an exchange: the same function for every request (see `watchEnd`). */
  let end: (x: Exchange<Context>) => void = () => {}

  /** One listener for every Node response: no closure per request. */
  function onClose(this: NodeCarrier): void {
    const x = this[kExchange]
    if (x !== undefined) end(x)
  }

  const port: ExchangePort<Context> = {
    limiterInput: (c) => {
      const matched = (c as Carrier)[kRoute]
      // Hono tells the matched routes in every 4.x; were it ever not to, the limiter falls back to
      // the path Hono routed on (`c.req.path`, decoded as the router decodes it).
      const routed = matched !== UNKNOWN_ROUTE
      return {
        info: {
          method: c.req.method,
          path: c.req.path,
          route: routed ? matched : undefined,
          clientAddress: addressOf(c, clientAddress),
        },
        headers: headerRecord(c),
        trustProxy,
        routed,
      }
    },
    method: (c) => c.req.method,
    route: (c) => {
      const matched = (c as Carrier)[kRoute]
      return matched === UNKNOWN_ROUTE ? undefined : matched
    },
    statusCode: (c) => nodeResponse(c)?.statusCode ?? ((c as Carrier)[kPending] as Pending).status,
    completed: (c) => {
      const node = nodeResponse(c)
      return node === undefined ? ((c as Carrier)[kPending] as Pending).completed : node.writableEnded
    },
    closed: (c) => nodeResponse(c)?.closed === true,
    watchEnd: (c, x, pipelineEnd) => {
      end = pipelineEnd
      const node = nodeResponse(c) as NodeCarrier | undefined
      if (node === undefined) ((c as Carrier)[kPending] as Pending).x = x
      else {
        node[kExchange] = x
        node.on('close', onClose)
      }
    },
    setHeader: (c, name, value) => {
      const pending = (c as Carrier)[kPending]
      if (pending === undefined) return setHeader(c, name, value)
      c.header(name, value)
      // Kept for after the handlers: the power mode on its own, the RateLimit headers together.
      if (name === powerHeader) pending.mode = value
      else {
        pending.kept ??= {}
        pending.kept[name] = value
      }
    },
    reply: (c, status, headers, body) => {
      if (headers !== undefined) for (const name in headers) setHeader(c, name, headers[name] as string)
      ;(c as Carrier)[kAnswer] = c.json(body, status as 429)
    },
    setPowerMode: (c, mode) => c.set('powerMode', mode),
    decisions: decisionsOf,
    keepDecisions: (c, decisions) => c.set(DECISIONS, decisions),
    // Hono routes before any middleware: a refusal proves nothing the matched route does not say.
    setRouteHint: () => {},
    report: (_c, err) => reportFailure(err),
  }
  const pipeline = createPipeline(parts, port)

  /** Ends `pending`'s exchange, answering the port from this call's own facts. */
  function endPending(c: Carrier, route: Carrier[typeof kRoute], pending: Pending, completed: boolean): void {
    c[kRoute] = route
    c[kPending] = pending
    pending.completed = completed
    end(pending.x as Exchange<Context>)
  }

  /** Ends an exchange the runtime reports no socket event for, once its Response exists. */
  function endWithResponse(
    c: Carrier,
    route: Carrier[typeof kRoute],
    pending: Pending,
    answer: Response | undefined,
    failed: boolean,
  ): void {
    pending.status = failed ? 500 : (answer ?? c.res).status
    const sent = completion(c)
    if (sent === undefined) endPending(c, route, pending, !clientLeft(c))
    else
      sent.then(
        () => endPending(c, route, pending, true),
        () => endPending(c, route, pending, false),
      )
  }

  return async function cortexMiddleware(context: Context, next: Next): Promise<Response | undefined> {
    const c = context as Carrier
    const route = matchedRoute(c)
    c[kRoute] = route
    // Node tells the end on its response; elsewhere this call keeps what it must answer from.
    const pending = nodeResponse(c) === undefined ? new Pending() : undefined
    if (pending !== undefined) c[kPending] = pending
    let failed = false
    let answer: Response | undefined
    try {
      await pipeline.run(c, next)
      answer = c[kAnswer]
      if (answer !== undefined) {
        c[kAnswer] = undefined
        return answer
      }
      if (pending?.kept !== undefined) keepHeaders(c, pending.kept)
      if (pending?.mode !== undefined && powerHeader !== false)
        keepHeaders(c, { [powerHeader]: pending.mode })
      return undefined
    } catch (err) {
      failed = true
      throw err
    } finally {
      if (pending?.x !== undefined) endWithResponse(c, route, pending, answer, failed)
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

/** The context variable a request's rate-limit decisions are kept in (`c.get('rateLimitDecisions')`). */
const DECISIONS = 'rateLimitDecisions'

function decisionsOf(c: Context): readonly RateLimitDecision[] | undefined {
  return c.get(DECISIONS) as readonly RateLimitDecision[] | undefined
}

/**
 * The current request's quota: `rateLimitDecisions(c)` lists the rate
 * limits' decisions; `settleRateLimit(c, { tokens })` charges the actual
 * cost of a list policy's reservation once it is known.
 *
 * @example
 * app.post('/agents/plan', async (c) => {
 *   const plan = await generate(await c.req.json())
 *   settleRateLimit(c, { tokens: plan.usage.totalTokens })
 *   return c.json(plan)
 * })
 */
export const { rateLimitDecisions, settleRateLimit }: QuotaAccess<Context> = quotaAccess<Context>(decisionsOf)

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
