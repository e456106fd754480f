/**
 * Asks for low mode while the grid is dirty: carbon intensity (gCO₂e/kWh)
 * from a function the user supplies (a live API, a forecast, a constant).
 */
import { checkObject } from '@cortex/core'
import { thresholdTrigger } from './threshold-trigger.js'
import type { PowerModeTrigger } from './trigger.js'

export interface CarbonIntensityTriggerOptions {
  /** Current grid intensity in gCO₂e/kWh; may be async. A failure or NaN keeps the current verdict. */
  read: () => number | Promise<number>
  /** Enter low mode above this intensity. */
  enterAbove: number
  /** Leave it below this; at most `enterAbove`. */
  exitBelow: number
  forMs?: number | string
  mode?: string
}

/**
 * @example
 * carbonIntensityTrigger({ read: () => fetchIntensity('FR'), enterAbove: 400, exitBelow: 300 })
 */
export function carbonIntensityTrigger(options: CarbonIntensityTriggerOptions): PowerModeTrigger {
  checkObject(options, 'options', 'carbonIntensityTrigger')
  return thresholdTrigger({
    name: 'carbon-intensity',
    read: options.read,
    enterAbove: options.enterAbove,
    exitBelow: options.exitBelow,
    forMs: options.forMs,
    mode: options.mode,
    enterOption: 'enterAbove',
    exitOption: 'exitBelow',
  })
}
