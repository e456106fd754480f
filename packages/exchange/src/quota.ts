/**
 * What a handler reads and does about the current request's quota, written
 * once for every adapter: the decisions the rate limits made on it, and
 * `settleRateLimit` to charge the actual cost once it is known (tokens a
 * generation used). Each adapter exports both over its port's `decisions`.
 */
import type { Cost, MaybePromise, RateLimitDecision, RateLimitHandler } from '@cortex/token-bucket'

type Settle = RateLimitHandler<unknown>['settle']

/**
 * The `settle` of every copy of @cortex/token-bucket a pipeline was built
 * with (one function per copy, so this holds one entry in practice). The
 * exchange does not import @cortex/token-bucket (an optional peer): it
 * learns how to settle from the limiters' handlers.
 */
const settlers = new Set<Settle>()

/** Called by `createPipeline` for its rate limit's handler. */
export function learnSettle(settle: Settle): void {
  if (settlers.size < 8) settlers.add(settle)
}

function settleAll(decisions: readonly RateLimitDecision[], actual: Cost): MaybePromise<void> {
  if (decisions.length === 0) return
  const pending: Promise<void>[] = []
  for (const settle of settlers) {
    const done = settle(decisions, actual)
    if (done !== undefined) pending.push(done)
  }
  if (pending.length > 0) return Promise.all(pending).then(() => undefined)
}

export interface QuotaAccess<Req> {
  /** The decisions every rate limit made on this request, in order (empty when none). */
  rateLimitDecisions(req: Req): readonly RateLimitDecision[]
  /**
   * Settles this request's reservations with the actual cost (see
   * `RateLimiter.settle`): each unit `actual` names is charged the difference
   * from what was reserved. Never rejects; without a reservation it does
   * nothing. Unsettled, a successful response keeps its reservation and a
   * failed one (status >= 400, or the client left) gives back every unit
   * but requests.
   */
  settleRateLimit(req: Req, actual: Cost): MaybePromise<void>
}

/** The two quota functions over an adapter's way of keeping a request's decisions. */
export function quotaAccess<Req>(
  decisionsOf: (req: Req) => readonly RateLimitDecision[] | undefined,
): QuotaAccess<Req> {
  return {
    rateLimitDecisions: (req) => decisionsOf(req) ?? [],
    settleRateLimit: (req, actual) => settleAll(decisionsOf(req) ?? [], actual),
  }
}
