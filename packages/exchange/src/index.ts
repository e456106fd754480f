/**
 * @cortex/exchange — the one framework-free exchange pipeline every @cortex
 * adapter runs (rate limit, SLO timing, energy attribution, power mode), the
 * options of `cortex()` declared once, and their validation. An adapter is
 * an {@link ExchangePort} for its framework plus one-line exports.
 */
export {
  type CortexOptions,
  checkCortexOptions,
  checkPartsOptions,
  type EnergyTrackingOptions,
  PARTS,
  type Parts,
  type PowerModeOptions,
  type RateLimitOptions,
  type SloTrackingOptions,
} from './options.js'
export { createPipeline, Exchange, type ExchangePort, type Pipeline } from './pipeline.js'
export { type QuotaAccess, quotaAccess } from './quota.js'
