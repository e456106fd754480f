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

/** One limit of a list policy, as a store sees it. */
export interface StoreLimit {
  /** The limit's name within its policy (e.g. `tokens`). */
  readonly name: string
  /** Unique per policy and limit (`<policy>#<limit>`): a store keeps each limit's state apart under it. */
  readonly id: string
  readonly bucket: TokenBucket
}

/**
 * `takeLimits`'s mode: `take` charges every limit its cost when all of them
 * admit it, and none otherwise; `peek` reads the states and charges nothing.
 */
export type LimitsMode = 'take' | 'peek'

/** A store's answer for the limits of a list policy. */
export interface StoreLimitsAnswer {
  /** True when every limit admitted its cost (and, for `take`, each was charged); false when none was charged. */
  allowed: boolean
  /** Each limit's state before this call, in order (`FULL_BUCKET_STATE` for a key it did not hold). */
  states: number[]
  /** The time the store decided at: the limiter's `now`, or its own clock (Redis). */
  now: number
}

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
  /**
   * Forgets `key` under `policy` (its bucket becomes full); for a list
   * policy, `limits` names the limits whose state to forget.
   */
  reset(policy: string, key: string, limits?: readonly StoreLimit[]): MaybePromise<void>
  /**
   * A list policy's decision, atomically: `costs[i]` tokens from
   * `limits[i]`'s bucket for `key`, all of them or none (see `LimitsMode`).
   * Needed only by limiters with list policies; `memoryStore()` and
   * `redisStore()` implement it.
   */
  takeLimits?(
    policy: string,
    key: string,
    limits: readonly StoreLimit[],
    now: number,
    costs: readonly number[],
    mode: LimitsMode,
  ): MaybePromise<StoreLimitsAnswer>
  /**
   * Charges `costs[i]` (negative: gives back) to each limit unconditionally
   * (`TokenBucket.charge`): how `settle` applies the difference between a
   * reservation and the actual cost. A bucket may go below zero.
   */
  chargeLimits?(
    policy: string,
    key: string,
    limits: readonly StoreLimit[],
    now: number,
    costs: readonly number[],
  ): MaybePromise<void>
  /** Current counters, when the store keeps any. */
  stats?(): StoreStats
}

export function isPromiseLike<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null)?.then === 'function'
}
