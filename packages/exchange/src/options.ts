/**
 * The options of `cortex()` and the four single-concern middlewares, declared
 * once for every adapter (generic over the framework's request), and their
 * validation at construction: a bad option throws `CortexConfigError` naming
 * the option, the value and what is allowed, before any request arrives.
 */
import { CortexConfigError, checkMethods, checkParts } from '@cortex/core'
import type { EnergyMeter } from '@cortex/energy'
import type { PowerModeController } from '@cortex/low-power'
import type { SloTracker } from '@cortex/slo'
import type { RateLimiter, RateLimitHandler, RateLimitHandlerOptions } from '@cortex/token-bucket'

/** `rateLimit`'s options: the limiter, and how a request is keyed, skipped and costed. */
export interface RateLimitOptions<Req> extends RateLimitHandlerOptions<Req> {
  /** The limiter from `createRateLimiter` (policies, store, failure policy). */
  limiter: RateLimiter
}

/** `sloTracking`'s options. */
export interface SloTrackingOptions {
  tracker: Pick<SloTracker, 'record' | 'now'>
}

/** `energyTracking`'s options. */
export interface EnergyTrackingOptions {
  meter: Pick<EnergyMeter, 'startRequest'>
}

/** `powerMode`'s options. */
export interface PowerModeOptions {
  controller: PowerModeController
  /** Response header naming the mode; `false` to send none. Default `Power-Mode`. */
  header?: string | false
}

/** The parts of `cortex()`: each is the options of the middleware of the same concern. */
export interface CortexOptions<Req> {
  /** Rate limiting: `rateLimit`'s options (`{ limiter, key?, skip?, cost?, headers? }`). */
  rateLimit?: RateLimitOptions<Req>
  /** SLO tracking: `sloTracking`'s options (`{ tracker }`). */
  slo?: SloTrackingOptions
  /** Energy attribution: `energyTracking`'s options (`{ meter }`). */
  energy?: EnergyTrackingOptions
  /** Power mode: `powerMode`'s options (`{ controller, header? }`). */
  powerMode?: PowerModeOptions
}

/** The names of `cortex()`'s parts. */
export const PARTS = ['rateLimit', 'slo', 'energy', 'powerMode'] as const

/** The validated parts a pipeline runs. */
export interface Parts<Req> {
  rate: RateLimitHandler<Req> | undefined
  tracker: SloTrackingOptions['tracker'] | undefined
  meter: EnergyTrackingOptions['meter'] | undefined
  controller: PowerModeController | undefined
  /** The power-mode header, or false for none. */
  header: string | false
}

/** Each part's wrapper key and the method that gives away the bare object passed instead. */
const WRAPPERS = [
  ['rateLimit', 'limiter', 'handler', 'createRateLimiter'],
  ['slo', 'tracker', 'record', 'createSloTracker'],
  ['energy', 'meter', 'startRequest', 'createEnergyMeter'],
  ['powerMode', 'controller', 'tryAcquire', 'createPowerModeController'],
] as const

/**
 * `cortex({ slo: tracker })` instead of `cortex({ slo: { tracker } })`: a
 * common slip that the generic "`tracker` must be …" message would hide.
 */
function checkWrapped(parts: object, where: string): void {
  for (const [part, key, method, factory] of WRAPPERS) {
    const value = (parts as Record<string, unknown>)[part] as Record<string, unknown> | undefined
    if (typeof value?.[method] === 'function' && value[key] === undefined) {
      const example = where === 'cortex' ? `cortex({ ${part}: { ${key} } })` : `${where}({ ${key} })`
      throw new CortexConfigError(
        part,
        `the ${key} itself`,
        `{ ${key} } — the options object, e.g. ${example}, not the ${key} from ${factory}() itself`,
        where,
      )
    }
  }
}

/**
 * Validates `cortex()`'s options as a whole (an object, known parts, at
 * least one) and then each part; `where` names the public function.
 *
 * @example
 * const parts = checkCortexOptions<Request>(options, 'cortex')
 */
export function checkCortexOptions<Req>(options: unknown, where: string): Parts<Req> {
  checkParts(options, PARTS, where)
  return checkPartsOptions(options as CortexOptions<Req>, where)
}

/**
 * Validates each given part; `where` names the public function (`rateLimit`,
 * `sloTracking`, … or `cortex`). The limiter's handler is built here, which
 * checks `key`, `skip`, `cost` and `headers`.
 */
export function checkPartsOptions<Req>(parts: CortexOptions<Req>, where: string): Parts<Req> {
  checkWrapped(parts, where)
  let rate: RateLimitHandler<Req> | undefined
  if (parts.rateLimit !== undefined) {
    const limiter = (parts.rateLimit as Partial<RateLimitOptions<Req>> | null)?.limiter
    if (typeof limiter?.handler !== 'function') {
      throw new CortexConfigError('limiter', limiter, 'a limiter from createRateLimiter()', where)
    }
    rate = limiter.handler<Req>(parts.rateLimit)
  }
  const tracker = parts.slo?.tracker
  if (parts.slo !== undefined) {
    checkMethods(tracker, 'tracker', ['record', 'now'], 'a tracker from createSloTracker()', where)
  }
  const meter = parts.energy?.meter
  if (parts.energy !== undefined) {
    checkMethods(meter, 'meter', ['startRequest'], 'a meter from createEnergyMeter()', where)
  }
  const controller = parts.powerMode?.controller
  if (parts.powerMode !== undefined) {
    checkMethods(
      controller,
      'controller',
      ['acquire', 'tryAcquire', 'overloadResponse'],
      'a controller from createPowerModeController()',
      where,
    )
  }
  const header = parts.powerMode?.header ?? 'Power-Mode'
  if (header !== false && (typeof header !== 'string' || header.length === 0)) {
    throw new CortexConfigError('header', header, 'a header name, or false to send none', where)
  }
  return { rate, tracker, meter, controller, header }
}
