/**
 * The one object that holds a limiter's state — its validated options, its
 * policies, its clock reading, the store outage, the counters the metrics
 * read, the requests throttling holds — and the common `consume` (a known
 * policy, a synchronous store that is up) as its method.
 *
 * Every other step is a module-level function that takes this object as its
 * first argument (`store-guard.ts`, `throttle.ts`, `rate-limit-handler.ts`);
 * nothing here calls back into closures. Kept out of `createRateLimiter`'s
 * closures on purpose: V8 compiles a closure for its own captured variables
 * only while it is the only closure of its kind, so once a second limiter ran
 * in the process (a test, a second app, the benchmark's next section) every
 * limiter's decisions fell back to generic code. A method or a module-level
 * function reading fields of one class stays specialised for every instance.
 */
import type { TokenBucketDecision } from '@cortex/core'
import { consumedDecision, type RateLimitDecision } from './decision.js'
import type { Cost } from './list-policy.js'
import type { PolicyMatcher } from './policies.js'
import { buildPolicyTable, type CounterRow, type PolicyEntry } from './policy-runtime.js'
import { ALLOWED, DENIED, type Outcome, type RateLimitCounters } from './rate-limit-metrics.js'
import type { LimiterConfig } from './rate-limiter-options.js'
import type { MaybePromise, RateLimitStore, StoreDecision } from './store.js'
import { afterStore, slowConsume, storeThrew } from './store-guard.js'

export interface Outage {
  since: number
  nextProbeAt: number
  probing: boolean
}

/** A request throttling holds: its timer, and how `close` rejects it. */
export interface HeldWait {
  timer: ReturnType<typeof setTimeout>
  reject: (err: unknown) => void
}

export class LimiterState {
  /** The last policy name resolved by name, and its entry: requests mostly repeat a few names. */
  lastPolicy: string | undefined = undefined
  lastHit: PolicyEntry | undefined = undefined
  /** The latest clock reading: the clock as the limiter sees it never goes backwards (a step back would re-grant tokens). */
  latest = Number.NEGATIVE_INFINITY
  /** Set while the store is failing. */
  outage: Outage | undefined = undefined
  /** Filled by a synchronous store instead of allocating a decision. */
  readonly scratch: TokenBucketDecision = {
    allowed: false,
    remaining: 0,
    retryAfterMs: 0,
    resetAfterMs: 0,
    state: 0,
  }
  /** The refill-rate scale `setRateScale` set. */
  scale = 1
  /** Read by the metrics collector at scrape time. */
  readonly counts: RateLimitCounters
  /** `counts.decisions`: [allowed, denied, unlimited] per policy row, then the "no policy matched" row. */
  readonly decisions: Float64Array
  /** Requests throttling holds, so `close` can reject them. */
  readonly held = new Set<HeldWait>()
  /** Whether the untrusted-proxy warning went out (it goes out once). */
  proxyWarned = false
  readonly store: RateLimitStore
  readonly clock: () => number
  readonly byName: Map<string, PolicyEntry>
  readonly matcher: PolicyMatcher<PolicyEntry>
  readonly unmatchedRow: number
  /** What each counter row counts (a policy, or a list policy's limit). */
  readonly rows: readonly CounterRow[]
  readonly exactRoutes: Map<string, string>

  constructor(readonly config: LimiterConfig) {
    const table = buildPolicyTable(config.descriptions)
    this.store = config.store
    this.clock = config.clock
    this.byName = table.byName
    this.matcher = table.matcher
    this.unmatchedRow = table.unmatchedRow
    this.exactRoutes = table.exactRoutes
    this.rows = table.rows
    this.decisions = new Float64Array((table.rows.length + 1) * 3)
    this.counts = {
      decisions: this.decisions,
      storeErrors: 0,
      storeTimeouts: 0,
      pendingWaits: 0,
      settles: 0,
      settlesIgnored: 0,
    }
  }

  /** The clock, never going backwards. */
  tick(): number {
    const t = this.clock()
    if (t > this.latest) this.latest = t
    else if (this.latest === Number.NEGATIVE_INFINITY) this.latest = Date.now()
    return this.latest
  }

  /** Counts one decision of `row` (a policy's index, or `unmatchedRow`). */
  count(row: number, outcome: Outcome): void {
    const i = row * 3 + outcome
    this.decisions[i] = (this.decisions[i] as number) + 1
  }

  /** A policy by configured name, or by request line (`METHOD /path`) against the patterns. */
  resolve(policy: string): PolicyEntry | undefined {
    if (policy === this.lastPolicy) return this.lastHit
    const hit = this.byName.get(policy)
    if (hit !== undefined) {
      this.lastPolicy = policy
      this.lastHit = hit
      return hit
    }
    return typeof policy === 'string' ? this.matchLine(policy) : undefined
  }

  /** A name that is not a configured policy key, as a request line (`METHOD /path`) against the patterns. */
  matchLine(policy: string): PolicyEntry | undefined {
    const space = policy.indexOf(' ')
    return space === -1
      ? undefined
      : this.matcher.match(policy.slice(0, space), policy.slice(space + 1).trim())
  }

  /** `consume`; every case but the common one goes to `slowConsume`. */
  consume(key: string, policy: string, cost: Cost): MaybePromise<RateLimitDecision> {
    const rt = this.resolve(policy)?.rt
    if (
      rt === undefined ||
      typeof cost !== 'number' ||
      rt.limits !== undefined ||
      this.outage !== undefined ||
      typeof key !== 'string' ||
      !(cost >= 0 && cost <= rt.bucket.burst)
    ) {
      return slowConsume(this, key, policy, cost)
    }
    const now = this.tick()
    let r: MaybePromise<StoreDecision>
    try {
      r = this.store.take(rt.description.name, key, rt.bucket, now, cost, this.scratch)
    } catch (err) {
      return storeThrew(this, rt, key, cost, err)
    }
    if (r !== this.scratch) return afterStore(this, rt, key, cost, rt.bucket, 'consume', true, r, now, false)
    this.count(rt.index, r.allowed ? ALLOWED : DENIED)
    return consumedDecision(rt, r, cost)
  }
}
