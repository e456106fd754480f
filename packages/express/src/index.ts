/**
 * @cortex/express — Express adapter for @cortex/*. It only translates Express
 * requests and responses to the plain shapes the packages speak.
 */
export {
  type EnergyHandlerOptions,
  type EnergyTrackingOptions,
  energyHandler,
  energyTracking,
} from './energy.js'
export { type PowerModeOptions, powerMode } from './power-mode.js'
export { type RateLimitOptions, rateLimit } from './rate-limit.js'
export { requestInfo, routeOf } from './request-info.js'
export { type MetricsHandlerOptions, metricsHandler, type SloTrackingOptions, sloTracking } from './slo.js'
export { type CortexOptions, cortex, rateLimitDecisions, settleRateLimit } from './stack.js'
