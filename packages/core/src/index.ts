/**
 * @cortex/core — the pure algorithms every @cortex/* package shares: no
 * dependencies, no I/O, no timers; time is always a parameter.
 */

export {
  type AccessDecision,
  type AccessHeaders,
  type AccessRequest,
  type AccessRule,
  type AddressPredicate,
  accessGuard,
  checkAccess,
  checkAccessRule,
  FORWARDING_HEADERS,
  forwardingHeader,
  isInternalAddress,
  isLoopbackAddress,
} from './access.js'
export * from './energy.js'
export {
  type BurnRateAlertEvaluation,
  type BurnRateAlertInput,
  type BurnRateAlertTier,
  type BurnRateSeverity,
  type BurnRateTierInput,
  type BurnRateTierResult,
  burnRate,
  burnRateAlertTable,
  DEFAULT_BURN_RATE_TIERS,
  type ErrorBudget,
  type ErrorBudgetInput,
  errorBudget,
  errorRatio,
  evaluateBurnRateAlerts,
  MAX_WINDOW_SLOTS,
  sliRatio,
  WindowedCounter,
  type WindowedCounterOptions,
} from './error-budget.js'
export {
  CortexConfigError,
  CortexError,
  type CortexErrorCode,
  describeValue,
  isCortexError,
} from './errors.js'
export {
  createDwellGate,
  createHysteresis,
  type DwellGate,
  type DwellState,
  type Hysteresis,
  type HysteresisOptions,
  type HysteresisState,
} from './mode-hysteresis.js'
export {
  histogramSamples,
  type PromAggregator,
  type PromCollectorSpec,
  type PromLabels,
  type PromMetricType,
  type PromRegistryLike,
  type PromSample,
  registerCollector,
} from './prom-collector.js'
export { MAX_SKETCH_BUCKETS, QuantileSketch, type QuantileSketchOptions } from './quantile-sketch.js'
export { pathOf, type RequestInfo, routeNames, UNMATCHED_ROUTE } from './request-info.js'
export { realTimers, resolveTimers, type Timers, unrefTimer } from './timers.js'
export {
  createTokenBucket,
  FULL_BUCKET_STATE,
  NEVER,
  type TokenBucket,
  type TokenBucketDecision,
  type TokenBucketParams,
} from './token-bucket.js'
export {
  checkKnownKeys,
  checkMethods,
  checkNumber,
  checkObject,
  checkOneOf,
  checkParts,
  type Duration,
  parseDuration,
  parseOptionalDuration,
} from './validate.js'
export { withGetters } from './with-getters.js'
