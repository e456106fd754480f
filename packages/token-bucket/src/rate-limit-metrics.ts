/**
 * The limiter's metrics, computed at scrape time from its own counters (no
 * prom-client call per request; prom-client is never imported):
 *
 * - `<prefix>_decisions_total{policy,limit,outcome}`: outcome `allowed`,
 *   `denied` or `unlimited`; `policy="(none)"` counts requests no policy
 *   matched; `limit` names a list policy's binding limit (bounded by the
 *   configuration: at most 8 per policy), absent otherwise.
 * - `<prefix>_settlements_total{outcome}`: `settled`, or `ignored` (twice,
 *   nothing reserved, not a cost).
 * - `<prefix>_store_errors_total{kind}`: `error` or `timeout`.
 * - `<prefix>_store_up`: 0 while the store is failing, else 1.
 * - `<prefix>_evictions_total{store}` and `<prefix>_keys{store}`: stores that keep counts.
 * - `<prefix>_pending_waits`: requests held by throttling.
 */
import { type PromRegistryLike, type PromSample, registerCollector } from '@cortex/core'
import type { RateLimitStore } from './store.js'

export interface RateLimitCounters {
  decisions: Float64Array
  storeErrors: number
  storeTimeouts: number
  pendingWaits: number
  /** `settle` calls that charged their difference. */
  settles: number
  /** `settle` calls ignored: a second settle, nothing reserved, or not a cost. */
  settlesIgnored: number
}

const OUTCOMES = ['allowed', 'denied', 'unlimited'] as const

/** A decision's outcome: its column in a policy's row of `decisions` (the order of `OUTCOMES`). */
export type Outcome = 0 | 1 | 2
export const ALLOWED = 0
export const DENIED = 1
export const UNLIMITED = 2

export function registerRateLimitMetrics(
  registry: PromRegistryLike,
  prefix: string,
  source: {
    rows: readonly { policy: string; limit: string }[]
    counts: RateLimitCounters
    stores: Record<string, RateLimitStore>
    storeUp: () => boolean
  },
): void {
  const { rows, counts, stores } = source
  registerCollector(registry, {
    name: `${prefix}_decisions_total`,
    help: "Rate-limit decisions by policy, binding limit (a list policy's; '' otherwise) and outcome.",
    type: 'counter',
    collect() {
      const samples: PromSample[] = []
      for (let row = 0; row <= rows.length; row++) {
        for (let o = 0; o < 3; o++) {
          const value = counts.decisions[row * 3 + o] as number
          if (value === 0) continue
          const r = rows[row]
          const policy = r?.policy ?? '(none)'
          const outcome = OUTCOMES[o] as string
          samples.push({
            value,
            labels:
              r === undefined || r.limit === '' ? { policy, outcome } : { policy, limit: r.limit, outcome },
          })
        }
      }
      return samples
    },
  })
  registerCollector(registry, {
    name: `${prefix}_settlements_total`,
    help: 'settle() calls: settled (the difference charged), or ignored (settled before, nothing reserved, not a cost).',
    type: 'counter',
    collect: () => [
      { value: counts.settles, labels: { outcome: 'settled' } },
      { value: counts.settlesIgnored, labels: { outcome: 'ignored' } },
    ],
  })
  registerCollector(registry, {
    name: `${prefix}_store_errors_total`,
    help: 'Rate-limit store calls that failed or exceeded storeTimeoutMs.',
    type: 'counter',
    collect: () => [
      { value: counts.storeErrors, labels: { kind: 'error' } },
      { value: counts.storeTimeouts, labels: { kind: 'timeout' } },
    ],
  })
  registerCollector(registry, {
    name: `${prefix}_store_up`,
    help: '1 while the rate-limit store answers, 0 during an outage (onStoreError decides).',
    type: 'gauge',
    aggregator: 'min',
    collect: () => [{ value: source.storeUp() ? 1 : 0, labels: {} }],
  })
  const withStats = Object.entries(stores).filter(([, s]) => typeof s.stats === 'function')
  registerCollector(registry, {
    name: `${prefix}_evictions_total`,
    help: 'Keys evicted from a full store while their bucket still held information (least recently used first).',
    type: 'counter',
    collect: () =>
      withStats.map(([role, s]) => ({
        value: (s.stats?.().evictions as number) ?? 0,
        labels: { store: role },
      })),
  })
  registerCollector(registry, {
    name: `${prefix}_keys`,
    help: 'Keys currently held by the rate-limit store.',
    type: 'gauge',
    aggregator: 'sum',
    collect: () =>
      withStats.map(([role, s]) => ({ value: (s.stats?.().keys as number) ?? 0, labels: { store: role } })),
  })
  registerCollector(registry, {
    name: `${prefix}_pending_waits`,
    help: 'Requests currently held by throttling (maxDelayMs).',
    type: 'gauge',
    aggregator: 'sum',
    collect: () => [{ value: counts.pendingWaits, labels: {} }],
  })
}
