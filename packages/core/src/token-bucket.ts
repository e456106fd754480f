/**
 * A token bucket in its GCRA form: the whole state of one key is a single
 * number, the "theoretical arrival time" (TAT) at which the bucket would be
 * full again. That is what lets the memory store keep one float per key and
 * the Redis script one string per key, and what makes every figure exact:
 * remaining tokens, the wait until a request fits, the wait until full.
 *
 * Time is a parameter (milliseconds); nothing here reads a clock.
 */
import { checkNumber, checkObject } from './validate.js'

/** The state of a bucket nobody has used yet (it is full). */
export const FULL_BUCKET_STATE = Number.NEGATIVE_INFINITY

/** Returned as `retryAfterMs` when `cost` exceeds the burst: no wait will ever admit it. */
export const NEVER = -1

export interface TokenBucketParams {
  /** Capacity: the most tokens the bucket holds, i.e. the largest burst. Positive. */
  burst: number
  /** Tokens added per `refillMs`. Positive. */
  refillTokens: number
  /** Period over which `refillTokens` are added, in milliseconds. Positive. */
  refillMs: number
}

/** The outcome of one `take`. Reused when an `out` object is passed. */
export interface TokenBucketDecision {
  /** True when the tokens were taken. */
  allowed: boolean
  /** Tokens left after this decision, in [0, burst] (fractional: refill is continuous). */
  remaining: number
  /**
   * Milliseconds until a request of the same cost would be admitted, if
   * nothing else consumes in between: 0 when allowed, exact when refused,
   * `NEVER` (-1) when cost > burst.
   */
  retryAfterMs: number
  /** Milliseconds until the bucket is full again (0 when already full). */
  resetAfterMs: number
  /**
   * The state to store for the key. A refused request consumes nothing; the
   * state may still move forward to `now`, which changes no token count.
   */
  state: number
}

export interface TokenBucket {
  readonly burst: number
  /** Milliseconds it takes to refill one token. */
  readonly msPerToken: number
  /** Tokens refilled per millisecond. */
  readonly tokensPerMs: number
  /**
   * Takes `cost` tokens at time `now`.
   *
   * - cost 0 is always allowed and changes nothing: it reports the state (a peek).
   * - cost > burst is never allowed; `retryAfterMs` is `NEVER` (-1), not an infinite wait.
   * - A clock that goes backwards never grants extra tokens: the state never
   *   falls behind the latest `now` it has seen, so the bucket refills only
   *   when time passes that point again.
   * - Non-finite `now` or `cost` is treated as a refusal with `NEVER` rather than
   *   throwing (hot paths do not throw); callers validate configuration up front.
   *
   * Pass `out` to reuse one decision object and allocate nothing.
   */
  take(state: number, now: number, cost?: number, out?: TokenBucketDecision): TokenBucketDecision
  /** Tokens available at `now` for a key in `state`, in [0, burst]. */
  tokensAt(state: number, now: number): number
  /**
   * Charges `cost` tokens unconditionally and returns the new state: a
   * positive cost may take the bucket below zero (a debt the next request
   * waits for, `tokensAt` reads 0 until it is repaid), a negative cost gives
   * tokens back, never past full. For settling a cost after the fact; `take`
   * decides admissions. Non-finite input leaves the state as it is.
   */
  charge(state: number, now: number, cost: number): number
}

/**
 * Creates a token bucket (GCRA) with the given capacity and refill rate.
 *
 * @example
 * const bucket = createTokenBucket({ burst: 10, refillTokens: 60, refillMs: 60_000 })
 * let state = FULL_BUCKET_STATE
 * const d = bucket.take(state, Date.now(), 1)
 * state = d.state // always store it, allowed or not
 * if (!d.allowed) console.log(`retry in ${d.retryAfterMs} ms`)
 */
export function createTokenBucket(params: TokenBucketParams): TokenBucket {
  checkObject(params, 'params', 'createTokenBucket')
  const burst = checkNumber(params.burst, 'burst', { min: 0, exclusiveMin: true })
  const refillTokens = checkNumber(params.refillTokens, 'refillTokens', { min: 0, exclusiveMin: true })
  const refillMs = checkNumber(params.refillMs, 'refillMs', { min: 0, exclusiveMin: true })
  const msPerToken = refillMs / refillTokens
  const tokensPerMs = refillTokens / refillMs
  // τ: how far ahead of `now` the TAT may run while the request still fits.
  const tolerance = burst * msPerToken
  checkNumber(tolerance, 'burst × refillMs / refillTokens', { min: 0, exclusiveMin: true })

  function tokensAt(state: number, now: number): number {
    const debt = state > now ? state - now : 0
    return clampTokens(burst - debt * tokensPerMs)
  }

  function clampTokens(tokens: number): number {
    return tokens <= 0 ? 0 : Math.min(tokens, burst)
  }

  /** True when `cost` fits at `now`; the arithmetic the retry hint must agree with. */
  function fits(state: number, now: number, costMs: number): boolean {
    const debt = state > now ? state - now : 0
    return debt + costMs <= tolerance
  }

  function take(state: number, now: number, cost = 1, out?: TokenBucketDecision): TokenBucketDecision {
    const d: TokenBucketDecision = out ?? {
      allowed: false,
      remaining: 0,
      retryAfterMs: 0,
      resetAfterMs: 0,
      state,
    }
    if (!Number.isFinite(now) || Number.isNaN(state)) {
      d.allowed = false
      d.remaining = 0
      d.retryAfterMs = NEVER
      d.resetAfterMs = 0
      d.state = state
      return d
    }
    const debt = state > now ? state - now : 0
    d.resetAfterMs = debt
    // The stored state never falls behind the latest `now` seen. A full bucket
    // reads the same either way, but a clock that later steps backwards then
    // finds the bucket no fuller than it was at that latest time.
    d.state = Math.max(state, now)
    // `!(x >= 0)` also catches NaN.
    if (!(cost >= 0) || !(cost <= burst)) {
      d.allowed = false
      d.remaining = tokensAt(state, now)
      d.retryAfterMs = NEVER
      return d
    }
    if (cost === 0) {
      d.allowed = true
      d.remaining = tokensAt(state, now)
      d.retryAfterMs = 0
      return d
    }
    const costMs = cost * msPerToken
    const need = debt + costMs
    if (need <= tolerance) {
      // Rounded to the nearest double, as the Redis script rounds it: a charge
      // can fall short of `costMs` by half an ulp of the state (see the README).
      const next = Math.max(state, now) + costMs
      d.allowed = true
      d.state = next
      d.resetAfterMs = next - now
      d.remaining = clampTokens(burst - need * tokensPerMs)
      d.retryAfterMs = 0
      return d
    }
    d.allowed = false
    d.remaining = clampTokens(burst - debt * tokensPerMs)
    d.retryAfterMs = exactWait(state, now, costMs, need - tolerance)
    return d
  }

  /**
   * `need - tolerance` is the exact wait in real numbers; in floating point,
   * `now + wait` can land one ulp short of the admission point. Nudge the
   * wait up until the same arithmetic `take` uses admits it, so that a client
   * waiting exactly `retryAfterMs` is admitted (retry hints are exact, not guesses).
   */
  function exactWait(state: number, now: number, costMs: number, wait: number): number {
    let w = wait
    for (let i = 0; i < 64 && !fits(state, now + w, costMs); i++) {
      w += Math.max(Number.EPSILON * Math.abs(now + w), Number.MIN_VALUE) * 2 ** Math.min(i, 52)
    }
    return w
  }

  function charge(state: number, now: number, cost: number): number {
    if (!Number.isFinite(now) || !Number.isFinite(cost) || Number.isNaN(state)) return state
    const base = Math.max(state, now)
    const next = base + cost * msPerToken
    return next > now ? next : now
  }

  return { burst, msPerToken, tokensPerMs, take, tokensAt, charge }
}
