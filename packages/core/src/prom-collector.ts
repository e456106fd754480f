/**
 * Exposes @cortex/* state to a prom-client `Registry` at scrape time without
 * importing prom-client: a registry accepts any object of this shape through
 * `registerMetric`, so the packages keep prom-client an optional peer, work
 * with whichever copy the user has, and pay nothing per request (values are
 * read from the packages' own structures only when Prometheus scrapes).
 */

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

export interface PromCollectorSpec {
  name: string
  help: string
  type: PromMetricType
  /** Called at scrape time; returns the current samples. */
  collect(): PromSample[]
}

/**
 * Registers a metric whose samples are computed at scrape time.
 * Throws a CortexError-free plain Error only if the registry rejects the name
 * (prom-client refuses duplicate names); callers validate names up front.
 *
 * @example
 * registerCollector(registry, {
 *   name: 'power_budget_watts', help: 'Configured power budget', type: 'gauge',
 *   collect: () => [{ value: 100, labels: {} }],
 * })
 */
export function registerCollector(registry: PromRegistryLike, spec: PromCollectorSpec): void {
  const metric = {
    name: spec.name,
    help: spec.help,
    type: spec.type,
    aggregator: 'sum' as const,
    get: async () => ({
      name: spec.name,
      help: spec.help,
      type: spec.type,
      aggregator: 'sum' as const,
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
