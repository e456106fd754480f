/**
 * The port between the limiter and where bucket state lives. A store applies
 * one token-bucket step (GCRA, `@cortex/core`'s arithmetic) to one key
 * atomically and reports the decision; the limiter owns everything else
 * (policies, timeouts, failure policy, headers).
 */
import type { TokenBucket, TokenBucketDecision } from '@cortex/core'

/** What a store may return: a plain value (memory) or a promise (network). */
export type MaybePromise<T> = T | Promise<T>

/**
 * A store's decision. A store that decides with its own clock (Redis) sets
 * `now` to the time it used, so the limiter can derive exact figures from
 * `state` without another round trip.
 */
export type StoreDecision = TokenBucketDecision & { now?: number }

/** Counters a store may expose for metrics. */
export interface StoreStats {
  /** Keys currently held. */
  keys: number
  /** Keys dropped while their bucket still held information (least recently used first). */
  evictions: number
}

/**
 * A place to keep bucket state. `memoryStore()` and `redisStore()` implement
 * it; any object of this shape works (e.g. a fallback for `onStoreError`).
 *
 * @example
 * const store: RateLimitStore = memoryStore({ maxKeys: 100_000 })
 * const limiter = createRateLimiter({ policies, store })
 */
export interface RateLimitStore {
  /** Short name for logs and metric labels, e.g. `memory` or `redis`. */
  readonly name: string
  /**
   * Takes `cost` tokens from `key` under `policy` at `now` (the limiter's
   * clock, ms; a store with its own clock, such as Redis, may ignore it) and
   * returns the decision; `state` is the key's stored state afterwards. Cost
   * 0 reports without consuming. `out`, when given, may be filled and
   * returned instead of allocating (synchronous stores only).
   */
  take(
    policy: string,
    key: string,
    bucket: TokenBucket,
    now: number,
    cost: number,
    out?: TokenBucketDecision,
  ): MaybePromise<StoreDecision>
  /** Forgets `key` under `policy` (its bucket becomes full). */
  reset(policy: string, key: string): MaybePromise<void>
  /** Current counters, when the store keeps any. */
  stats?(): StoreStats
}

export function isPromiseLike<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function'
}
