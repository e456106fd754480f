/**
 * The decision the limiter reports for one request: the figures a client
 * needs (remaining requests, when to retry, when the bucket is full again)
 * in whole units, with the exact millisecond values beside them.
 */

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
}
