/**
 * Exposes @cortex/* state to a prom-client `Registry` at scrape time without
 * importing prom-client: a registry accepts any object of this shape through
 * `registerMetric`, so the packages keep prom-client an optional peer, work
 * with whichever copy the user has, and pay nothing per request (values are
 * read from the packages' own structures only when Prometheus scrapes).
 */

import { CortexConfigError } from './errors.js'

export type PromMetricType = 'counter' | 'gauge' | 'histogram' | 'summary'

export type PromLabels = Record<string, string | number>

/** One sample: `metricName` overrides the name (for `_bucket`, `_sum`, `_count`). */
export interface PromSample {
  value: number
  labels: PromLabels
  metricName?: string
}

/** The part of prom-client's `Registry` that @cortex/* uses. */
export interface PromRegistryLike {
  registerMetric(metric: never): void
  getSingleMetric?(name: string): unknown
  removeSingleMetric?(name: string): void
}

/**
 * How prom-client's `AggregatorRegistry.clusterMetrics()` merges one metric's
 * samples from a cluster's workers (per label set): `sum` them, take the
 * `first` worker's, the `min`, the `max`, the `average`, or `omit` the metric.
 */
export type PromAggregator = 'sum' | 'first' | 'min' | 'max' | 'average' | 'omit'

/** prom-client's aggregators, in the order error messages list them. */
const PROM_AGGREGATORS: readonly PromAggregator[] = ['sum', 'first', 'min', 'max', 'average', 'omit']

interface PromCollectorBase {
  name: string
  help: string
  /** Called at scrape time; returns the current samples. */
  collect(): PromSample[]
}

/**
 * A metric computed at scrape time. A gauge must declare its `aggregator`:
 * workers' counts add up, but a configured figure (`first`), a health flag
 * (`min`) or a per-process ratio does not. Counters, histograms and summaries
 * default to `sum`.
 */
export type PromCollectorSpec =
  | (PromCollectorBase & { type: 'gauge'; aggregator: PromAggregator })
  | (PromCollectorBase & { type: Exclude<PromMetricType, 'gauge'>; aggregator?: PromAggregator })

/**
 * Registers a metric whose samples are computed at scrape time. Throws
 * `CortexConfigError` for a gauge without an `aggregator` or an aggregator
 * prom-client does not know; otherwise only if the registry rejects the name
 * (prom-client refuses duplicate names; callers validate names up front).
 *
 * @example
 * registerCollector(registry, {
 *   name: 'power_budget_watts', help: 'Configured power budget', type: 'gauge', aggregator: 'first',
 *   collect: () => [{ value: 100, labels: {} }],
 * })
 */
export function registerCollector(registry: PromRegistryLike, spec: PromCollectorSpec): void {
  // Checked at run time too, for JavaScript callers: a gauge summed across workers is wrong silently.
  const type: PromMetricType = spec.type
  const aggregator = spec.aggregator ?? (type === 'gauge' ? undefined : 'sum')
  if (aggregator === undefined || !PROM_AGGREGATORS.includes(aggregator)) {
    throw new CortexConfigError(
      'aggregator',
      spec.aggregator,
      `one of ${PROM_AGGREGATORS.join(', ')} (how ${spec.type} ${spec.name} merges across cluster workers)`,
      'registerCollector',
    )
  }
  const metric = {
    name: spec.name,
    help: spec.help,
    type: spec.type,
    aggregator,
    get: async () => ({
      name: spec.name,
      help: spec.help,
      type: spec.type,
      aggregator,
      values: spec.collect(),
    }),
    reset: () => {},
  }
  registry.registerMetric(metric as never)
}

/**
 * Histogram samples (`_bucket` with `le`, `_sum`, `_count`) from cumulative
 * counts, in the layout prom-client and the Prometheus text format expect.
 *
 * @example
 * histogramSamples('http_request_duration_seconds', { route: '/x' }, [0.1, 0.2], [3, 5], 7, 1.25)
 */
export function histogramSamples(
  name: string,
  labels: PromLabels,
  upperBounds: readonly number[],
  cumulativeCounts: ArrayLike<number>,
  count: number,
  sum: number,
): PromSample[] {
  const samples: PromSample[] = []
  for (let i = 0; i < upperBounds.length; i++) {
    samples.push({
      metricName: `${name}_bucket`,
      labels: { ...labels, le: upperBounds[i] as number },
      value: cumulativeCounts[i] as number,
    })
  }
  samples.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: count })
  samples.push({ metricName: `${name}_sum`, labels, value: sum })
  samples.push({ metricName: `${name}_count`, labels, value: count })
  return samples
}
