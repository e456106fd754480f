/**
 * List policies: several limits (requests per minute, tokens per minute,
 * requests per day, …) decided together for one request, all or nothing,
 * and a cost settled once it is known.
 *
 * - A cost is a number (the `requests` cost, as for a single-rate policy) or
 *   an object by unit; a limit whose unit the cost omits is charged 1 for
 *   `requests` and 0 otherwise.
 * - The store decides every limit of a request in one atomic call
 *   (`takeLimits`): admitted only when every limit admits its cost; a
 *   refused request charges no limit. The figures come from `@cortex/core`'s
 *   arithmetic on the states the store read, as for one limit.
 * - `settle(decision, actual)` charges each limit the difference between
 *   what the decision reserved and the actual cost (`chargeLimits`): a
 *   refund never exceeds the reservation; an overrun is owed (the bucket goes
 *   below zero and the client's next request waits for it). It never
 *   rejects; settling a decision twice, or one that reserved nothing, is
 *   ignored and counted.
 *
 * The store failure policy is the single-rate one (`store-guard.ts`): a
 * deadline, the outage with its probes, the fallback store, `onStoreError`.
 */
import { CortexError } from '@cortex/core'
import { blindDecision, inadmissibleDecision, limitsDecision, type RateLimitDecision } from './decision.js'
import type { LimiterState } from './limiter-state.js'
import { REQUESTS } from './policies.js'
import type { LimitRuntime, Runtime } from './policy-runtime.js'
import { ALLOWED, DENIED } from './rate-limit-metrics.js'
import {
  isPromiseLike,
  type LimitsMode,
  type MaybePromise,
  type RateLimitStore,
  type StoreLimitsAnswer,
} from './store.js'
import { mayTryStore, storeAnswered, storeFailed, withTimeout } from './store-guard.js'

/** A request's cost: the `requests` cost, or costs by unit (`{ requests: 1, tokens: 800 }`). */
export type Cost = number | Readonly<Record<string, number>>

/** What an admitted list decision reserved, kept until it is settled. */
interface Reservation {
  readonly s: LimiterState
  readonly rt: Runtime
  readonly key: string
  readonly costs: readonly number[]
  readonly store: RateLimitStore
}

/**
 * Reservations by decision. A WeakMap keeps the client key off the decision
 * object (which users log and serialise) and lets an unsettled decision be
 * collected with its reservation.
 */
const reservations = new WeakMap<RateLimitDecision, Reservation>()

/** The `requests` cost of a single-rate policy from either form of cost. */
export function requestsCost(cost: Cost): number {
  if (typeof cost === 'number') return cost
  if (typeof cost !== 'object' || cost === null) return Number.NaN
  const requests = (cost as Record<string, unknown>)[REQUESTS]
  return requests === undefined ? 1 : (requests as number)
}

/** Each limit's cost, in the limits' order (see `Cost`). NaN marks a value that is not a cost. */
export function costsFor(limits: readonly LimitRuntime[], cost: Cost): number[] {
  const costs: number[] = new Array(limits.length)
  const byUnit = typeof cost === 'object' && cost !== null ? (cost as Record<string, unknown>) : undefined
  for (let i = 0; i < limits.length; i++) {
    const unit = (limits[i] as LimitRuntime).unit
    let c: unknown
    if (byUnit !== undefined) c = Object.hasOwn(byUnit, unit) ? byUnit[unit] : unit === REQUESTS ? 1 : 0
    else if (typeof cost === 'number') c = unit === REQUESTS ? cost : 0
    costs[i] = typeof c === 'number' ? c : Number.NaN
  }
  return costs
}

/** A list policy's decision through the store (or the failure policy), counted when `counted`. */
export function decideLimits(
  s: LimiterState,
  rt: Runtime,
  key: string,
  cost: Cost,
  mode: LimitsMode,
  counted: boolean,
): MaybePromise<RateLimitDecision> {
  const limits = rt.limits as readonly LimitRuntime[]
  const costs = costsFor(limits, cost)
  for (let i = 0; i < limits.length; i++) {
    const c = costs[i] as number
    if (!(c >= 0 && c <= (limits[i] as LimitRuntime).bucket.burst)) {
      // Never admissible (or not a cost at all): no store round trip.
      const d = Number.isNaN(c)
        ? inadmissibleDecision(rt, c)
        : limitsDecision(
            rt,
            costs,
            false,
            limits.map(() => Number.NEGATIVE_INFINITY),
            0,
            false,
            false,
          )
      if (counted) s.count(rowOf(rt, d), DENIED)
      return d
    }
  }
  const now = s.tick()
  if (!mayTryStore(s, now)) return failover(s, rt, key, costs, mode, counted)
  const probing = s.outage !== undefined
  const store = s.store
  let r: MaybePromise<StoreLimitsAnswer>
  try {
    r = callStore(store, rt, key, now, costs, mode)
  } catch (err) {
    storeFailed(s, err, false, rt.description.name, probing)
    return failover(s, rt, key, costs, mode, counted)
  }
  if (!isPromiseLike(r)) {
    if (s.outage !== undefined) storeAnswered(s)
    return finish(s, rt, key, costs, mode, counted, r, false, store)
  }
  return withTimeout(
    s,
    r,
    (answer) => {
      storeAnswered(s)
      return finish(s, rt, key, costs, mode, counted, answer, false, store)
    },
    (err, timeout) => {
      storeFailed(s, err, timeout, rt.description.name, probing)
      return failover(s, rt, key, costs, mode, counted)
    },
  )
}

function callStore(
  store: RateLimitStore,
  rt: Runtime,
  key: string,
  now: number,
  costs: readonly number[],
  mode: LimitsMode,
): MaybePromise<StoreLimitsAnswer> {
  if (typeof store.takeLimits !== 'function') {
    throw new CortexError(
      'ERR_CORTEX_STORE',
      `The ${store.name} store cannot decide list policies (no takeLimits)`,
    )
  }
  return store.takeLimits(rt.description.name, key, rt.limits as readonly LimitRuntime[], now, costs, mode)
}

/** The counter row of a list decision: its binding limit's. */
function rowOf(rt: Runtime, d: RateLimitDecision): number {
  const limits = rt.limits as readonly LimitRuntime[]
  for (const l of limits) if (l.name === d.binding) return l.row
  return (limits[0] as LimitRuntime).row
}

function finish(
  s: LimiterState,
  rt: Runtime,
  key: string,
  costs: readonly number[],
  mode: LimitsMode,
  counted: boolean,
  answer: StoreLimitsAnswer,
  degraded: false | 'fallback',
  store: RateLimitStore,
): RateLimitDecision {
  const charged = answer.allowed && mode === 'take'
  const d = limitsDecision(rt, costs, answer.allowed, answer.states, answer.now, charged, degraded)
  if (counted) s.count(rowOf(rt, d), d.allowed ? ALLOWED : DENIED)
  if (charged) reservations.set(d, { s, rt, key, costs, store })
  return d
}

/** Decides without the store: from the fallback store when it can, else by `onStoreError` (no figures). */
function failover(
  s: LimiterState,
  rt: Runtime,
  key: string,
  costs: readonly number[],
  mode: LimitsMode,
  counted: boolean,
): MaybePromise<RateLimitDecision> {
  const blind = (allow: boolean): RateLimitDecision => {
    const limits = rt.limits as readonly LimitRuntime[]
    if (counted) s.count((limits[0] as LimitRuntime).row, allow ? ALLOWED : DENIED)
    return blindDecision(rt, costs[0] as number, allow, s.config.retryIntervalMs)
  }
  const fallback = s.config.fallback
  if (fallback === undefined || typeof fallback.takeLimits !== 'function') {
    return blind(s.config.onStoreError === 'allow' || fallback !== undefined)
  }
  const now = s.tick()
  let r: MaybePromise<StoreLimitsAnswer>
  try {
    r = callStore(fallback, rt, key, now, costs, mode)
  } catch {
    return blind(true)
  }
  if (!isPromiseLike(r)) return finish(s, rt, key, costs, mode, counted, r, 'fallback', fallback)
  return withTimeout(
    s,
    r,
    (answer) => finish(s, rt, key, costs, mode, counted, answer, 'fallback', fallback),
    () => blind(true),
  )
}

/**
 * `RateLimiter.settle`: charges the difference between what `decision`
 * reserved and `actual`, per limit whose unit `actual` names (a number names
 * `requests`). Never rejects; a second settle, a decision that reserved
 * nothing (refused, unlimited, single-rate, decided blind) or an `actual`
 * that is not a cost is ignored and counted.
 */
export function settle(s: LimiterState, decision: RateLimitDecision, actual: Cost): MaybePromise<void> {
  const r = typeof decision === 'object' && decision !== null ? reservations.get(decision) : undefined
  if (r === undefined || r.s !== s) {
    s.counts.settlesIgnored++
    return
  }
  return settleReserved(r, decision, actual)
}

/**
 * Settles every decision of `decisions` that holds a reservation (a
 * request's decisions, as adapters keep them) with `actual`, each by the
 * limiter that made it; the others are left alone. Never rejects.
 */
export function settleDecisions(decisions: readonly RateLimitDecision[], actual: Cost): MaybePromise<void> {
  const pending: Promise<void>[] = []
  for (const d of decisions) {
    const r = reservations.get(d)
    if (r === undefined) continue
    const done = settleReserved(r, d, actual)
    if (isPromiseLike(done)) pending.push(done)
  }
  if (pending.length > 0) return Promise.all(pending).then(() => undefined)
}

/**
 * For a response that failed (status >= 400, or the client left): gives
 * back what unsettled decisions reserved in every unit but requests — the
 * request still counts, the work it reserved for did not happen.
 */
export function refundUnsettled(decisions: readonly RateLimitDecision[]): MaybePromise<void> {
  const pending: Promise<void>[] = []
  for (const d of decisions) {
    const r = reservations.get(d)
    if (r === undefined) continue
    const actual: Record<string, number> = {}
    for (const l of r.rt.limits as readonly LimitRuntime[]) if (l.unit !== REQUESTS) actual[l.unit] = 0
    const done = settleReserved(r, d, actual)
    if (isPromiseLike(done)) pending.push(done)
  }
  if (pending.length > 0) return Promise.all(pending).then(() => undefined)
}

function settleReserved(r: Reservation, decision: RateLimitDecision, actual: Cost): MaybePromise<void> {
  const s = r.s
  const limits = r.rt.limits as readonly LimitRuntime[]
  const named =
    typeof actual === 'object' && actual !== null ? (actual as Record<string, unknown>) : undefined
  const deltas: number[] = new Array(limits.length)
  let changed = false
  for (let i = 0; i < limits.length; i++) {
    const unit = (limits[i] as LimitRuntime).unit
    const given =
      named !== undefined
        ? Object.hasOwn(named, unit)
          ? named[unit]
          : undefined
        : unit === REQUESTS
          ? actual
          : undefined
    if (given === undefined) {
      deltas[i] = 0
      continue
    }
    if (typeof given !== 'number' || !(given >= 0) || given === Number.POSITIVE_INFINITY) {
      s.counts.settlesIgnored++
      return
    }
    const delta = given - (r.costs[i] as number)
    deltas[i] = delta
    if (delta !== 0) changed = true
  }
  if (named === undefined && typeof actual !== 'number') {
    s.counts.settlesIgnored++
    return
  }
  reservations.delete(decision)
  s.counts.settles++
  if (!changed) return
  const store = r.store
  let done: MaybePromise<void>
  try {
    done = (store.chargeLimits as NonNullable<RateLimitStore['chargeLimits']>)(
      r.rt.description.name,
      r.key,
      limits,
      s.tick(),
      deltas,
    )
  } catch {
    s.counts.storeErrors++
    return
  }
  if (isPromiseLike(done)) {
    return done.then(
      () => undefined,
      () => {
        s.counts.storeErrors++
      },
    )
  }
}
