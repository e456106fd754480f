/**
 * The decision the limiter reports for one request: the figures a client
 * needs (remaining requests, when to retry, when the bucket is full again)
 * in whole units, with the exact millisecond values beside them; and the
 * builders of every kind of decision, in one place. The builders are pure:
 * they count nothing and call no store (the caller does both), so a decision
 * over several limits can build one per limit and pick.
 */
import { NEVER, type TokenBucketDecision } from '@cortex/core'
import type { LimitRuntime, Runtime } from './policy-runtime.js'
import type { StoreDecision } from './store.js'

/** Returned as `retryAfterSeconds` when the cost exceeds the burst: no wait admits it. */
export const NEVER_SECONDS = -1

export interface RateLimitDecision {
  /** True when the request is admitted. */
  allowed: boolean
  /** The policy that decided (its configured key), or the name asked for when none matched. */
  policy: string
  /** Requests per window (after `setRateScale`); `Infinity` when unlimited. */
  limit: number
  /** Whole requests of cost 1 left right now; `Infinity` when unlimited. */
  remaining: number
  /** Seconds until the bucket is full again (ceiling). */
  resetSeconds: number
  /**
   * 0 when allowed; otherwise the ceiling of the exact wait until a request of
   * the same cost is admitted (so waiting it suffices), or -1 when the cost
   * exceeds the burst and no wait ever admits it.
   */
  retryAfterSeconds: number
  /** The policy's window in milliseconds (0 when unlimited). */
  windowMs: number
  /** The bucket capacity (after `setRateScale`). */
  burst: number
  /** Tokens this request asked for. */
  cost: number
  /** The exact wait in milliseconds behind `retryAfterSeconds` (0 when allowed, -1 for never). */
  retryAfterMs: number
  /** Milliseconds until the bucket is full again. */
  resetMs: number
  /** Milliseconds this request was held by throttling before being admitted (0 otherwise). */
  delayMs: number
  /** True when no limit applies (an `'unlimited'` policy, or no policy matched). */
  unlimited: boolean
  /**
   * `false` when the store answered. Otherwise the store failed or timed out
   * and `onStoreError` decided: `'allow'`, `'deny'`, or `'fallback'` (the
   * fallback store's figures).
   */
  degraded: false | 'allow' | 'deny' | 'fallback'
  /**
   * A list policy's limits, in the order configured, each with its own
   * figures; the decision's own figures are those of its `binding` limit.
   * Undefined for a single-rate policy, and when no store answered.
   */
  limits?: readonly LimitDecision[]
  /**
   * The limit of a list policy whose figures the decision carries: when
   * refused, the one that refused with the longest wait (so `retryAfterSeconds`
   * is the wait until every limit admits the same cost); when admitted, the
   * one with the smallest share of its burst left.
   */
  binding?: string
}

/** One limit's part of a list policy's decision. */
export interface LimitDecision {
  /** The limit's name, unique within its policy. */
  name: string
  /** What it counts (`requests`, `tokens`, …). */
  unit: string
  /** This limit alone would admit the request's cost (the request is admitted only when every limit does). */
  allowed: boolean
  /** Units per window (after `setRateScale`). */
  limit: number
  /** Whole units left now (after this request's charge when it was admitted). */
  remaining: number
  /** The cost this request asked of this limit. */
  cost: number
  /** 0 when this limit admits; else the ceiling of its exact wait, -1 when the cost exceeds its burst. */
  retryAfterSeconds: number
  retryAfterMs: number
  /** Seconds until this limit's bucket is full again (ceiling). */
  resetSeconds: number
  resetMs: number
  windowMs: number
  burst: number
}

/** `consume` takes; `throttle` takes from a delay bucket; `peek` reads (the store sees cost 0). */
export type Mode = 'consume' | 'throttle' | 'peek'

/**
 * A limited policy's decision: the one place its fields are laid out, so
 * every kind (consumed, from a store, blind, inadmissible) has one shape.
 * `remaining` is whole requests already; the seconds derive from the ms.
 */
function limitedDecision(
  rt: Runtime,
  allowed: boolean,
  remaining: number,
  resetMs: number,
  retryAfterMs: number,
  cost: number,
  delayMs: number,
  degraded: RateLimitDecision['degraded'],
): RateLimitDecision {
  return {
    allowed,
    policy: rt.description.name,
    limit: rt.limit,
    remaining,
    resetSeconds: Math.ceil(resetMs / 1000),
    retryAfterSeconds: allowed ? 0 : retryAfterMs === NEVER ? NEVER_SECONDS : Math.ceil(retryAfterMs / 1000),
    windowMs: rt.description.windowMs,
    burst: rt.bucket.burst,
    cost,
    retryAfterMs,
    resetMs,
    delayMs,
    unlimited: false,
    degraded,
  }
}

/** No limit applies: an `'unlimited'` policy (`policy` its name), or none matched (`policy` empty). */
export function unlimitedDecision(policy: string, cost: number): RateLimitDecision {
  return {
    allowed: true,
    policy,
    limit: Number.POSITIVE_INFINITY,
    remaining: Number.POSITIVE_INFINITY,
    resetSeconds: 0,
    retryAfterSeconds: 0,
    windowMs: 0,
    burst: Number.POSITIVE_INFINITY,
    cost,
    retryAfterMs: 0,
    resetMs: 0,
    delayMs: 0,
    unlimited: true,
    degraded: false,
  }
}

/** A plain consume's decision from the policy's own bucket, as a synchronous store answered it. */
export function consumedDecision(rt: Runtime, td: TokenBucketDecision, cost: number): RateLimitDecision {
  const allowed = td.allowed
  return limitedDecision(
    rt,
    allowed,
    Math.floor(td.remaining + 1e-9),
    td.resetAfterMs,
    allowed ? 0 : td.retryAfterMs,
    cost,
    0,
    false,
  )
}

/**
 * Turns a store decision of any mode into the limiter's. For a peek with a
 * cost, and for a refused throttled request (decided on a larger delay
 * bucket), nothing was consumed: the figures are what the policy's own
 * bucket gives for `cost` at the state just read — the arithmetic a consume
 * would use, at the store's own time, so retry hints stay exact.
 */
export function storeDecision(
  rt: Runtime,
  td: StoreDecision,
  cost: number,
  degraded: false | 'fallback',
  mode: Mode,
  now: number,
): RateLimitDecision {
  const bucket = rt.bucket
  const src: TokenBucketDecision =
    (mode === 'peek' && cost !== 0) || (mode === 'throttle' && !td.allowed)
      ? bucket.take(td.state, td.now ?? now, cost)
      : td
  const allowed = src.allowed
  // A peek reports the bucket as it is; only the verdict is for `cost`.
  const state = mode === 'peek' ? td : src
  let remaining = state.remaining
  const resetMs = state.resetAfterMs
  let delayMs = 0
  if (mode === 'throttle' && allowed) {
    delayMs = resetMs - rt.tolerance
    if (!(delayMs > 1e-6)) delayMs = 0
    remaining = bucket.burst - resetMs * bucket.tokensPerMs
    remaining = remaining <= 0 ? 0 : Math.min(remaining, bucket.burst)
  }
  return limitedDecision(
    rt,
    allowed,
    Math.floor(remaining + 1e-9),
    resetMs,
    allowed ? 0 : src.retryAfterMs,
    cost,
    delayMs,
    degraded,
  )
}

/**
 * The failure policy's decision when no store answered: `allow` or deny
 * without figures; a denial asks to retry once the store may be probed again.
 */
export function blindDecision(
  rt: Runtime,
  cost: number,
  allow: boolean,
  retryIntervalMs: number,
): RateLimitDecision {
  const waitMs = Math.max(1000, retryIntervalMs)
  return limitedDecision(
    rt,
    allow,
    allow ? Math.floor(rt.bucket.burst) : 0,
    0,
    allow ? 0 : waitMs,
    cost,
    0,
    allow ? 'allow' : 'deny',
  )
}

/** A cost above the policy's burst (or not a cost at all): refused, and no wait ever admits it. */
export function inadmissibleDecision(rt: Runtime, cost: number): RateLimitDecision {
  return limitedDecision(rt, false, 0, 0, NEVER, cost, 0, false)
}

/** The figures of one limit of a list policy from its state before the decision. */
function limitFigures(
  l: LimitRuntime,
  state: number,
  now: number,
  cost: number,
  charged: boolean,
): LimitDecision {
  const bucket = l.bucket
  const own = bucket.take(state, now, cost)
  const remaining = charged ? own.remaining : bucket.tokensAt(state, now)
  const resetMs = charged ? own.resetAfterMs : state > now ? state - now : 0
  const retryAfterMs = own.allowed ? 0 : own.retryAfterMs
  return {
    name: l.name,
    unit: l.unit,
    allowed: own.allowed,
    limit: l.limit,
    remaining: Math.floor(remaining + 1e-9),
    cost,
    retryAfterSeconds: own.allowed
      ? 0
      : retryAfterMs === NEVER
        ? NEVER_SECONDS
        : Math.ceil(retryAfterMs / 1000),
    retryAfterMs,
    resetSeconds: Math.ceil(resetMs / 1000),
    resetMs,
    windowMs: l.description.windowMs,
    burst: bucket.burst,
  }
}

/** True when limit `a` binds more than `b` (see `RateLimitDecision.binding`). */
function bindsMore(a: LimitDecision, b: LimitDecision, allowed: boolean): boolean {
  if (!allowed && a.allowed !== b.allowed) return !a.allowed
  if (allowed || a.allowed) return a.remaining / a.burst < b.remaining / b.burst
  if (b.retryAfterMs === NEVER) return false
  return a.retryAfterMs === NEVER || a.retryAfterMs > b.retryAfterMs
}

/** Index of the limit that binds; the first configured among equals. */
function bindingIndex(limits: readonly LimitDecision[], allowed: boolean): number {
  let best = 0
  for (let i = 1; i < limits.length; i++) {
    if (bindsMore(limits[i] as LimitDecision, limits[best] as LimitDecision, allowed)) best = i
  }
  return best
}

/**
 * A list policy's decision from the limits' states before it (as a store
 * read them at `now`), the store's verdict, and the mode: every limit's
 * figures from `@cortex/core`'s arithmetic, and the binding limit's as the
 * decision's own. Pure.
 */
export function limitsDecision(
  rt: Runtime,
  costs: readonly number[],
  allowed: boolean,
  states: readonly number[],
  now: number,
  charged: boolean,
  degraded: false | 'fallback',
): RateLimitDecision {
  const runtimes = rt.limits as readonly LimitRuntime[]
  const limits: LimitDecision[] = new Array(runtimes.length)
  for (let i = 0; i < runtimes.length; i++) {
    limits[i] = limitFigures(
      runtimes[i] as LimitRuntime,
      states[i] as number,
      now,
      costs[i] as number,
      charged,
    )
  }
  const b = limits[bindingIndex(limits, allowed)] as LimitDecision
  // A verdict the arithmetic does not explain (another writer between read and write): wait one unit.
  const retryAfterMs = allowed
    ? 0
    : b.allowed
      ? (runtimes[0] as LimitRuntime).bucket.msPerToken
      : b.retryAfterMs
  return {
    allowed,
    policy: rt.description.name,
    limit: b.limit,
    remaining: b.remaining,
    resetSeconds: b.resetSeconds,
    retryAfterSeconds: allowed ? 0 : retryAfterMs === NEVER ? NEVER_SECONDS : Math.ceil(retryAfterMs / 1000),
    windowMs: b.windowMs,
    burst: b.burst,
    cost: b.cost,
    retryAfterMs,
    resetMs: b.resetMs,
    delayMs: 0,
    unlimited: false,
    degraded,
    limits,
    binding: b.name,
  }
}
