/**
 * Every store call the limiter makes, and the failure policy around it: a
 * deadline (`storeTimeoutMs`) on an answer that is a promise, the outage
 * (while the store is failing, one request per `storeRetryIntervalMs`
 * probes it and the rest follow `onStoreError`), the fallback store, the
 * warnings and events of an outage and a recovery, and the decision
 * counters. `take` is the one entry; it decides for one limit (a policy's
 * runtime and the bucket to take from), so a decision over several limits
 * calls it once per limit.
 */
import { CortexError, type TokenBucket } from '@cortex/core'
import {
  blindDecision,
  consumedDecision,
  inadmissibleDecision,
  type Mode,
  type RateLimitDecision,
  storeDecision,
  unlimitedDecision,
} from './decision.js'
import type { LimiterState } from './limiter-state.js'
import { type Cost, decideLimits, requestsCost } from './list-policy.js'
import type { Runtime } from './policy-runtime.js'
import { ALLOWED, DENIED, UNLIMITED } from './rate-limit-metrics.js'
import { emit, inform, warn } from './rate-limiter-options.js'
import { isPromiseLike, type MaybePromise, type StoreDecision } from './store.js'

/** `consume` for every case `LimiterState.consume` does not take: unknown or unlimited policies, odd input, an outage. */
export function slowConsume(
  s: LimiterState,
  key: string,
  policy: string,
  cost: Cost,
): MaybePromise<RateLimitDecision> {
  const hit = s.resolve(policy)
  if (hit === undefined) return unlimited(s, '', s.unmatchedRow, requestsCost(cost), true)
  if (hit.rt === undefined) return unlimited(s, hit.d.name, hit.index, requestsCost(cost), true)
  const k = typeof key === 'string' ? key : String(key)
  if (hit.rt.limits !== undefined) return decideLimits(s, hit.rt, k, cost, 'take', true)
  return take(s, hit.rt, k, requestsCost(cost), hit.rt.bucket, 'consume', true)
}

/** The decision for an unlimited policy (or none), counted in `row` when `counted`. */
export function unlimited(
  s: LimiterState,
  policy: string,
  row: number,
  cost: number,
  counted: boolean,
): RateLimitDecision {
  if (counted) s.count(row, UNLIMITED)
  return unlimitedDecision(policy, cost)
}

/** One decision through the store, the failure policy and the counters. */
export function take(
  s: LimiterState,
  rt: Runtime,
  key: string,
  cost: number,
  bucket: TokenBucket,
  mode: Mode,
  counted: boolean,
): MaybePromise<RateLimitDecision> {
  // Checked against the policy's own burst: a delay bucket is larger, but
  // throttling must not admit what the bucket never could.
  if (!(cost >= 0 && cost <= rt.bucket.burst)) {
    // Never admissible (or not a cost at all): no store round trip.
    if (counted) s.count(rt.index, DENIED)
    return inadmissibleDecision(rt, cost)
  }
  const now = s.tick()
  if (!mayTryStore(s, now)) return failover(s, rt, key, cost, bucket, mode, counted)
  const probing = s.outage !== undefined
  let r: MaybePromise<StoreDecision>
  try {
    r = s.store.take(rt.description.name, key, bucket, now, mode === 'peek' ? 0 : cost, s.scratch)
  } catch (err) {
    storeFailed(s, err, false, rt.description.name, probing)
    return failover(s, rt, key, cost, bucket, mode, counted)
  }
  return afterStore(s, rt, key, cost, bucket, mode, counted, r, now, probing)
}

/** The store threw on `LimiterState.consume`'s path: the failure policy decides. */
export function storeThrew(
  s: LimiterState,
  rt: Runtime,
  key: string,
  cost: number,
  err: unknown,
): MaybePromise<RateLimitDecision> {
  storeFailed(s, err, false, rt.description.name, false)
  return failover(s, rt, key, cost, rt.bucket, 'consume', true)
}

/** A decision from the store's answer `r` (synchronous or not), with the failure policy on a late or failed one. */
export function afterStore(
  s: LimiterState,
  rt: Runtime,
  key: string,
  cost: number,
  bucket: TokenBucket,
  mode: Mode,
  counted: boolean,
  r: MaybePromise<StoreDecision>,
  now: number,
  probing: boolean,
): MaybePromise<RateLimitDecision> {
  if (r === s.scratch && mode === 'consume') {
    // The synchronous path (memory store): no promise, one allocation.
    if (s.outage !== undefined) storeAnswered(s)
    s.count(rt.index, r.allowed ? ALLOWED : DENIED)
    return consumedDecision(rt, r, cost)
  }
  if (!isPromiseLike(r)) {
    if (s.outage !== undefined) storeAnswered(s)
    return settle(s, rt, r, cost, false, mode, counted, now)
  }
  return withTimeout(
    s,
    r,
    (td) => {
      storeAnswered(s)
      return settle(s, rt, td, cost, false, mode, counted, now)
    },
    (err, timeout) => {
      storeFailed(s, err, timeout, rt.description.name, probing)
      return failover(s, rt, key, cost, bucket, mode, counted)
    },
  )
}

/** `storeDecision`, counted when `counted`. */
function settle(
  s: LimiterState,
  rt: Runtime,
  td: StoreDecision,
  cost: number,
  degraded: false | 'fallback',
  mode: Mode,
  counted: boolean,
  now: number,
): RateLimitDecision {
  const d = storeDecision(rt, td, cost, degraded, mode, now)
  if (counted) s.count(rt.index, d.allowed ? ALLOWED : DENIED)
  return d
}

/** The failure policy's decision, `allow`/`deny` without figures, counted when `counted`. */
function blind(
  s: LimiterState,
  rt: Runtime,
  cost: number,
  allow: boolean,
  counted: boolean,
): RateLimitDecision {
  if (counted) s.count(rt.index, allow ? ALLOWED : DENIED)
  return blindDecision(rt, cost, allow, s.config.retryIntervalMs)
}

/** Decides without the store: from the fallback store when there is one, else by `onStoreError`. */
function failover(
  s: LimiterState,
  rt: Runtime,
  key: string,
  cost: number,
  bucket: TokenBucket,
  mode: Mode,
  counted: boolean,
): MaybePromise<RateLimitDecision> {
  const fallback = s.config.fallback
  if (fallback === undefined) return blind(s, rt, cost, s.config.onStoreError === 'allow', counted)
  const onFallbackFailure = () => blind(s, rt, cost, true, counted)
  const now = s.tick()
  let r: MaybePromise<StoreDecision>
  try {
    r = fallback.take(rt.description.name, key, bucket, now, mode === 'peek' ? 0 : cost, s.scratch)
  } catch {
    return onFallbackFailure()
  }
  if (!isPromiseLike(r)) return settle(s, rt, r, cost, 'fallback', mode, counted, now)
  return withTimeout(s, r, (td) => settle(s, rt, td, cost, 'fallback', mode, counted, now), onFallbackFailure)
}

/**
 * Settles `pending` within `storeTimeoutMs`: `onValue` on an answer,
 * `onFailure` on an error or timeout. The returned promise never rejects,
 * and a late rejection of `pending` is always caught.
 */
export function withTimeout<V, T>(
  s: LimiterState,
  pending: Promise<V>,
  onValue: (td: V) => MaybePromise<T>,
  onFailure: (err: unknown, timeout: boolean) => MaybePromise<T>,
): Promise<T> {
  const storeTimeoutMs = s.config.storeTimeoutMs
  return new Promise<T>((resolve) => {
    let settled = false
    const timer = setTimeout(() => {
      if (settled) return
      settled = true
      resolve(
        onFailure(
          new CortexError('ERR_CORTEX_STORE_TIMEOUT', `The store did not answer within ${storeTimeoutMs} ms`),
          true,
        ),
      )
    }, storeTimeoutMs)
    timer.unref?.()
    pending.then(
      (td) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        resolve(onValue(td))
      },
      (err: unknown) => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        resolve(onFailure(err, false))
      },
    )
  })
}

/** Counts a store failure; the first of an outage starts it (warning and event), a failed probe schedules the next. */
export function storeFailed(
  s: LimiterState,
  err: unknown,
  timeout: boolean,
  policy: string,
  wasProbe: boolean,
): void {
  if (timeout) s.counts.storeTimeouts++
  else s.counts.storeErrors++
  const now = s.tick()
  const outage = s.outage
  const { store, fallback, onStoreError, retryIntervalMs, warnings } = s.config
  if (outage === undefined) {
    s.outage = { since: now, nextProbeAt: now + retryIntervalMs, probing: false }
    if (warnings.storeErrors !== false) {
      const reason = timeout
        ? `no answer within storeTimeoutMs=${s.config.storeTimeoutMs}`
        : String((err as Error)?.message ?? err)
      const policyText = fallback ? `the fallback store (${fallback.name})` : `onStoreError='${onStoreError}'`
      warn(
        s.config,
        `ERR_CORTEX_STORE: the ${store.name} store failed (${reason}); deciding with ${policyText} until it answers again.`,
      )
    }
    emit(s.config, { type: 'store-error', store: store.name, error: err, timeout, policy })
  } else if (wasProbe) {
    outage.probing = false
    outage.nextProbeAt = now + retryIntervalMs
  }
}

/** Ends an outage, if there is one (a note to the logger and an event). */
export function storeAnswered(s: LimiterState): void {
  const outage = s.outage
  if (outage === undefined) return
  const downMs = s.tick() - outage.since
  s.outage = undefined
  const store = s.config.store
  if (s.config.warnings.storeErrors !== false) {
    inform(s.config, `the ${store.name} store answers again after ${Math.round(downMs)} ms.`)
  }
  emit(s.config, { type: 'store-recovered', store: store.name, downMs })
}

/** While the store is down, only one request at a time, once per interval, tries it. */
export function mayTryStore(s: LimiterState, now: number): boolean {
  const outage = s.outage
  if (outage === undefined) return true
  if (outage.probing || now < outage.nextProbeAt) return false
  outage.probing = true
  return true
}
