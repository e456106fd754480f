/**
 * The framework-free half of every adapter: a request as adapters see it
 * (method, path or route, client address, headers) to a policy, a client
 * key and a decision (`check`), and decisions to the response plan adapters
 * send (status, headers, JSON body). Also the once-only warning for proxy
 * headers the framework does not trust.
 */
import { checkKnownKeys, checkObject, FORWARDING_HEADERS, type RequestInfo } from '@cortex/core'
import { apiKeyFromHeaders, clientAddressKey } from './client-key.js'
import type { RateLimitDecision } from './decision.js'
import { checkHeaderFormat, type HeaderFormat, rateLimitHeaders } from './headers.js'
import type { LimiterState } from './limiter-state.js'
import { type Cost, refundUnsettled, requestsCost, settleDecisions } from './list-policy.js'
import { REQUESTS } from './policies.js'
import { checkFunction, emit, warn } from './rate-limiter-options.js'
import { isPromiseLike, type MaybePromise } from './store.js'
import { unlimited } from './store-guard.js'
import { reserveAndHold } from './throttle.js'

/** Request headers as Node's `IncomingMessage` exposes them (lower-case names). */
export type RequestHeaders = Record<string, string | string[] | undefined>

/** Per-call options of `check`, supplied by adapters. */
export interface CheckOptions {
  /** The client key; default: the API-key header if configured, else the masked client address. */
  key?: string
  /** What this request costs: a number of requests, or costs by unit (list policies). Default 1. */
  cost?: Cost
  /** The request's headers (to find an API key and notice proxy headers). */
  headers?: RequestHeaders
  /** Whether the framework trusts proxy headers for the client address; `false` enables the warning. */
  trustProxy?: boolean
  /**
   * True when the framework has already routed the request, so `info.route`
   * is its final answer: the policy is then chosen on the route template
   * (what the router actually dispatched on, however the client spelled the
   * URL), and a request that matched no route (`route` undefined, a 404)
   * gets only the `*` default policy. Otherwise the policy is chosen on
   * `info.path`, which must be the path the router will route on.
   */
  routed?: boolean
}

/** What an adapter sends: headers always, and for a denial the status and JSON body. */
export type RateLimitPlan =
  | {
      allowed: true
      status: 200
      headers: Record<string, string>
      body: undefined
      decisions: RateLimitDecision[]
      /** The path this handler's policy names exactly, or undefined (see the refusal's `route`). */
      route: string | undefined
    }
  | {
      allowed: false
      status: 429
      headers: Record<string, string>
      body: { error: 'rate_limited'; policy: string; retryAfterSeconds: number }
      decisions: RateLimitDecision[]
      /**
       * The path the refusing policy names exactly (`/embed/multimodal` for
       * `POST /embed/multimodal`), or undefined for wildcard and default
       * policies. Adapters whose framework routes after the limiter use it as
       * the request's route when the framework never routes the request (a
       * 429 here; a body the parser refused), so SLO and energy figures keep
       * it under its endpoint instead of `__unmatched__` (bounded: one per
       * exact policy).
       */
      route: string | undefined
    }

/** Options every adapter's `rateLimit(...)` accepts besides `limiter`. */
export interface RateLimitHandlerOptions<Req> {
  /** The client key for a request; default: see `CheckOptions.key`. */
  key?: (req: Req) => string | undefined
  /** Return true to leave a request alone (no decision, no headers). */
  skip?: (req: Req) => boolean
  /**
   * What a request costs: a number (its `requests` cost), or costs by unit
   * for list policies (`{ tokens: estimate }`, settled later). Default 1.
   */
  cost?: (req: Req) => Cost
  /** Header format; default: the limiter's. */
  headers?: HeaderFormat | false
}

/** What an adapter knows about a request, framework-free. */
export interface RateLimitHandlerInput {
  info: RequestInfo
  headers?: RequestHeaders
  trustProxy?: boolean
  /** See `CheckOptions.routed`. */
  routed?: boolean
}

/** The framework-free half of an adapter. */
export interface RateLimitHandler<Req> {
  /**
   * The plan for a request, or undefined when `skip` says so. Never rejects.
   * `previous` are the decisions earlier rate limits made on the same
   * request (kept by the adapter): the plan's headers and `decisions` cover
   * them all.
   */
  handle(
    req: Req,
    input: RateLimitHandlerInput,
    previous?: readonly RateLimitDecision[],
  ): MaybePromise<RateLimitPlan> | undefined
  /**
   * True when the limiter has a list policy with a unit other than requests:
   * its reservations are settled, so the adapter watches the response's end
   * and calls `finish`.
   */
  readonly settles: boolean
  /**
   * The response ended (`failed`: a status >= 400, or the client left):
   * what unsettled decisions reserved in every unit but requests is given
   * back for a failed response; a successful one keeps its reservation.
   */
  finish(decisions: readonly RateLimitDecision[], failed: boolean): void
  /** `settleDecisions`: settles the reservations among a request's decisions with the actual cost. Never rejects. */
  settle(decisions: readonly RateLimitDecision[], actual: Cost): MaybePromise<void> | undefined
}

/** Where the Express adapter keeps a request's decisions (`res.locals`, through an accessor on its request prototype). */
const DECISIONS = Symbol.for('@cortex/token-bucket.decisions')

/**
 * The decisions made on an Express request by every `rateLimit` middleware
 * it passed.
 *
 * @deprecated Use the adapter's own `rateLimitDecisions` (`@cortex/express`,
 * `@cortex/koa`, `@cortex/fastify`, `@cortex/hono`), which reads them where
 * that framework keeps per-request values; this one reads Express's only.
 */
export function rateLimitDecisions(req: object): readonly RateLimitDecision[] {
  return (req as { [DECISIONS]?: RateLimitDecision[] })[DECISIONS] ?? []
}

/** `rateLimitHeaders`'s options for the default format, built once. */
const IETF = { format: 'ietf' } as const

function noticeProxyHeaders(
  s: LimiterState,
  headers: RequestHeaders | undefined,
  trustProxy: boolean | undefined,
): void {
  if (s.proxyWarned || trustProxy !== false || headers === undefined) return
  // Every request is looked at until the first warning (then never again), so the first request
  // that carries a forwarding header warns, whatever arrives between proxied requests (a sampled
  // check could miss them for long stretches when probes without the header interleave). The
  // cost is three lookups of absent names in the request's header table.
  for (const header of FORWARDING_HEADERS) {
    if (headers[header] === undefined) continue
    s.proxyWarned = true
    if (s.config.warnings.untrustedProxyHeaders !== false) {
      warn(
        s.config,
        `ERR_CORTEX_UNTRUSTED_PROXY: a request carried "${header}" but the framework does not trust proxies, so every client behind the proxy shares one rate limit (the proxy's address). If a proxy you control sets it, enable the framework's trust-proxy setting; otherwise ignore this (it is shown once; turn it off with warnings.untrustedProxyHeaders: false).`,
      )
    }
    emit(s.config, { type: 'untrusted-proxy-header', header })
    return
  }
}

function keyFor(s: LimiterState, info: RequestInfo, headers: RequestHeaders | undefined): string {
  const { apiKeyHeader, apiKeys, addressOptions } = s.config
  if (typeof apiKeyHeader === 'string') {
    const k = apiKeyFromHeaders(headers, apiKeyHeader, apiKeys)
    if (k !== undefined) return k
  }
  return clientAddressKey(info.clientAddress, addressOptions)
}

/** `check` with its options as arguments: the handler's path allocates no options object. */
export function decide(
  s: LimiterState,
  info: RequestInfo,
  givenKey: string | undefined,
  givenCost: Cost | undefined,
  headers: RequestHeaders | undefined,
  trustProxy: boolean | undefined,
  routed: boolean | undefined,
): MaybePromise<RateLimitDecision> {
  noticeProxyHeaders(s, headers, trustProxy)
  const cost = givenCost ?? 1
  const matcher = s.matcher
  const hit =
    routed !== true
      ? matcher.match(info.method, info.path)
      : info.route === undefined
        ? matcher.matchUnrouted()
        : matcher.match(info.method, info.route)
  if (hit === undefined) return unlimited(s, '', s.unmatchedRow, requestsCost(cost), true)
  if (hit.rt === undefined) return unlimited(s, hit.d.name, hit.index, requestsCost(cost), true)
  const key = givenKey ?? keyFor(s, info, headers)
  return reserveAndHold(s, hit.rt, key, cost, hit.d.maxDelayMs)
}

/** The plan for a list the caller hands over (not copied). */
export function planOf(
  s: LimiterState,
  list: RateLimitDecision[],
  format: HeaderFormat | false,
): RateLimitPlan {
  const headers = rateLimitHeaders(list, format === 'ietf' ? IETF : { format })
  let denied: RateLimitDecision | undefined
  for (let i = 0; i < list.length && denied === undefined; i++) {
    if (!(list[i] as RateLimitDecision).allowed) denied = list[i]
  }
  if (denied === undefined) {
    const own = list[list.length - 1]
    return {
      allowed: true,
      status: 200,
      headers,
      body: undefined,
      decisions: list,
      route: own === undefined ? undefined : s.exactRoutes.get(own.policy),
    }
  }
  return {
    allowed: false,
    status: 429,
    headers,
    body: { error: 'rate_limited', policy: denied.policy, retryAfterSeconds: denied.retryAfterSeconds },
    decisions: list,
    route: s.exactRoutes.get(denied.policy),
  }
}

/** `RateLimiter.handler`: validates `handlerOptions` now. */
export function createHandler<Req>(
  s: LimiterState,
  handlerOptions: RateLimitHandlerOptions<Req>,
): RateLimitHandler<Req> {
  const at = 'rateLimit'
  checkObject(handlerOptions, 'options', at)
  checkKnownKeys(handlerOptions, ['limiter', 'key', 'skip', 'cost', 'headers'], at)
  checkFunction(handlerOptions.key, 'key', at)
  checkFunction(handlerOptions.skip, 'skip', at)
  checkFunction(handlerOptions.cost, 'cost', at)
  const format =
    handlerOptions.headers === undefined
      ? s.config.defaultFormat
      : checkHeaderFormat(handlerOptions.headers, 'headers', at)
  const { key, skip, cost } = handlerOptions
  const plan = (d: RateLimitDecision, previous: readonly RateLimitDecision[] | undefined): RateLimitPlan =>
    planOf(s, previous === undefined || previous.length === 0 ? [d] : [...previous, d], format)
  const settles = s.config.descriptions.some((p) => p.limits?.some((l) => l.unit !== REQUESTS) === true)
  return {
    handle(req, input, previous) {
      if (skip?.(req)) return undefined
      const r = decide(s, input.info, key?.(req), cost?.(req), input.headers, input.trustProxy, input.routed)
      return isPromiseLike(r) ? r.then((d) => plan(d, previous)) : plan(r, previous)
    },
    settles,
    settle: settleDecisions,
    finish(decisions, failed) {
      if (!failed) return
      const done = refundUnsettled(decisions)
      if (isPromiseLike(done)) done.then(undefined, () => {})
    },
  }
}
