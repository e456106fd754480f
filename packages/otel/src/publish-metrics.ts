/**
 * Publishes the metrics the @cortex/* packages give prom-client on an
 * OpenTelemetry `Meter` instead (or as well). Each package registers its
 * metrics through `registerMetrics(registry)`; here the "registry" is an
 * adapter that keeps the metric definitions and reads them at collection
 * time, so OpenTelemetry sees the very samples prom-client would: the same
 * names, labels and values, computed from the packages' own counters when a
 * reader collects (nothing per request).
 *
 * Gauges become observable gauges, counters observable counters. OpenTelemetry's
 * API has no asynchronous histogram, so `publishMetrics` gives the SLO
 * tracker's latency histogram in Prometheus' layout (`_bucket{le}`, `_sum`,
 * `_count` as observable up-down counters: the same series in Prometheus),
 * and `histogramProducer` gives it as a native OpenTelemetry histogram (a
 * `MetricProducer` for a reader's `metricProducers`), with the tracker's own
 * bucket bounds — the SLO thresholds exactly.
 */

import {
  CortexConfigError,
  checkKnownKeys,
  checkObject,
  type PromLabels,
  type PromMetricType,
  type PromRegistryLike,
  type PromSample,
} from '@cortex/core'
import type {
  Attributes,
  BatchObservableResult,
  Meter,
  Observable,
  ObservableCounter,
  ObservableGauge,
  ObservableUpDownCounter,
} from '@opentelemetry/api'

/** Anything with the packages' `registerMetrics(registry)`: an SLO tracker, energy meter, rate limiter or power-mode controller. */
export interface MetricsSource {
  registerMetrics(registry: PromRegistryLike): void
}

/** The objects whose metrics to publish; each is optional. */
export interface CortexMetricSources {
  /** `createSloTracker(...)`: `http_request_duration_seconds` (histogram) and the `slo_*` gauges and counters. */
  tracker?: MetricsSource
  /** `createEnergyMeter(...)`: `energy_joules_total`, `power_watts`, `co2_grams_total`, … */
  energy?: MetricsSource
  /** `createRateLimiter(...)`: `<prefix>_decisions_total`, `<prefix>_store_up`, … */
  limiter?: MetricsSource
  /** `createPowerModeController(...)`: `power_mode`, `power_mode_changes_total`. */
  controller?: MetricsSource
}

/** What an OpenTelemetry `MetricReader` accepts in its `metricProducers` option. */
export interface HistogramProducer {
  collect(options?: { timeoutMillis?: number }): Promise<HistogramCollection>
}

/** The collection a `HistogramProducer` returns (the shape of @opentelemetry/sdk-metrics' `CollectionResult`). */
export interface HistogramCollection {
  resourceMetrics: {
    resource: ProducerResource
    scopeMetrics: { scope: { name: string; version?: string }; metrics: HistogramMetric[] }[]
  }
  errors: unknown[]
}

/** An empty resource: a reader replaces it with its MeterProvider's own. */
export interface ProducerResource {
  readonly attributes: Attributes
  merge(other: ProducerResource | null): ProducerResource
  getRawAttributes(): [string, string | number | boolean | undefined][]
}

/** One histogram in @opentelemetry/sdk-metrics' `HistogramMetricData` shape (cumulative). */
export interface HistogramMetric {
  descriptor: { name: string; description: string; unit: string; valueType: 1 }
  /** `AggregationTemporality.CUMULATIVE` */
  aggregationTemporality: 1
  /** `DataPointType.HISTOGRAM` */
  dataPointType: 0
  dataPoints: {
    startTime: [number, number]
    endTime: [number, number]
    attributes: Attributes
    value: { buckets: { boundaries: number[]; counts: number[] }; sum: number; count: number }
  }[]
}

/** Options of `publishMetrics`. */
export interface PublishMetricsOptions {
  /**
   * `true` (default): the latency histogram's `_bucket`, `_sum` and `_count`
   * series as observable up-down counters. `false`: left out, when
   * `histogramProducer` publishes it as a native histogram instead.
   */
  histogram?: boolean
}

/** What `publishMetrics` returns. */
export interface PublishedMetrics {
  /** The names of the instruments created on the meter. */
  readonly names: readonly string[]
  /**
   * Stops reading the objects (the callbacks are removed, so they can be
   * collected). Instruments cannot be removed from a meter: readers may keep
   * reporting their last cumulative values, which no longer change.
   */
  unpublish(): void
}

/** A metric as `registerCollector` (@cortex/core) hands it to a registry. */
interface CollectedMetric {
  name: string
  help: string
  type: PromMetricType
  get(): Promise<{ values: PromSample[] }> | { values: PromSample[] }
}

const SOURCE_KEYS = ['tracker', 'energy', 'limiter', 'controller'] as const
/** Names published per meter: a second publication of the same metric on one meter is refused. */
const publishedOn = new WeakMap<Meter, Set<string>>()

/**
 * The unit a metric's name states, in UCUM as OpenTelemetry expects
 * (`_seconds` → `s`); none when the name states none.
 */
export function unitOf(name: string): string {
  const base = name.replace(/_(total|sum|count)$/, '')
  if (/_seconds$/.test(base)) return 's'
  if (/_joules$/.test(base)) return 'J'
  if (/_watts$/.test(base)) return 'W'
  if (/_grams_per_kwh$/.test(base)) return 'g/kW.h'
  if (/_grams$/.test(base)) return 'g'
  if (/_ratio$/.test(base)) return '1'
  return ''
}

/**
 * Asks each source to register its metrics on an adapter registry; returns
 * them. `taken` lists names already published (a duplicate is refused).
 */
function collectMetrics(
  sources: CortexMetricSources,
  taken: ReadonlySet<string>,
  where: string,
): CollectedMetric[] {
  checkObject(sources, 'sources', where)
  checkKnownKeys(sources as Record<string, unknown>, SOURCE_KEYS, where)
  const given = SOURCE_KEYS.filter((k) => sources[k] !== undefined)
  if (given.length === 0) {
    throw new CortexConfigError('sources', sources, `at least one of ${SOURCE_KEYS.join(', ')}`, where)
  }
  const collected: CollectedMetric[] = []
  const registry: PromRegistryLike = {
    registerMetric(metric: never) {
      const m = metric as CollectedMetric
      if (taken.has(m.name) || collected.some((c) => c.name === m.name)) {
        throw new CortexConfigError(
          'sources',
          `a second ${m.name}`,
          'objects whose metric names are not yet published on this meter',
          where,
        )
      }
      collected.push(m)
    },
    getSingleMetric: (name: string) => (taken.has(name) ? name : collected.find((c) => c.name === name)),
  }
  for (const key of given) {
    const source = sources[key] as MetricsSource
    if (typeof source?.registerMetrics !== 'function') {
      throw new CortexConfigError(
        `sources.${key}`,
        source,
        'a @cortex/* object with registerMetrics(registry)',
        where,
      )
    }
    source.registerMetrics(registry)
  }
  return collected
}

/**
 * Publishes the metrics of the given @cortex/* objects on `meter`, with the
 * names, labels and values their prom-client metrics have. Throws a
 * `CortexConfigError` for a meter that is not one, an unknown or empty
 * `sources`, or a metric name already published on this meter.
 *
 * @example
 * import { MeterProvider } from '@opentelemetry/sdk-metrics'
 * import { PrometheusExporter } from '@opentelemetry/exporter-prometheus'
 * const provider = new MeterProvider({ readers: [new PrometheusExporter({ port: 9464 })] })
 * publishMetrics(provider.getMeter('@cortex/otel'), { tracker, energy: meter, limiter, controller: power })
 */
export function publishMetrics(
  meter: Meter,
  sources: CortexMetricSources,
  options: PublishMetricsOptions = {},
): PublishedMetrics {
  const where = 'publishMetrics'
  if (
    typeof meter !== 'object' ||
    meter === null ||
    typeof meter.createObservableGauge !== 'function' ||
    typeof meter.addBatchObservableCallback !== 'function'
  ) {
    throw new CortexConfigError('meter', meter, 'an OpenTelemetry Meter (provider.getMeter(name))', where)
  }
  checkObject(options, 'options', where)
  checkKnownKeys(options, ['histogram'], where)
  if (options.histogram !== undefined && typeof options.histogram !== 'boolean') {
    throw new CortexConfigError('histogram', options.histogram, 'true or false', where)
  }
  const taken = publishedOn.get(meter) ?? new Set<string>()
  const withHistogram = options.histogram ?? true
  const metrics = collectMetrics(sources, taken, where).filter((m) => withHistogram || m.type !== 'histogram')

  // One instrument per metric, or per part of a histogram or summary.
  const instruments = new Map<string, Observable>()
  for (const m of metrics) {
    const described = { description: m.help, unit: unitOf(m.name) }
    if (m.type === 'counter') {
      instruments.set(m.name, meter.createObservableCounter(m.name, described) as ObservableCounter)
    } else if (m.type === 'gauge') {
      instruments.set(m.name, meter.createObservableGauge(m.name, described) as ObservableGauge)
    } else {
      // Cumulative parts; up-down counters because OpenTelemetry's Prometheus exporter would
      // append `_total` to a monotonic counter's name.
      const parts = m.type === 'histogram' ? ['_bucket', '_sum', '_count'] : ['_sum', '_count']
      for (const part of parts.map((p) => `${m.name}${p}`)) {
        const unit = part.endsWith('_bucket') ? '' : unitOf(part)
        instruments.set(
          part,
          meter.createObservableUpDownCounter(part, { description: m.help, unit }) as ObservableUpDownCounter,
        )
      }
    }
  }
  let active = true
  const observe = async (result: BatchObservableResult) => {
    if (!active) return
    for (const m of metrics) {
      for (const sample of (await m.get()).values) {
        const instrument = instruments.get(sample.metricName ?? m.name)
        if (instrument !== undefined) result.observe(instrument, sample.value, sample.labels as Attributes)
      }
    }
  }
  meter.addBatchObservableCallback(observe, [...instruments.values()])

  const names = [...instruments.keys()]
  for (const m of metrics) taken.add(m.name)
  publishedOn.set(meter, taken)
  return {
    names,
    unpublish() {
      if (!active) return
      active = false
      meter.removeBatchObservableCallback(observe, [...instruments.values()])
      for (const m of metrics) taken.delete(m.name)
    },
  }
}

/**
 * The SLO tracker's latency histogram as a native OpenTelemetry histogram:
 * a `MetricProducer` to pass in a reader's `metricProducers` (readers take
 * them when constructed). Cumulative; the boundaries are the tracker's
 * buckets, which include every latency objective's threshold. Use it with
 * `publishMetrics(meter, sources, { histogram: false })`.
 *
 * @example
 * const reader = new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter(), metricProducers: [histogramProducer({ tracker })] })
 * const provider = new MeterProvider({ readers: [reader] })
 * publishMetrics(provider.getMeter('@cortex/otel'), { tracker, energy: meter }, { histogram: false })
 */
export function histogramProducer(sources: Pick<CortexMetricSources, 'tracker'>): HistogramProducer {
  const where = 'histogramProducer'
  checkObject(sources, 'sources', where)
  checkKnownKeys(sources, ['tracker'], where)
  const histograms = collectMetrics(sources, new Set(), where).filter((m) => m.type === 'histogram')
  const startTime = hrNow()
  return {
    async collect() {
      const endTime = hrNow()
      const metrics: HistogramMetric[] = []
      for (const m of histograms) metrics.push(histogramMetric(m, (await m.get()).values, startTime, endTime))
      return {
        resourceMetrics: {
          resource: EMPTY_RESOURCE,
          scopeMetrics: [{ scope: { name: '@cortex/otel' }, metrics }],
        },
        errors: [],
      }
    },
  }
}

const EMPTY_RESOURCE: ProducerResource = {
  attributes: {},
  merge: (other) => other ?? EMPTY_RESOURCE,
  getRawAttributes: () => [],
}

function hrNow(): [number, number] {
  const ms = performance.timeOrigin + performance.now()
  const seconds = Math.floor(ms / 1000)
  return [seconds, Math.round((ms - seconds * 1000) * 1e6)]
}

/**
 * Prometheus-layout histogram samples (`_bucket` with `le`, `_sum`, `_count`)
 * → one OpenTelemetry data point per label set: the finite `le` bounds as
 * boundaries, per-bucket (not cumulative) counts, the sum and the count.
 */
function histogramMetric(
  m: CollectedMetric,
  samples: PromSample[],
  startTime: [number, number],
  endTime: [number, number],
): HistogramMetric {
  const series = new Map<
    string,
    { attributes: Attributes; le: [number, number][]; sum: number; count: number }
  >()
  for (const sample of samples) {
    const { le, ...labels } = sample.labels as PromLabels & { le?: string | number }
    const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    let s = series.get(key)
    if (s === undefined) {
      s = { attributes: labels as Attributes, le: [], sum: 0, count: 0 }
      series.set(key, s)
    }
    const part = (sample.metricName ?? m.name).slice(m.name.length)
    if (part === '_bucket' && le !== undefined && le !== '+Inf') s.le.push([Number(le), sample.value])
    else if (part === '_sum') s.sum = sample.value
    else if (part === '_count') s.count = sample.value
  }
  const dataPoints = [...series.values()].map((s) => {
    s.le.sort((a, b) => a[0] - b[0])
    const counts: number[] = []
    let previous = 0
    for (const [, cumulative] of s.le) {
      counts.push(cumulative - previous)
      previous = cumulative
    }
    counts.push(s.count - previous)
    return {
      startTime,
      endTime,
      attributes: s.attributes,
      value: { buckets: { boundaries: s.le.map(([bound]) => bound), counts }, sum: s.sum, count: s.count },
    }
  })
  return {
    descriptor: { name: m.name, description: m.help, unit: unitOf(m.name), valueType: 1 },
    aggregationTemporality: 1,
    dataPointType: 0,
    dataPoints,
  }
}
