/**
 * @cortex/otel — the @cortex/* metrics on an OpenTelemetry Meter: the SLO
 * tracker's, energy meter's, rate limiter's and power-mode controller's
 * gauges and counters as observable instruments, and the latency histogram
 * as a MetricProducer, with the names, labels and values of their
 * prom-client metrics.
 */
export {
  type CortexMetricSources,
  type HistogramCollection,
  type HistogramMetric,
  type HistogramProducer,
  histogramProducer,
  type MetricsSource,
  type ProducerResource,
  type PublishedMetrics,
  type PublishMetricsOptions,
  publishMetrics,
  unitOf,
} from './publish-metrics.js'
