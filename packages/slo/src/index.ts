/**
 * @cortex/slo — SLOs end to end: per-route latency percentiles and error
 * rates, SLIs, error budgets and multi-window burn-rate alerts in process,
 * exposed to prom-client at scrape time; and, from the same definition,
 * Prometheus recording and alerting rules, a Grafana dashboard and k6
 * thresholds and script.
 */
export {
  type AvailabilityObjectiveInput,
  defineSlos,
  type LatencyObjectiveInput,
  type Objective,
  type ObjectiveInput,
  type ResolvedAlerting,
  type SampleRequest,
  type SampleRequestInput,
  SLO_WINDOWS,
  type SloAlertingInput,
  type SloConfig,
  type SloDefinitions,
  type SloWindow,
  type ThresholdObjectiveInput,
} from './define-slos.js'
export { type Duration, REPORT_WINDOWS, type ReportWindow } from './durations.js'
export {
  dashboardQueries,
  type GrafanaDashboard,
  type GrafanaPanel,
  type GrafanaTarget,
  grafanaDashboard,
} from './grafana-dashboard.js'
export { DEFAULT_K6_STAGES, type K6ScriptOptions, k6Script, k6Thresholds } from './k6.js'
export type { K6LatencyThreshold, K6RateThreshold, K6Threshold } from './k6-threshold.js'
export { DEFAULT_BUCKETS_SECONDS, DURATION_METRIC } from './metric-names.js'
export {
  DEFAULT_RUNBOOK_URL,
  type PrometheusRulesOptions,
  prometheusRuleGroups,
  prometheusRules,
} from './prometheus-rules.js'
export { type EndpointRequest, sampleRequests } from './sample-requests.js'
export {
  createSloTracker,
  type ObjectiveAlertState,
  type ObjectiveReport,
  type RequestRecord,
  type RouteReport,
  type SloAlert,
  type SloAlertListener,
  type SloReport,
  type SloTracker,
  type SloTrackerOptions,
} from './slo-tracker.js'
