/**
 * Throttling: instead of refusing a request at once, reserve the tokens it
 * will be admitted with (on a delay bucket, the policy's enlarged by what
 * refills in `maxDelayMs`) and hold it until then. At most
 * `maxPendingWaits` requests are held; `close` rejects the ones still held.
 */
import { CortexConfigError, CortexError, NEVER } from '@cortex/core'
import type { RateLimitDecision } from './decision.js'
import type { HeldWait, LimiterState } from './limiter-state.js'
import { type Cost, decideLimits, requestsCost } from './list-policy.js'
import { delayBucket, type Runtime } from './policy-runtime.js'
import { isPromiseLike, type MaybePromise } from './store.js'
import { take, unlimited } from './store-guard.js'

export interface WaitOptions {
  /** Longest wait accepted, in ms; beyond it `wait` rejects at once. Default 0. */
  maxDelayMs?: number
}

/** Resolves with `d` once its `delayMs` has passed (at once when there is none). */
function hold(s: LimiterState, d: RateLimitDecision): Promise<RateLimitDecision> {
  if (d.delayMs <= 0) return Promise.resolve(d)
  return new Promise<RateLimitDecision>((resolveHold, rejectHold) => {
    const entry: HeldWait = {
      timer: setTimeout(() => {
        s.held.delete(entry)
        resolveHold(d)
      }, Math.ceil(d.delayMs)),
      reject: rejectHold,
    }
    entry.timer.unref?.()
    s.held.add(entry)
  })
}

/** Reserves tokens admitted within `maxDelayMs`, then holds until then. Resolves with denials too. */
export function reserveAndHold(
  s: LimiterState,
  rt: Runtime,
  key: string,
  given: Cost,
  maxDelayMs: number,
): MaybePromise<RateLimitDecision> {
  // A list policy decides at once (throttling holds single-rate policies only).
  if (rt.limits !== undefined) return decideLimits(s, rt, key, given, 'take', true)
  const cost = typeof given === 'number' ? given : requestsCost(given)
  const counts = s.counts
  if (maxDelayMs <= 0 || counts.pendingWaits >= s.config.maxPendingWaits)
    return take(s, rt, key, cost, rt.bucket, 'consume', true)
  counts.pendingWaits++
  const done = (d: RateLimitDecision) => {
    counts.pendingWaits--
    return d
  }
  const settle = (d: RateLimitDecision): Promise<RateLimitDecision> =>
    hold(s, d).then(done, (err: unknown) => {
      counts.pendingWaits--
      throw err
    })
  const r = take(s, rt, key, cost, delayBucket(rt, maxDelayMs, s.scale), 'throttle', true)
  if (isPromiseLike(r)) return r.then(settle)
  if (r.delayMs <= 0) return done(r)
  return settle(r)
}

/** `RateLimiter.wait`. */
export function wait(
  s: LimiterState,
  key: string,
  policy: string,
  cost: Cost,
  waitOptions: WaitOptions,
): Promise<RateLimitDecision> {
  const maxDelayMs = waitOptions?.maxDelayMs ?? 0
  if (!(typeof maxDelayMs === 'number' && maxDelayMs >= 0 && maxDelayMs <= 2 ** 31 - 1)) {
    return Promise.reject(
      new CortexConfigError('maxDelayMs', maxDelayMs, 'a number of milliseconds in [0, 2147483647]', 'wait'),
    )
  }
  const hit = s.resolve(policy)
  if (hit === undefined) return Promise.resolve(unlimited(s, '', s.unmatchedRow, requestsCost(cost), true))
  if (hit.rt === undefined)
    return Promise.resolve(unlimited(s, hit.d.name, hit.index, requestsCost(cost), true))
  const maxPendingWaits = s.config.maxPendingWaits
  if (s.counts.pendingWaits >= maxPendingWaits) {
    return Promise.reject(
      new CortexError(
        'ERR_CORTEX_QUEUE_FULL',
        `${maxPendingWaits} requests are already waiting (maxPendingWaits)`,
      ),
    )
  }
  const rt = hit.rt
  return Promise.resolve(reserveAndHold(s, rt, String(key), cost, maxDelayMs)).then((d) => {
    if (d.allowed) return d
    const err = new CortexError(
      'ERR_CORTEX_THROTTLE_TIMEOUT',
      d.retryAfterMs === NEVER
        ? `A cost of ${JSON.stringify(cost)} exceeds the burst of policy "${rt.description.name}"; no wait admits it`
        : `Admission under policy "${rt.description.name}" needs ${Math.ceil(d.retryAfterMs)} ms, more than maxDelayMs=${maxDelayMs}`,
    )
    ;(err as CortexError & { decision?: RateLimitDecision }).decision = d
    throw err
  })
}

/** Rejects every held request with `ERR_CORTEX_CLOSED`. */
export function releaseHeld(s: LimiterState): void {
  for (const entry of s.held) {
    clearTimeout(entry.timer)
    entry.reject(
      new CortexError('ERR_CORTEX_CLOSED', 'The rate limiter was closed while this request was held'),
    )
  }
  s.held.clear()
}
