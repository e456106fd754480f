/**
 * Asks for low mode while the process draws more power than a budget, from
 * an @cortex/energy meter (or anything with the same `snapshot()`).
 */
import { checkObject, checkOneOf } from '@cortex/core'
import { thresholdTrigger } from './threshold-trigger.js'
import type { PowerModeTrigger } from './trigger.js'

/** The part of an @cortex/energy meter this trigger reads. */
export interface PowerReadingSource {
  snapshot(): { currentWatts: number; avgWatts?: number; budgetAverageWatts?: number | null }
}

export interface PowerBudgetTriggerOptions {
  /** Enter low mode when power stays above this many watts for `forMs`. */
  enterAboveWatts: number
  /** Leave it when power stays below this for `forMs`; at most `enterAboveWatts`. */
  exitBelowWatts: number
  /** How long the reading must stay across a threshold (ms or '30s'). Default 0. */
  forMs?: number | string
  /**
   * Which reading: `current` (the meter's latest interval, default),
   * `average` (since the meter started), or `budget` (the meter's own
   * budget-window average, the figure behind its `budget` event).
   */
  signal?: 'current' | 'average' | 'budget'
  /** The mode to ask for. Default `low`. */
  mode?: string
}

/**
 * @example
 * powerBudgetTrigger(meter, { enterAboveWatts: 100, exitBelowWatts: 85, forMs: 30_000 })
 */
export function powerBudgetTrigger(
  meter: PowerReadingSource,
  options: PowerBudgetTriggerOptions,
): PowerModeTrigger {
  checkObject(meter, 'meter', 'powerBudgetTrigger')
  checkObject(options, 'options', 'powerBudgetTrigger')
  const signal = checkOneOf(
    options.signal ?? 'current',
    'signal',
    ['current', 'average', 'budget'],
    'powerBudgetTrigger',
  )
  return thresholdTrigger({
    name: 'power-budget',
    read: () => {
      const s = meter.snapshot()
      if (signal === 'average') return s.avgWatts ?? Number.NaN
      if (signal === 'budget') return s.budgetAverageWatts ?? Number.NaN
      return s.currentWatts
    },
    enterAbove: options.enterAboveWatts,
    exitBelow: options.exitBelowWatts,
    forMs: options.forMs,
    mode: options.mode,
    enterOption: 'enterAboveWatts',
    exitOption: 'exitBelowWatts',
  })
}
