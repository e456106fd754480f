/**
 * `createRateLimiter`: policies matched per request, decisions from
 * `@cortex/core`'s token bucket kept in a store, a failure policy for when the
 * store is slow or down, throttling (hold a request until it fits), the
 * response plan adapters send (status, headers, JSON body), and metrics.
 *
 * This file assembles the limiter from the files that own each concept:
 * `rate-limiter-options.ts` (validation), `limiter-state.ts` (the one state
 * holder and the hot path), `store-guard.ts` (store calls and the failure
 * policy), `decision.ts` (every decision's figures), `throttle.ts` (held
 * waits) and `rate-limit-handler.ts` (the adapters' half).
 *
 * The memory store answers synchronously, so `consume` returns a plain value
 * on that path (no promise per request); `await` works either way.
 */
import { checkNumber, type PromRegistryLike, type RequestInfo, withGetters } from '@cortex/core'
import type { RateLimitDecision } from './decision.js'
import type { HeaderFormat } from './headers.js'
import { LimiterState } from './limiter-state.js'
import { type Cost, decideLimits, requestsCost, settle } from './list-policy.js'
import type { PolicyDescription } from './policies.js'
import { rescalePolicies } from './policy-runtime.js'
import {
  type CheckOptions,
  createHandler,
  decide,
  planOf,
  type RateLimitHandler,
  type RateLimitHandlerOptions,
  type RateLimitPlan,
} from './rate-limit-handler.js'
import { registerRateLimitMetrics } from './rate-limit-metrics.js'
import { type RateLimiterOptions, resolveOptions } from './rate-limiter-options.js'
import { isPromiseLike, type MaybePromise } from './store.js'
import { take, unlimited } from './store-guard.js'
import { releaseHeld, type WaitOptions, wait } from './throttle.js'

export type { Cost } from './list-policy.js'
export {
  type CheckOptions,
  type RateLimitHandler,
  type RateLimitHandlerInput,
  type RateLimitHandlerOptions,
  type RateLimitPlan,
  type RequestHeaders,
  rateLimitDecisions,
} from './rate-limit-handler.js'
export type { RateLimitEvent, RateLimiterOptions, RateLimitLogger } from './rate-limiter-options.js'
export type { WaitOptions } from './throttle.js'

export interface RateLimiter {
  /** Validated policies, in the order they were configured. */
  readonly policies: readonly PolicyDescription[]
  /** The default header format. */
  readonly headerFormat: HeaderFormat | false
  /** The current refill-rate scale (1 unless `setRateScale` changed it). */
  readonly rateScale: number
  /**
   * Takes `cost` tokens (default 1) for `key` under `policy` (a policy name,
   * or a request line such as `GET /health/live` resolved by `policyFor`).
   * A plain value with the memory store; a promise with Redis. Never rejects.
   */
  consume(key: string, policy: string, cost?: Cost): MaybePromise<RateLimitDecision>
  /** The decision a request of `cost` (default 1) would get, without consuming. */
  peek(key: string, policy: string, cost?: Cost): MaybePromise<RateLimitDecision>
  /**
   * Settles an admitted decision of a list policy with its actual cost, once
   * known: each limit whose unit `actual` names (a number names `requests`)
   * is charged the difference from what the decision reserved — a refund
   * never exceeds the reservation, an overrun is owed (the bucket goes below
   * zero, and the client's next request waits for it). Never rejects.
   * Settling twice, settling a decision that reserved nothing (refused,
   * unlimited, single-rate, or decided without the store), or an `actual`
   * that is not a cost is ignored and counted
   * (`cortex_rate_limit_settlements_total{outcome="ignored"}`).
   *
   * @example
   * const d = await limiter.consume(key, 'POST /agents/plan', { tokens: 800 })
   * // … generate …
   * await limiter.settle(d, { tokens: usage.totalTokens })
   */
  settle(decision: RateLimitDecision, actual: Cost): MaybePromise<void>
  /** Forgets `key` under `policy`, or under every policy when omitted. */
  reset(key: string, policy?: string): MaybePromise<void>
  /**
   * Throttling: resolves when the request is admitted, holding it up to
   * `maxDelayMs`. Rejects at once (nothing consumed) with
   * `ERR_CORTEX_THROTTLE_TIMEOUT` when admission would take longer, or
   * `ERR_CORTEX_QUEUE_FULL` when `maxPendingWaits` requests are already held.
   */
  wait(key: string, policy: string, cost?: Cost, options?: WaitOptions): Promise<RateLimitDecision>
  /** The name of the policy a request matches, or undefined. */
  policyFor(method: string, path: string): string | undefined
  /** Decides for a request as adapters see it (policy by method and path, key from the client). */
  check(info: RequestInfo, options?: CheckOptions): MaybePromise<RateLimitDecision>
  /** The response plan for the decisions made on one request. */
  responseFor(
    decisions: RateLimitDecision | readonly RateLimitDecision[],
    format?: HeaderFormat | false,
  ): RateLimitPlan
  /** The framework-free half of an adapter; validates `options` now. */
  handler<Req>(options?: RateLimitHandlerOptions<Req>): RateLimitHandler<Req>
  /**
   * Scales every policy's refill rate and burst by `scale` (> 0) without a
   * restart; the window and the time a bucket takes to refill stay the same.
   * `0.5` halves every limit (a low-power mode); `1` restores them.
   */
  setRateScale(scale: number): void
  /**
   * Registers the metrics `options.registry` gets on another registry: a
   * second prom-client Registry, or an adapter such as @cortex/otel's.
   */
  registerMetrics(registry: PromRegistryLike): void
  /** Cancels held `wait`s (they reject with `ERR_CORTEX_CLOSED`). Stores are the caller's to close. */
  close(): void
}

/**
 * Creates a rate limiter.
 *
 * A policy may also be a list of limits decided together (all or nothing)
 * with costs by unit, settled once known:
 * `'POST /agents/plan': [{ name: 'requests', limit: 10, window: '1m' },
 * { name: 'tokens', limit: 20_000, window: '1m', unit: 'tokens' }]`.
 *
 * @example
 * const limiter = createRateLimiter({
 *   policies: {
 *     'POST /embed/multimodal': { limit: 60, window: '1m', burst: 10 },
 *     'GET /health/*': 'unlimited',
 *     '*': { limit: 600, window: '1m' },
 *   },
 * })
 * const d = await limiter.consume('203.0.113.9', 'POST /embed/multimodal')
 * if (!d.allowed) console.log(`retry in ${d.retryAfterSeconds} s`)
 */
export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const config = resolveOptions(options)
  const s = new LimiterState(config)
  const { descriptions, store, fallback, defaultFormat, metricPrefix } = config

  function peek(key: string, policy: string, cost: Cost = 1): MaybePromise<RateLimitDecision> {
    const hit = s.resolve(policy)
    if (hit === undefined) return unlimited(s, '', s.unmatchedRow, requestsCost(cost), false)
    if (hit.rt === undefined) return unlimited(s, hit.d.name, hit.index, requestsCost(cost), false)
    if (hit.rt.limits !== undefined) return decideLimits(s, hit.rt, String(key), cost, 'peek', false)
    return take(s, hit.rt, String(key), requestsCost(cost), hit.rt.bucket, 'peek', false)
  }

  function reset(key: string, policy?: string): MaybePromise<void> {
    const targets =
      policy === undefined
        ? descriptions.filter((d) => !d.unlimited)
        : [s.resolve(policy)?.d].filter((d) => d !== undefined)
    const pending: Promise<void>[] = []
    for (const d of targets) {
      const limits = s.byName.get(d.name)?.rt?.limits
      for (const target of fallback ? [store, fallback] : [store]) {
        const r = limits === undefined ? target.reset(d.name, key) : target.reset(d.name, key, limits)
        if (isPromiseLike(r)) pending.push(r)
      }
    }
    if (pending.length > 0) return Promise.all(pending).then(() => undefined)
  }

  function registerMetrics(registry: PromRegistryLike): void {
    registerRateLimitMetrics(registry, metricPrefix, {
      rows: s.rows,
      counts: s.counts,
      stores: fallback ? { primary: store, fallback } : { primary: store },
      storeUp: () => s.outage === undefined,
    })
  }
  if (options.registry !== undefined) registerMetrics(options.registry)

  return withGetters(
    {
      policies: descriptions,
      headerFormat: defaultFormat,
      consume: (key, policy, cost = 1) => s.consume(key, policy, cost),
      peek,
      settle: (decision, actual) => settle(s, decision, actual),
      reset,
      wait: (key, policy, cost = 1, waitOptions = {}) => wait(s, key, policy, cost, waitOptions),
      policyFor: (method, path) => s.matcher.match(method, path)?.d.name,
      check: (info, o = {}) => decide(s, info, o.key, o.cost, o.headers, o.trustProxy, o.routed),
      responseFor: (decisions, format = defaultFormat) =>
        planOf(s, Array.isArray(decisions) ? [...decisions] : [decisions as RateLimitDecision], format),
      handler: (handlerOptions = {}) => createHandler(s, handlerOptions),
      setRateScale(next) {
        s.scale = checkNumber(next, 'scale', { min: 0, exclusiveMin: true, max: 1e6, where: 'setRateScale' })
        rescalePolicies(s, s.scale)
      },
      registerMetrics,
      close: () => releaseHeld(s),
    } satisfies Omit<RateLimiter, 'rateScale'>,
    { rateScale: () => s.scale },
  )
}
