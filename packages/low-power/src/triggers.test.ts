import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { batteryTrigger, parsePmset } from './battery-trigger.js'
import { carbonIntensityTrigger } from './carbon-intensity-trigger.js'
import { powerBudgetTrigger } from './power-budget-trigger.js'

/** Fixture folders made by the current test, removed after it. */
const fixtureRoots: string[] = []
afterEach(() => {
  for (const root of fixtureRoots.splice(0)) rmSync(root, { recursive: true, force: true })
})

function powerSupply(batteries: Record<string, { capacity: number; status: string }>): string {
  const root = mkdtempSync(join(tmpdir(), 'cortex-battery-'))
  fixtureRoots.push(root)
  mkdirSync(join(root, 'AC'))
  writeFileSync(join(root, 'AC', 'type'), 'Mains\n')
  for (const [name, b] of Object.entries(batteries)) {
    mkdirSync(join(root, name))
    writeFileSync(join(root, name, 'type'), 'Battery\n')
    writeFileSync(join(root, name, 'capacity'), `${b.capacity}\n`)
    writeFileSync(join(root, name, 'status'), `${b.status}\n`)
  }
  return root
}

describe('powerBudgetTrigger', () => {
  it('enters after power stays above the budget for forMs and leaves below the exit threshold', async () => {
    let watts = 50
    const t = powerBudgetTrigger(
      { snapshot: () => ({ currentWatts: watts }) },
      {
        enterAboveWatts: 100,
        exitBelowWatts: 85,
        forMs: 30_000,
      },
    )
    expect(await t.evaluate(0)).toBeUndefined()
    watts = 120
    expect(await t.evaluate(1_000)).toBeUndefined()
    expect(await t.evaluate(30_999)).toBeUndefined()
    expect(await t.evaluate(31_000)).toBe('low')
    watts = 90 // dead band: stays low
    expect(await t.evaluate(100_000)).toBe('low')
    watts = 80
    expect(await t.evaluate(101_000)).toBe('low')
    expect(await t.evaluate(131_000)).toBeUndefined()
  })

  it("judges the machine's power, not this process's share of it", async () => {
    // Two workers share a 120 W machine: this one is attributed 40 W, the machine draws 120 W.
    const share = { currentWatts: 40, avgWatts: 40, host: { currentWatts: 120, avgWatts: 110 } }
    const current = powerBudgetTrigger(
      { snapshot: () => share },
      { enterAboveWatts: 100, exitBelowWatts: 85 },
    )
    expect(await current.evaluate(0)).toBe('low')
    const average = powerBudgetTrigger(
      { snapshot: () => share },
      { enterAboveWatts: 100, exitBelowWatts: 85, signal: 'average' },
    )
    expect(await average.evaluate(0)).toBe('low')
    share.host.currentWatts = 60
    expect(await current.evaluate(1)).toBeUndefined()
  })

  it("can follow the meter's budget-window average instead of the latest interval", async () => {
    const snapshot = { currentWatts: 500, avgWatts: 500, budgetAverageWatts: 50 as number | null }
    const t = powerBudgetTrigger(
      { snapshot: () => snapshot },
      { enterAboveWatts: 100, exitBelowWatts: 85, signal: 'budget' },
    )
    expect(await t.evaluate(0)).toBeUndefined() // a spike in the latest interval, but the window average is low
    snapshot.budgetAverageWatts = 120
    expect(await t.evaluate(1)).toBe('low')
    expect(() =>
      powerBudgetTrigger(
        { snapshot: () => snapshot },
        { enterAboveWatts: 1, exitBelowWatts: 0, signal: 'peak' as never },
      ),
    ).toThrow('`signal`')
  })

  it("without thresholds, follows the meter's own budget decision (overBudget)", async () => {
    const snapshot = { currentWatts: 500, overBudget: false, powerBudgetWatts: 100 as number | null }
    let broken = false
    const meter = {
      snapshot: () => {
        if (broken) throw new Error('meter gone')
        return snapshot
      },
    }
    const t = powerBudgetTrigger(meter)
    expect(t.name).toBe('power-budget')
    expect(await t.evaluate(0)).toBeUndefined() // a spike, but the meter says under budget
    snapshot.overBudget = true
    expect(await t.evaluate(1)).toBe('low')
    broken = true
    expect(await t.evaluate(2)).toBe('low') // no reading: keeps its verdict
    broken = false
    snapshot.overBudget = false
    expect(await t.evaluate(3)).toBeUndefined()
    expect(await powerBudgetTrigger(meter, { mode: 'eco' }).evaluate(4)).toBeUndefined()
    snapshot.overBudget = true
    expect(await powerBudgetTrigger(meter, { mode: 'eco' }).evaluate(5)).toBe('eco')
  })

  it('without thresholds, needs a meter with a budget and refuses options that only thresholds use', () => {
    const noBudget = { snapshot: () => ({ currentWatts: 0, overBudget: false, powerBudgetWatts: null }) }
    expect(() => powerBudgetTrigger(noBudget)).toThrow('`meter` in powerBudgetTrigger')
    expect(() => powerBudgetTrigger({ snapshot: () => ({ currentWatts: 0 }) })).toThrow('`powerBudgetWatts`')
    const meter = { snapshot: () => ({ currentWatts: 0, overBudget: false, powerBudgetWatts: 100 }) }
    expect(() => powerBudgetTrigger(meter, { forMs: 1000 })).toThrow('`forMs` in powerBudgetTrigger')
    expect(() => powerBudgetTrigger(meter, { signal: 'budget' })).toThrow('`signal` in powerBudgetTrigger')
    expect(() => powerBudgetTrigger(meter, { enterAboveWatts: 100 })).toThrow('`exitBelowWatts`')
  })

  it('rejects an exit threshold above the enter threshold', () => {
    expect(() =>
      powerBudgetTrigger(
        { snapshot: () => ({ currentWatts: 0 }) },
        { enterAboveWatts: 80, exitBelowWatts: 100 },
      ),
    ).toThrow('`exitBelowWatts` in power-budget trigger')
  })
})

describe('carbonIntensityTrigger', () => {
  it('follows an async reading with hysteresis and keeps its verdict when the reading fails', async () => {
    let reading: number | Error = 450
    const t = carbonIntensityTrigger({
      read: async () => {
        if (reading instanceof Error) throw reading
        return reading
      },
      enterAbove: 400,
      exitBelow: 300,
    })
    expect(await t.evaluate(0)).toBe('low')
    reading = new Error('API down')
    expect(await t.evaluate(1)).toBe('low')
    reading = 350
    expect(await t.evaluate(2)).toBe('low')
    reading = 250
    expect(await t.evaluate(3)).toBeUndefined()
  })
})

describe('batteryTrigger', () => {
  it('reads Linux power_supply: low below the threshold while discharging, back when charging', async () => {
    const root = powerSupply({ BAT0: { capacity: 15, status: 'Discharging' } })
    const t = batteryTrigger({ belowPercent: 20, root, platform: 'linux' })
    expect(await t.evaluate(0)).toBe('low')
    writeFileSync(join(root, 'BAT0', 'status'), 'Charging\n')
    expect(await t.evaluate(1)).toBeUndefined()
  })

  it('never triggers without a battery', async () => {
    const t = batteryTrigger({ belowPercent: 20, root: powerSupply({}), platform: 'linux' })
    expect(await t.evaluate(0)).toBeUndefined()
    const missing = batteryTrigger({ belowPercent: 20, root: '/nonexistent/power_supply', platform: 'linux' })
    expect(await missing.evaluate(0)).toBeUndefined()
  })

  it('parses macOS pmset output', () => {
    expect(
      parsePmset(
        "Now drawing from 'Battery Power'\n -InternalBattery-0 (id=1234)\t18%; discharging; 1:02 remaining present: true",
      ),
    ).toEqual({ percent: 18, discharging: true })
    expect(
      parsePmset("Now drawing from 'AC Power'\n -InternalBattery-0 (id=1)\t80%; charging; 0:40 remaining"),
    ).toEqual({
      percent: 80,
      discharging: false,
    })
    expect(parsePmset("Now drawing from 'AC Power'\n")).toBeUndefined()
  })
})
