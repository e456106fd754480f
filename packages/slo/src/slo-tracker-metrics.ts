/**
 * The tracker's metrics, computed at scrape time from its own structures
 * (no prom-client call per request; prom-client is never imported):
 *
 * - `http_request_duration_seconds{method,route,status_code}`: the histogram
 *   the generated rules and dashboard query.
 * - `slo_objective_ratio{slo}`, `slo_sli_ratio{slo}`,
 *   `slo_error_budget_remaining_ratio{slo}` and `slo_burn_rate{slo,window}`:
 *   what `report()` gives, as this process sees it.
 * - `slo_invalid_records_total` and `slo_route_overflow_total`.
 */
import {
  CortexConfigError,
  errorBudget,
  histogramSamples,
  type PromRegistryLike,
  type PromSample,
  registerCollector,
  sliRatio,
} from '@cortex/core'
import type { Objective, SloDefinitions } from './define-slos.js'
import { REPORT_WINDOWS } from './durations.js'
import { DURATION_METRIC } from './metric-names.js'
import { type ObjectiveWindows, reportWindowMs } from './objective-windows.js'
import { type RouteTable, STATUS_MIN, seriesCount } from './route-table.js'

/** What the collectors read, each time they are scraped. */
export interface SloMetricsSource {
  readonly definitions: SloDefinitions
  readonly clock: () => number
  readonly windows: ObjectiveWindows
  readonly table: RouteTable
  /** Histogram bucket upper bounds in seconds, sorted. */
  readonly buckets: readonly number[]
  /** Records refused so far (read at each scrape). */
  readonly invalidCount: number
}

const METRIC_NAMES = [
  DURATION_METRIC,
  'slo_objective_ratio',
  'slo_sli_ratio',
  'slo_error_budget_remaining_ratio',
  'slo_burn_rate',
  'slo_invalid_records_total',
  'slo_route_overflow_total',
]

/** Registers the tracker's collectors; refuses a registry that already has one of its metric names. */
export function registerSloMetrics(registry: PromRegistryLike, source: SloMetricsSource): void {
  if (typeof registry !== 'object' || registry === null || typeof registry.registerMetric !== 'function') {
    throw new CortexConfigError('registry', registry, 'a prom-client Registry', 'createSloTracker options')
  }
  for (const name of METRIC_NAMES) {
    if (registry.getSingleMetric?.(name) !== undefined) {
      throw new CortexConfigError(
        'registry',
        `a registry that already has ${name}`,
        `a registry without a metric named ${name} (one tracker per registry; remove other HTTP duration metrics)`,
        'createSloTracker options',
      )
    }
  }
  const { definitions, clock, windows, table } = source
  const objectives = definitions.objectives
  registerCollector(registry, {
    name: DURATION_METRIC,
    help: 'Duration of HTTP requests in seconds, by method, route template and status code.',
    type: 'histogram',
    collect: () => histogram(table, source.buckets),
  })
  const perObjective = (value: (o: Objective, k: number, now: number) => number) => (): PromSample[] => {
    const now = clock()
    return objectives.map((o, k) => ({ labels: { slo: o.name }, value: value(o, k, now) }))
  }
  registerCollector(registry, {
    name: 'slo_objective_ratio',
    help: 'Fraction of good requests each SLO promises.',
    type: 'gauge',
    // Configuration: the same in every worker.
    aggregator: 'first',
    collect: perObjective((o) => o.target),
  })
  registerCollector(registry, {
    name: 'slo_sli_ratio',
    help: "Fraction of good requests over the SLO period, as seen by this process (the worst worker's under AggregatorRegistry).",
    type: 'gauge',
    // Workers' ratios do not add up, and their mean ignores their traffic: the worst worker's
    // figure is a bound the host's true ratio never falls below. The exact host figure comes
    // from the summed histogram (the generated rules).
    aggregator: 'min',
    collect: perObjective((_o, k, now) => {
      const { good, total } = windows.counts(k, definitions.windowMs, now)
      return sliRatio(good, total)
    }),
  })
  registerCollector(registry, {
    name: 'slo_error_budget_remaining_ratio',
    help: "Error budget left over the SLO period (negative once overspent), as seen by this process (the worst worker's under AggregatorRegistry).",
    type: 'gauge',
    aggregator: 'min',
    collect: perObjective((o, k, now) => {
      const { good, total } = windows.counts(k, definitions.windowMs, now)
      return errorBudget({ objective: o.target, good, total }).remaining
    }),
  })
  registerCollector(registry, {
    name: 'slo_burn_rate',
    help: "Error ratio over the window divided by the error budget (1 − objective), as seen by this process (the highest worker's under AggregatorRegistry).",
    type: 'gauge',
    aggregator: 'max',
    collect: () => {
      const now = clock()
      return objectives.flatMap((o, k) =>
        REPORT_WINDOWS.map((w) => ({
          labels: { slo: o.name, window: w },
          value: windows.burnRate(k, reportWindowMs(w), now),
        })),
      )
    },
  })
  registerCollector(registry, {
    name: 'slo_invalid_records_total',
    help: 'Requests refused by the SLO tracker (NaN or negative duration, bad status code).',
    type: 'counter',
    collect: () => [{ labels: {}, value: source.invalidCount }],
  })
  registerCollector(registry, {
    name: 'slo_route_overflow_total',
    help: 'Requests recorded as __unmatched__ because the tracker reached maxRoutes.',
    type: 'counter',
    collect: () => [{ labels: {}, value: table.overflowCount }],
  })
}

/** Cumulative bucket samples per (method, route, status), from the non-cumulative counts. */
function histogram(table: RouteTable, bounds: readonly number[]): PromSample[] {
  const samples: PromSample[] = []
  const cumulative = new Float64Array(bounds.length)
  for (const stats of table.routes) {
    for (const code of stats.codes) {
      const status = stats.byStatus[code - STATUS_MIN]!
      let running = 0
      for (let i = 0; i < bounds.length; i++) {
        running += status[i]!
        cumulative[i] = running
      }
      // `le` is rendered as String(seconds): the same text leLabel() gives the generated rules.
      const labels = { method: stats.method, route: stats.route, status_code: String(code) }
      samples.push(
        ...histogramSamples(
          DURATION_METRIC,
          labels,
          bounds,
          cumulative,
          seriesCount(status),
          // The sum sits after the +Inf bucket.
          status[bounds.length + 1]! / 1000,
        ),
      )
    }
  }
  return samples
}
