import { isCortexError } from '@cortex/core'
import { describe, expect, it } from 'vitest'
import { countryIntensity, createIntensityProvider, worldAverageIntensity } from './carbon-intensity.js'

describe('carbon intensity', () => {
  it("reads a country's average from @tgwf/co2's shipped data", () => {
    expect(countryIntensity('FRA')).toBe(44.18)
    expect(countryIntensity('deu')).toBe(342.06)
    expect(createIntensityProvider({ country: 'FRA' }).info()).toEqual({
      gramsPerKWh: 44.18,
      source: 'country',
      country: 'FRA',
      dataset: '@tgwf/co2 averageIntensity (Ember yearly averages)',
    })
  })

  it('defaults to the world average and says so', () => {
    const p = createIntensityProvider(undefined)
    expect(p.gramsPerKWh).toBe(worldAverageIntensity())
    expect(p.info()).toMatchObject({ source: 'world-average', country: 'WORLD' })
  })

  it.each([
    { country: 'XXX' },
    { country: 'FR' },
    { country: 'ASIA' },
    { country: 'FRA', year: 2020 },
    -5,
    'FRA',
    null,
  ])('rejects %j with a CortexConfigError naming carbonIntensity', (option) => {
    try {
      createIntensityProvider(option as never)
      expect.unreachable()
    } catch (err) {
      expect(isCortexError(err, 'ERR_CORTEX_CONFIG')).toBe(true)
      expect((err as Error).message).toMatch(/`carbonIntensity/)
    }
  })

  it('calls a live function, keeping the last good value when it fails, and counts failures', async () => {
    const answers: (number | Error | string)[] = [120, new Error('api down'), Number.NaN, 'x', 80]
    const p = createIntensityProvider(async () => {
      const a = answers.shift()
      if (a instanceof Error) throw a
      return a as number
    })
    expect(p.info()).toMatchObject({ source: 'function', failures: 0 })
    await p.refresh(0)
    expect(p.gramsPerKWh).toBe(120)
    await p.refresh(1)
    await p.refresh(2)
    await p.refresh(3)
    expect(p.gramsPerKWh).toBe(120)
    expect(p.info()).toMatchObject({
      failures: 3,
      lastError: expect.stringContaining('not a non-negative number'),
    })
    await p.refresh(4)
    expect(p.gramsPerKWh).toBe(80)
  })

  it('a function that throws synchronously or never answers falls back without blocking', async () => {
    const sync = createIntensityProvider(() => {
      throw new Error('boom')
    })
    await sync.refresh(0)
    expect(sync.gramsPerKWh).toBe(worldAverageIntensity())
    expect(sync.info().failures).toBe(1)
    let calls = 0
    const slow = createIntensityProvider(() => {
      calls++
      return new Promise<number>(() => {})
    })
    await slow.refresh(0)
    await slow.refresh(1)
    expect(calls).toBe(1)
    expect(slow.gramsPerKWh).toBe(worldAverageIntensity())
  })
})
