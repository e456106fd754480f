/**
 * Each objective's good and total counts in sliding windows, for SLIs, error
 * budgets and burn rates.
 *
 * Nothing is counted per objective when a request is recorded: an
 * objective's counts are summed from its routes' exact histograms (a latency
 * threshold is a bucket bound, so "≤ threshold" is a prefix of buckets;
 * availability counts the statuses the objective does not call bad). When a
 * fine slot ends, `roll` adds what the slot gained to two windowed counters
 * per objective: 10 s slots over 6 h for the alert and report windows, and
 * 5 min slots over the SLO period. The tracker's slot timer rolls at each
 * boundary (`slot-timer.ts`); a record given its end time and a query past
 * the slot roll too. A query adds the current slot's counts, so reports see
 * every request up to now.
 */
import { burnRate, errorRatio, UNMATCHED_ROUTE, WindowedCounter } from '@cortex/core'
import type { Objective } from './define-slos.js'
import { HOUR_MS, MINUTE_MS, type ReportWindow } from './durations.js'
import { statusMatches } from './metric-names.js'
import { type RouteStats, STATUS_MIN, STATUS_SPAN, seriesCount } from './route-table.js'

const FINE_SLOT_MS = 10_000
const FINE_HORIZON_MS = 6 * HOUR_MS
const LONG_SLOT_MS = 5 * MINUTE_MS

/** Where an objective's good and total counts come from: its routes' exact histograms. */
interface ObjectiveSource {
  readonly routes: RouteStats[]
  /** Latency: requests in histogram buckets 0..thresholdBucket are good. −1 for availability. */
  readonly thresholdBucket: number
}

export interface GoodTotal {
  good: number
  total: number
}

export class ObjectiveWindows {
  /** Per objective × status offset: 1 when that status is bad for the objective. */
  private readonly badStatus: Uint8Array
  private readonly fine: WindowedCounter[] = []
  private readonly long: WindowedCounter[] = []
  /** Per objective: the routes it counts and how. */
  private readonly sources: ObjectiveSource[]
  /** Per objective: cumulative good/total already added to the windows (the rest is the current slot). */
  private readonly rolledGood: Float64Array
  private readonly rolledTotal: Float64Array
  private slotStart = Number.NEGATIVE_INFINITY
  /** End of the current fine slot: a record at or after it rolls first. */
  slotEnd = Number.NEGATIVE_INFINITY
  /** Width of a fine slot (ms): the slot timer fires this often. */
  readonly slotMs = FINE_SLOT_MS

  constructor(
    private readonly objectives: readonly Objective[],
    sloWindowMs: number,
    boundsMs: readonly number[],
  ) {
    const n = objectives.length
    this.badStatus = new Uint8Array(n * STATUS_SPAN)
    objectives.forEach((o, k) => {
      if (o.kind === 'availability') {
        for (let code = STATUS_MIN; code < STATUS_MIN + STATUS_SPAN; code++) {
          if (statusMatches(o.errorStatusCodes, code)) this.badStatus[k * STATUS_SPAN + code - STATUS_MIN] = 1
        }
      }
      this.fine.push(new WindowedCounter({ slot: FINE_SLOT_MS, horizon: FINE_HORIZON_MS }))
      this.long.push(new WindowedCounter({ slot: LONG_SLOT_MS, horizon: sloWindowMs }))
    })
    this.rolledGood = new Float64Array(n)
    this.rolledTotal = new Float64Array(n)
    this.sources = objectives.map((o) => ({
      routes: [],
      thresholdBucket: o.thresholdMs === undefined ? -1 : boundsMs.indexOf(o.thresholdMs),
    }))
  }

  /** Attaches a new route to the objectives that count it (`'*'` counts every route, `__unmatched__` too). */
  addRoute(stats: RouteStats): void {
    const isUnmatched = stats.route === UNMATCHED_ROUTE
    this.objectives.forEach((o, k) => {
      if (
        o.path === undefined ||
        (!isUnmatched && o.path === stats.route && (o.method === undefined || o.method === stats.method))
      ) {
        this.sources[k]!.routes.push(stats)
      }
    })
  }

  /** Rolls when `at` is past the current slot; returns the (new) slot end. */
  advance(at: number): number {
    if (at >= this.slotEnd) this.roll(at)
    return this.slotEnd
  }

  /** Good and total counts of objective k over the last `windowMs`, including the current slot. */
  counts(k: number, windowMs: number, now: number): GoodTotal {
    if (now >= this.slotEnd) this.roll(now)
    const counter = windowMs <= FINE_HORIZON_MS ? this.fine[k]! : this.long[k]!
    const inWindows = counter.sum(now, windowMs)
    const current = this.cumulative(k)
    return {
      good: inWindows.good + current.good - this.rolledGood[k]!,
      total: inWindows.total + current.total - this.rolledTotal[k]!,
    }
  }

  errorRatio(k: number, windowMs: number, now: number): number {
    const { good, total } = this.counts(k, windowMs, now)
    return errorRatio(total - good, total)
  }

  burnRate(k: number, windowMs: number, now: number): number {
    return burnRate(this.errorRatio(k, windowMs, now), this.objectives[k]!.target)
  }

  /** Objective k's good and total counts since the tracker started, summed from its routes' histograms. */
  private cumulative(k: number): GoodTotal {
    const { routes, thresholdBucket } = this.sources[k]!
    let good = 0
    let total = 0
    for (const stats of routes) {
      for (const code of stats.codes) {
        const status = stats.byStatus[code - STATUS_MIN]!
        const count = seriesCount(status)
        total += count
        if (thresholdBucket >= 0) {
          for (let b = 0; b <= thresholdBucket; b++) good += status[b]!
        } else if (this.badStatus[k * STATUS_SPAN + code - STATUS_MIN] === 0) good += count
      }
    }
    return { good, total }
  }

  /** Moves the current fine slot to the one holding `at`, adding the counts of the slot that ended to the windows. */
  private roll(at: number): void {
    const start = Math.floor(at / FINE_SLOT_MS) * FINE_SLOT_MS
    if (!Number.isFinite(start)) return
    for (let k = 0; k < this.objectives.length; k++) {
      const { good, total } = this.cumulative(k)
      if (total === this.rolledTotal[k]) continue
      this.fine[k]!.add(this.slotStart, good - this.rolledGood[k]!, total - this.rolledTotal[k]!)
      this.long[k]!.add(this.slotStart, good - this.rolledGood[k]!, total - this.rolledTotal[k]!)
      this.rolledGood[k] = good
      this.rolledTotal[k] = total
    }
    this.slotStart = start
    this.slotEnd = start + FINE_SLOT_MS
  }
}

/** A report window in milliseconds. */
export function reportWindowMs(w: ReportWindow): number {
  return { '5m': 5 * MINUTE_MS, '30m': 30 * MINUTE_MS, '1h': HOUR_MS, '6h': 6 * HOUR_MS }[w]
}
