/**
 * One power-budget decision: an @cortex/energy meter's `budget` event, its
 * `overBudget`, `powerBudgetTrigger(meter)` and a controller driven by it
 * never disagree, whatever the power draw. Runs against the real meter (the
 * workspace resolves @cortex/energy to its sources in tests).
 */
import { createEnergyMeter, type EnergySource } from '@cortex/energy'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createPowerModeController, powerBudgetTrigger } from '../src/index.js'

const noTimers = { setInterval: () => 0, clearInterval: () => {} }

describe("powerBudgetTrigger and the energy meter's budget", () => {
  it("agree at every sample: the budget event, overBudget, the trigger (both forms) and the controller's mode", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          budgetWatts: fc.integer({ min: 20, max: 200 }),
          // Integers: fc.double draws evenly over representable doubles, nearly all of them tiny.
          hysteresisPercent: fc.integer({ min: 0, max: 50 }),
          windowSteps: fc.integer({ min: 1, max: 5 }),
          watts: fc.array(fc.integer({ min: 0, max: 400 }), { minLength: 1, maxLength: 40 }),
        }),
        async ({ budgetWatts, hysteresisPercent, windowSteps, watts }) => {
          const hysteresis = hysteresisPercent / 100
          let now = 1_700_000_000_000
          let draw = 0
          const source: EnergySource = {
            name: 'fake-cpu',
            kind: 'measured',
            component: 'cpu',
            available: async () => ({ available: true }),
            read: async () => ({ watts: draw }),
          }
          const meter = createEnergyMeter({
            sources: [source],
            clock: () => now,
            timers: noTimers,
            powerBudgetWatts: budgetWatts,
            budgetHysteresis: hysteresis,
            budgetWindowMs: windowSteps * 1000,
          })
          let fromEvents = false
          meter.on('budget', (e) => {
            fromEvents = e.overBudget
          })
          const follows = powerBudgetTrigger(meter)
          // The compatibility form: the same thresholds, re-applied to the meter's window average.
          const thresholds = powerBudgetTrigger(meter, {
            enterAboveWatts: budgetWatts,
            exitBelowWatts: budgetWatts * (1 - hysteresis),
            signal: 'budget',
          })
          const power = createPowerModeController({
            modes: { normal: { concurrency: 8 }, low: { concurrency: 2 } },
            initial: 'normal',
            triggers: [powerBudgetTrigger(meter)],
            clock: () => now,
            timers: noTimers,
          })
          await meter.sample()
          for (const w of watts) {
            draw = w
            now += 1000
            const snapshot = await meter.sample()
            const expected = snapshot.overBudget ? 'low' : undefined
            expect(fromEvents).toBe(snapshot.overBudget)
            expect(await follows.evaluate(now)).toBe(expected)
            expect(await thresholds.evaluate(now)).toBe(expected)
            await power.evaluate(now)
            expect(power.mode).toBe(expected ?? 'normal')
          }
          power.close()
        },
      ),
      { numRuns: 100 },
    )
  })
})
