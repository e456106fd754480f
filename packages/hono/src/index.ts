/**
 * @cortex/hono — Hono adapter for @cortex/*, over Web-standard Request and
 * Response (Node through @hono/node-server, Bun, Deno). It only translates
 * Hono contexts to the plain shapes the packages speak.
 */
export {
  type EnergyHandlerOptions,
  type EnergyTrackingOptions,
  energyHandler,
  energyTracking,
} from './energy.js'
export { type PowerModeOptions, type PowerModeVariables, powerMode } from './power-mode.js'
export { type RateLimitOptions, rateLimit } from './rate-limit.js'
export {
  type ClientAddress,
  type RequestInfoOptions,
  requestInfo,
  routeOf,
  runtimeClientAddress,
} from './request-info.js'
export {
  type MetricsHandlerOptions,
  type MetricsRegistry,
  metricsHandler,
  type SloTrackingOptions,
  sloTracking,
} from './slo.js'
export { type CortexOptions, cortex, rateLimitDecisions, settleRateLimit } from './stack.js'
