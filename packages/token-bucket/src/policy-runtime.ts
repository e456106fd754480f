/**
 * A configured policy as the limiter runs it: its token bucket at the
 * current rate scale, the buckets throttling decides on, and the table that
 * finds a policy by name or by request line.
 */
import { createTokenBucket, type TokenBucket } from '@cortex/core'
import {
  createPolicyMatcher,
  type LimitDescription,
  type PolicyDescription,
  type PolicyMatcher,
} from './policies.js'
import type { StoreLimit } from './store.js'

/** One limit of a list policy as the limiter runs it (a `StoreLimit` whose bucket follows the rate scale). */
export interface LimitRuntime extends StoreLimit {
  readonly description: LimitDescription
  readonly unit: string
  /** This limit's row in the decision counters. */
  readonly row: number
  bucket: TokenBucket
  limit: number
}

export interface Runtime {
  readonly description: PolicyDescription
  /** The policy's row in the decision counters. */
  readonly index: number
  bucket: TokenBucket
  /** `bucket.burst × bucket.msPerToken`: how far ahead of now the state may run. */
  tolerance: number
  limit: number
  delayBuckets: Map<number, TokenBucket>
  /** A list policy's limits (each with its own counter row); undefined for a single-rate policy. */
  readonly limits: readonly LimitRuntime[] | undefined
}

/** A policy name's entry: its description, its runtime (none when unlimited) and its counter row. */
export interface PolicyEntry {
  d: PolicyDescription
  rt: Runtime | undefined
  index: number
}

/** What a counter row counts: a policy, or one limit of a list policy. */
export interface CounterRow {
  readonly policy: string
  /** The limit's name; '' for a single-rate or unlimited policy. */
  readonly limit: string
}

/** Every policy by configured name, and the matcher that maps a request to one. */
export interface PolicyTable {
  readonly byName: Map<string, PolicyEntry>
  readonly matcher: PolicyMatcher<PolicyEntry>
  /** The counter row of requests no policy matched (after every policy's row). */
  readonly unmatchedRow: number
  /** Every counter row but the unmatched one, in row order. */
  readonly rows: readonly CounterRow[]
  /** Exact-path policies by name → the path as configured (a route a refusal proves). */
  readonly exactRoutes: Map<string, string>
}

function runtimeFigures(description: Pick<PolicyDescription, 'burst' | 'limit' | 'windowMs'>, scale: number) {
  const burst =
    scale === 1 ? description.burst : Math.max(description.burst * scale, Math.min(description.burst, 1))
  const bucket = createTokenBucket({
    burst,
    refillTokens: description.limit * scale,
    refillMs: description.windowMs,
  })
  return {
    bucket,
    tolerance: bucket.burst * bucket.msPerToken,
    limit: scale === 1 ? description.limit : Math.max(1, Math.floor(description.limit * scale)),
  }
}

export function buildRuntime(description: PolicyDescription, index: number, scale: number): Runtime {
  const { bucket, tolerance, limit } = runtimeFigures(description, scale)
  const limits = description.limits?.map((l, i): LimitRuntime => {
    const figures = runtimeFigures(l, scale)
    return {
      name: l.name,
      id: `${description.name}#${l.name}`,
      description: l,
      unit: l.unit,
      row: index + i,
      bucket: figures.bucket,
      limit: figures.limit,
    }
  })
  return { description, index, bucket, tolerance, limit, delayBuckets: new Map(), limits }
}

export function buildPolicyTable(descriptions: readonly PolicyDescription[]): PolicyTable {
  const byName = new Map<string, PolicyEntry>()
  const rows: CounterRow[] = []
  for (const d of descriptions) {
    const index = rows.length
    if (d.limits === undefined) rows.push({ policy: d.name, limit: '' })
    else for (const l of d.limits) rows.push({ policy: d.name, limit: l.name })
    byName.set(d.name, { d, rt: d.unlimited ? undefined : buildRuntime(d, index, 1), index })
  }
  const matcher = createPolicyMatcher(descriptions, (d) => byName.get(d.name) as PolicyEntry)
  const exactRoutes = new Map(
    descriptions
      .filter((d) => d.kind === 'exact')
      .map((d) => [d.name, d.name.slice(d.name.indexOf(' ') + 1).trim()]),
  )
  return { byName, matcher, unmatchedRow: rows.length, rows, exactRoutes }
}

/** Rebuilds every limited policy's bucket at `scale`, in place (entries and runtimes keep their identity). */
export function rescalePolicies(table: PolicyTable, scale: number): void {
  for (const entry of table.byName.values()) {
    const rt = entry.rt
    if (rt === undefined) continue
    const figures = runtimeFigures(rt.description, scale)
    rt.bucket = figures.bucket
    rt.tolerance = figures.tolerance
    rt.limit = figures.limit
    rt.delayBuckets.clear()
    for (const l of rt.limits ?? []) {
      const f = runtimeFigures(l.description, scale)
      l.bucket = f.bucket
      l.limit = f.limit
    }
  }
}

/**
 * The bucket throttling decides on: the policy's, enlarged by what refills
 * in `maxDelayMs`, so a request it admits is held until the policy's own
 * bucket would have admitted it. At most 16 are kept per policy.
 */
export function delayBucket(rt: Runtime, maxDelayMs: number, scale: number): TokenBucket {
  let b = rt.delayBuckets.get(maxDelayMs)
  if (b === undefined) {
    b = createTokenBucket({
      burst: rt.bucket.burst + maxDelayMs * rt.bucket.tokensPerMs,
      refillTokens: rt.description.limit * scale,
      refillMs: rt.description.windowMs,
    })
    if (rt.delayBuckets.size < 16) rt.delayBuckets.set(maxDelayMs, b)
  }
  return b
}
