/**
 * Asks for low mode while the machine draws more power than a budget, from
 * an @cortex/energy meter (or anything with the same `snapshot()`). A budget
 * is the machine's: the thresholds apply to the meter's `host` figures (the
 * machine's power) when it reports them, else to its own.
 *
 * Without thresholds it follows the meter's own budget decision
 * (`overBudget`: `powerBudgetWatts`, `budgetWindowMs`, `budgetHysteresis`),
 * the one behind the meter's `budget` event, so "over budget" is decided in
 * one place. With `enterAboveWatts`/`exitBelowWatts` it applies its own
 * thresholds to a power reading.
 */
import { CortexConfigError, checkObject, checkOneOf } from '@cortex/core'
import { thresholdTrigger } from './threshold-trigger.js'
import type { PowerModeTrigger } from './trigger.js'

/** The part of an @cortex/energy meter this trigger reads. */
export interface PowerReadingSource {
  snapshot(): {
    currentWatts: number
    avgWatts?: number
    /** The machine's own figures (a meter that attributes this process only its share). */
    host?: { currentWatts: number; avgWatts: number }
    budgetAverageWatts?: number | null
    /** The meter's budget decision: read when no thresholds are given. */
    overBudget?: boolean
    /** The meter's budget; null or absent when it has none. */
    powerBudgetWatts?: number | null
  }
}

export interface PowerBudgetTriggerOptions {
  /**
   * Enter low mode when power stays above this many watts for `forMs`.
   * Give both thresholds or neither: without them the trigger follows the
   * meter's own budget (`overBudget`).
   */
  enterAboveWatts?: number
  /** Leave it when power stays below this for `forMs`; at most `enterAboveWatts`. */
  exitBelowWatts?: number
  /** How long the reading must stay across a threshold (ms or '30s'). Default 0. Only with thresholds. */
  forMs?: number | string
  /**
   * Which reading the thresholds apply to: `current` (the meter's latest
   * interval, default) or `average` (since the meter started). `budget` (the
   * meter's budget-window average) is kept for compatibility: it repeats the
   * meter's own decision with a second set of thresholds; prefer the form
   * without thresholds, which follows that decision itself.
   */
  signal?: 'current' | 'average' | 'budget'
  /** The mode to ask for. Default `low`. */
  mode?: string
}

/**
 * @example
 * // Follow the meter's budget: low while `meter.snapshot().overBudget`.
 * const meter = createEnergyMeter({ powerBudgetWatts: 100, budgetWindowMs: '1m', budgetHysteresis: 0.15 })
 * powerBudgetTrigger(meter)
 * // Own thresholds on the latest interval's power.
 * powerBudgetTrigger(meter, { enterAboveWatts: 100, exitBelowWatts: 85, forMs: 30_000 })
 */
export function powerBudgetTrigger(
  meter: PowerReadingSource,
  options: PowerBudgetTriggerOptions = {},
): PowerModeTrigger {
  const where = 'powerBudgetTrigger'
  checkObject(meter, 'meter', where)
  checkObject(options, 'options', where)
  if (options.enterAboveWatts === undefined && options.exitBelowWatts === undefined) {
    return meterBudgetTrigger(meter, options, where)
  }
  const signal = checkOneOf(options.signal ?? 'current', 'signal', ['current', 'average', 'budget'], where)
  return thresholdTrigger({
    name: 'power-budget',
    read: () => {
      const s = meter.snapshot()
      // The machine's power: a budget is the machine's, whatever share this process has of it.
      const power = s.host ?? s
      if (signal === 'average') return power.avgWatts ?? Number.NaN
      if (signal === 'budget') return s.budgetAverageWatts ?? Number.NaN
      return power.currentWatts
    },
    enterAbove: options.enterAboveWatts as number,
    exitBelow: options.exitBelowWatts as number,
    forMs: options.forMs,
    mode: options.mode,
    enterOption: 'enterAboveWatts',
    exitOption: 'exitBelowWatts',
  })
}

/** The verdict is the meter's `overBudget`; a failing snapshot keeps the previous verdict. */
function meterBudgetTrigger(
  meter: PowerReadingSource,
  options: PowerBudgetTriggerOptions,
  where: string,
): PowerModeTrigger {
  for (const option of ['forMs', 'signal'] as const) {
    if (options[option] !== undefined) {
      throw new CortexConfigError(
        option,
        options[option],
        "nothing without `enterAboveWatts` and `exitBelowWatts`: the meter's own budget decides (`budgetWindowMs`, `budgetHysteresis`)",
        where,
      )
    }
  }
  if (typeof meter.snapshot !== 'function') {
    throw new CortexConfigError('meter', meter, 'an @cortex/energy meter (an object with snapshot())', where)
  }
  const first = meter.snapshot()
  if (typeof first?.overBudget !== 'boolean' || typeof first.powerBudgetWatts !== 'number') {
    throw new CortexConfigError(
      'meter',
      meter,
      'a meter created with `powerBudgetWatts` (its budget decides), or `enterAboveWatts` and `exitBelowWatts` in the options',
      where,
    )
  }
  if (options.mode !== undefined && (typeof options.mode !== 'string' || options.mode.length === 0)) {
    throw new CortexConfigError('mode', options.mode, 'a mode name', where)
  }
  const mode = options.mode ?? 'low'
  let over = first.overBudget
  return {
    name: 'power-budget',
    evaluate() {
      try {
        const s = meter.snapshot()
        if (typeof s.overBudget === 'boolean') over = s.overBudget
      } catch {
        // No reading: the verdict stays what it was, as for the threshold triggers.
      }
      return over ? mode : undefined
    },
  }
}
