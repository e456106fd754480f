/**
 * The shared body of the "signal above X → low, below Y → back" triggers
 * (power budget, carbon intensity): a reading function plus @cortex/core's
 * hysteresis. The controller applies the dwell time across all triggers.
 */
import {
  CortexConfigError,
  checkNumber,
  createHysteresis,
  type HysteresisState,
  withGetters,
} from '@cortex/core'
import type { PowerModeTrigger } from './trigger.js'

export interface ThresholdTriggerOptions {
  name: string
  /** Reads the signal; NaN or a failure is "no reading" (nothing changes). */
  read: () => number | Promise<number>
  enterAbove: number
  exitBelow: number
  forMs?: number | string
  mode?: string
  enterOption: string
  exitOption: string
}

export function thresholdTrigger(
  options: ThresholdTriggerOptions,
): PowerModeTrigger & { readonly failures: number } {
  const where = `${options.name} trigger`
  if (typeof options.read !== 'function')
    throw new CortexConfigError('read', options.read, 'a function', where)
  checkNumber(options.enterAbove, options.enterOption, { where })
  checkNumber(options.exitBelow, options.exitOption, { where })
  if (options.exitBelow > options.enterAbove) {
    throw new CortexConfigError(
      options.exitOption,
      options.exitBelow,
      `a value at most \`${options.enterOption}\` (${options.enterAbove}): the exit threshold must not be above the enter threshold`,
      where,
    )
  }
  const hysteresis = createHysteresis({
    enterAbove: options.enterAbove,
    exitBelow: options.exitBelow,
    forMs: options.forMs ?? 0,
  })
  const mode = options.mode ?? 'low'
  let state: HysteresisState = hysteresis.initial(false)
  let failures = 0
  return withGetters(
    {
      name: options.name,
      async evaluate(now: number) {
        let signal = Number.NaN
        try {
          signal = await options.read()
        } catch {
          failures++
        }
        state = hysteresis.step(state, now, typeof signal === 'number' ? signal : Number.NaN)
        return state.active ? mode : undefined
      },
    },
    { failures: () => failures },
  )
}
