/**
 * The whole @cortex stack as ONE Fastify plugin: any of SLO tracking, energy
 * tracking, rate limiting and power mode, each configured exactly as its own
 * plugin is, run from one `onRequest` hook and one 'close' listener per
 * response. Fastify charges for every hook and listener about as much as a
 * part's own work, so the four parts together cost little more than one.
 */
import { checkParts } from '@cortex/core'
import { checkEnergyMeter, type EnergyTrackingOptions, energyStep } from './energy.js'
import { installSteps, type Step } from './pipeline.js'
import { cortexPlugin } from './plugin.js'
import { checkPowerMode, type PowerModeOptions, powerModeStep } from './power-mode.js'
import { checkRateLimit, type RateLimitOptions, rateLimitStep } from './rate-limit.js'
import { checkSloTracker, type SloTrackingOptions, sloStep } from './slo.js'

/** The parts of `cortex`: each is the options of the plugin of the same concern. */
export interface CortexOptions {
  /** Rate limiting: `rateLimit`'s options (`{ limiter, key?, skip?, cost?, headers? }`). */
  rateLimit?: RateLimitOptions
  /** SLO tracking: `sloTracking`'s options (`{ tracker }`). */
  slo?: SloTrackingOptions
  /** Energy attribution: `energyTracking`'s options (`{ meter }`). */
  energy?: EnergyTrackingOptions
  /** Power mode: `powerMode`'s options (`{ controller, header? }`). */
  powerMode?: PowerModeOptions
}

const PARTS = ['rateLimit', 'slo', 'energy', 'powerMode'] as const

function checkCortex(options: CortexOptions): void {
  checkParts(options, PARTS, 'cortex')
  if (options.slo !== undefined) checkSloTracker(options.slo?.tracker, 'cortex')
  if (options.energy !== undefined) checkEnergyMeter(options.energy?.meter, 'cortex')
  if (options.rateLimit !== undefined) {
    const { limiter, ...handlerOptions } = options.rateLimit
    checkRateLimit(limiter, handlerOptions, 'cortex')
  }
  if (options.powerMode !== undefined) checkPowerMode(options.powerMode, 'cortex')
}

/**
 * One plugin for the whole stack. The parts run in a fixed order: SLO timing
 * and energy attribution start first (so a refused request is still timed and
 * attributed), then the rate limit (in `onRequest`, before body parsing; a
 * refused request never takes a concurrency slot), then the power mode's
 * slot. It behaves like registering `sloTracking`, `energyTracking`,
 * `rateLimit` and `powerMode` in that order.
 *
 * @example
 * await app.register(cortex, {
 *   rateLimit: { limiter },
 *   slo: { tracker },
 *   energy: { meter },
 *   powerMode: { controller: power },
 * })
 */
export const cortex = cortexPlugin<CortexOptions>('@cortex/fastify/cortex', checkCortex, (app, options) => {
  const steps: Step[] = []
  if (options.slo !== undefined) steps.push(sloStep(app, options.slo.tracker))
  if (options.energy !== undefined) steps.push(energyStep(app, options.energy.meter))
  if (options.rateLimit !== undefined) {
    const { limiter, ...handlerOptions } = options.rateLimit
    steps.push(rateLimitStep(app, limiter, handlerOptions))
  }
  if (options.powerMode !== undefined) {
    steps.push(powerModeStep(app, options.powerMode.controller, options.powerMode.header ?? 'Power-Mode'))
  }
  installSteps(app, steps)
})
