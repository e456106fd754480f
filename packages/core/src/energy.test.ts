import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  CPU_POWER_MODELS,
  type CpuPowerModel,
  co2Grams,
  counterDelta,
  cpuEnergyJoules,
  cpuLoad,
  cpuPowerWatts,
  createPowerIntegrator,
  cubicWatts,
  integratePower,
  joulesToKWh,
  kWhToJoules,
  LINEAR_IDLE_FRACTION,
  linearWatts,
  type PowerSample,
  processLinearWatts,
  ramPowerWatts,
  sci,
  teadsWatts,
} from './energy.js'
import { isCortexError } from './errors.js'

const RUNS = { numRuns: 300 }
const GiB = 1024 ** 3

/** |a − b| within `rel` of the larger magnitude (or `abs`, for values near 0). */
function near(a: number, b: number, rel = 1e-9, abs = 1e-9): boolean {
  return Math.abs(a - b) <= Math.max(abs, rel * Math.max(Math.abs(a), Math.abs(b)))
}

/** Any double at all, including NaN, ±Infinity, -0 and huge values. */
const anyNumber = fc.double()

/** Readings in time order (non-decreasing times, finite non-negative watts). */
const orderedSamples = fc
  .array(
    fc.record({
      dt: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 60_000, noNaN: true })),
      watts: fc.double({ min: 0, max: 10_000, noNaN: true }),
    }),
    { minLength: 1, maxLength: 60 },
  )
  .chain((steps) =>
    fc.double({ min: -1e9, max: 1e9, noNaN: true }).map((start) => {
      let t = start
      return steps.map(({ dt, watts }): PowerSample => {
        t += dt
        return { timeMs: t, watts }
      })
    }),
  )

const tdp = fc.double({ min: 0, max: 100_000, noNaN: true })
const model = fc.constantFrom<CpuPowerModel>(...CPU_POWER_MODELS)

function configError(fn: () => unknown): { option: string } {
  try {
    fn()
  } catch (err) {
    expect(isCortexError(err, 'ERR_CORTEX_CONFIG')).toBe(true)
    return err as { option: string }
  }
  throw new Error('expected a CortexConfigError')
}

describe('counterDelta', () => {
  it('a single wrap yields the true delta (counter runs over 0..maxRange inclusive)', () => {
    const maxRange = fc.oneof(
      fc.integer({ min: 1, max: 1000 }),
      fc.integer({ min: 1, max: 2 ** 32 }),
      fc.constant(262_143_328_850), // a real max_energy_range_uj
      fc.constant(2 ** 52),
    )
    fc.assert(
      fc.property(
        maxRange,
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (max, u, v) => {
          const previous = Math.min(max, Math.floor(u * (max + 1)))
          const trueDelta = Math.min(max, Math.floor(v * (max + 1)))
          const current = (previous + trueDelta) % (max + 1)
          expect(counterDelta(previous, current, max)).toBe(trueDelta)
        },
      ),
      RUNS,
    )
  })

  it('is never negative and never NaN, for any readings and range', () => {
    fc.assert(
      fc.property(anyNumber, anyNumber, anyNumber, (previous, current, max) => {
        const d = counterDelta(previous, current, max)
        expect(d >= 0).toBe(true)
      }),
      RUNS,
    )
  })

  it('treats a backwards counter with an unknown or inconsistent range as a reset (0)', () => {
    expect(counterDelta(500, 100, 0)).toBe(0)
    expect(counterDelta(500, 100, Number.NaN)).toBe(0)
    expect(counterDelta(500, 100, 400)).toBe(0) // previous above the published range
    expect(counterDelta(Number.NaN, 100, 1000)).toBe(0)
    expect(counterDelta(100, Number.POSITIVE_INFINITY, 1000)).toBe(0)
    expect(counterDelta(-5, 100, 1000)).toBe(0)
  })

  it('handles a RAPL wrap at max_energy_range_uj', () => {
    const max = 262_143_328_850
    expect(counterDelta(max - 50, 49, max)).toBe(100)
    expect(counterDelta(max, 0, max)).toBe(1)
    expect(counterDelta(10, 25, max)).toBe(15)
  })
})

describe('power integration (trapezoidal)', () => {
  it('constant power integrates to P × t exactly (within 1e-9 relative)', () => {
    fc.assert(
      fc.property(orderedSamples, fc.double({ min: 0, max: 10_000, noNaN: true }), (samples, watts) => {
        const constant = samples.map((s) => ({ timeMs: s.timeMs, watts }))
        const first = constant[0]!.timeMs
        const last = constant[constant.length - 1]!.timeMs
        expect(near(integratePower(constant), (watts * (last - first)) / 1000)).toBe(true)
      }),
      RUNS,
    )
  })

  it('is additive over split intervals: [a, b] + [b, c] == [a, c]', () => {
    fc.assert(
      fc.property(orderedSamples, fc.double({ min: 0, max: 1, noNaN: true }), (samples, u) => {
        const k = Math.min(samples.length - 1, Math.floor(u * samples.length))
        const whole = integratePower(samples)
        const split = integratePower(samples.slice(0, k + 1)) + integratePower(samples.slice(k))
        expect(near(split, whole)).toBe(true)
      }),
      RUNS,
    )
  })

  it('ignores out-of-order times, NaN/negative/infinite watts and non-finite times', () => {
    const junk = fc.oneof(
      fc.record({
        kind: fc.constant('earlier' as const),
        back: fc.double({ min: 1e-6, max: 1e6, noNaN: true }),
      }),
      fc.record({
        kind: fc.constant('bad watts' as const),
        watts: fc.constantFrom(Number.NaN, -1, -1e-9, Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY),
      }),
      fc.record({
        kind: fc.constant('bad time' as const),
        time: fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
      }),
    )
    fc.assert(
      fc.property(orderedSamples, fc.array(fc.option(junk), { maxLength: 60 }), (samples, junkList) => {
        const meter = createPowerIntegrator()
        samples.forEach((s, i) => {
          meter.add(s.timeMs, s.watts)
          const j = junkList[i]
          if (!j) return
          if (j.kind === 'earlier') meter.add(s.timeMs - j.back, 1_000)
          else if (j.kind === 'bad watts') meter.add(s.timeMs + 1, j.watts)
          else meter.add(j.time, 1_000)
        })
        expect(meter.joules).toBe(integratePower(samples))
      }),
      RUNS,
    )
  })

  it('never returns a negative, NaN or infinite total, and never decreases, for any readings', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(anyNumber, anyNumber), { maxLength: 40 }), (readings) => {
        const meter = createPowerIntegrator()
        let previous = 0
        for (const [t, w] of readings) {
          const j = meter.add(t, w)
          expect(j >= previous && Number.isFinite(j)).toBe(true)
          expect(meter.joules).toBe(j)
          previous = j
        }
      }),
      RUNS,
    )
  })

  it('a reading at the same time as the last replaces its power: the next interval starts from the newer value', () => {
    const meter = createPowerIntegrator()
    meter.add(0, 10)
    expect(meter.add(1_000, 10)).toBe(10)
    expect(meter.add(1_000, 100)).toBe(10) // no time passed: nothing added
    expect(meter.add(2_000, 100)).toBe(110) // 100 W for 1 s, not a ramp from 10 W (65 J)
    expect(
      integratePower([
        { timeMs: 0, watts: 0 },
        { timeMs: 0, watts: 60 },
        { timeMs: 1_000, watts: 60 },
      ]),
    ).toBe(60)
  })

  it('integrates a ramp exactly and restarts after reset', () => {
    expect(
      integratePower([
        { timeMs: 0, watts: 0 },
        { timeMs: 10_000, watts: 10 },
      ]),
    ).toBe(50)
    const meter = createPowerIntegrator()
    expect(meter.add(0, 10)).toBe(0)
    expect(meter.add(1_000, 10)).toBe(10)
    expect(meter.add(3_000, 20)).toBe(40)
    meter.reset()
    expect(meter.joules).toBe(0)
    expect(meter.add(5_000, 7)).toBe(0)
    expect(meter.add(6_000, 7)).toBe(7)
  })
})

describe('CPU power models', () => {
  it('each model is monotone non-decreasing in load', () => {
    fc.assert(
      fc.property(model, tdp, fc.double({ noNaN: true }), fc.double({ noNaN: true }), (m, t, a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a]
        expect(cpuPowerWatts(m, lo, t)).toBeLessThanOrEqual(cpuPowerWatts(m, hi, t))
      }),
      RUNS,
    )
  })

  it('the linear model is monotone non-decreasing for any idle <= max', () => {
    const range = fc
      .tuple(fc.double({ min: 0, max: 1e4, noNaN: true }), fc.double({ min: 0, max: 1e4, noNaN: true }))
      .map(([x, y]) => ({ idleWatts: Math.min(x, y), maxWatts: Math.max(x, y) }))
    fc.assert(
      fc.property(range, fc.double({ noNaN: true }), fc.double({ noNaN: true }), (opts, a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a]
        expect(linearWatts(lo, 100, opts)).toBeLessThanOrEqual(linearWatts(hi, 100, opts))
      }),
      RUNS,
    )
  })

  it('every model hits its documented end points', () => {
    fc.assert(
      fc.property(tdp, (t) => {
        expect(near(teadsWatts(0, t), 0.12 * t, 1e-12)).toBe(true)
        expect(near(teadsWatts(1, t), 1.02 * t, 1e-12)).toBe(true)
        expect(near(cubicWatts(0, t), 0.1 * t, 1e-12)).toBe(true)
        expect(near(cubicWatts(1, t), t, 1e-12)).toBe(true)
        expect(near(linearWatts(0, t), LINEAR_IDLE_FRACTION * t, 1e-12)).toBe(true)
        expect(near(linearWatts(1, t), t, 1e-12)).toBe(true)
        expect(cpuPowerWatts('process-linear', 0, t)).toBe(0)
        expect(cpuPowerWatts('process-linear', 1, t)).toBe(t)
      }),
      RUNS,
    )
  })

  it('passes through the Teads curve knots', () => {
    expect(teadsWatts(0.1, 100)).toBeCloseTo(32, 12)
    expect(teadsWatts(0.5, 100)).toBeCloseTo(75, 12)
    expect(teadsWatts(0.3, 100)).toBeCloseTo((32 + 75) / 2, 12)
    expect(linearWatts(0.5, 100, { idleWatts: 10 })).toBe(55)
    expect(cubicWatts(0.5, 100)).toBeCloseTo(21.25, 12)
  })

  it('never returns a negative, NaN or infinite power for any load (NaN, ±Infinity, huge)', () => {
    fc.assert(
      fc.property(model, tdp, anyNumber, (m, t, load) => {
        const w = cpuPowerWatts(m, load, t)
        expect(w >= 0 && Number.isFinite(w)).toBe(true)
      }),
      RUNS,
    )
  })

  it('never returns a negative or NaN load or energy for any CPU and wall time', () => {
    fc.assert(
      fc.property(
        model,
        tdp,
        anyNumber,
        anyNumber,
        fc.double({ min: 1, max: 1024, noNaN: true }),
        (m, t, cpu, wall, cores) => {
          const load = cpuLoad(cpu, wall, cores)
          expect(load >= 0 && load <= 1).toBe(true)
          expect(processLinearWatts(cpu, wall, cores, t) >= 0).toBe(true)
          expect(cpuEnergyJoules(m, cpu, wall, cores, t) >= 0).toBe(true)
        },
      ),
      RUNS,
    )
  })

  it('the process model is codecarbon’s TDP × cpuSeconds / wallSeconds / cores within range', () => {
    expect(cpuLoad(3, 2, 4)).toBe(0.375)
    expect(processLinearWatts(1, 2, 2, 100)).toBe(25)
    expect(processLinearWatts(10, 1, 2, 100)).toBe(100) // clamped: cannot exceed all cores
    expect(cpuLoad(1, 0, 1)).toBe(0)
  })

  it('reproduces the throttling figures in REFERENCE.md (same work at 50% for twice as long)', () => {
    const ratio = (m: CpuPowerModel) => cpuEnergyJoules(m, 1, 2, 1, 85) / cpuEnergyJoules(m, 1, 1, 1, 85)
    expect(ratio('teads')).toBeCloseTo(1.47, 2)
    expect(ratio('linear')).toBeCloseTo(1.21, 2)
    expect(ratio('cubic')).toBeCloseTo(0.425, 12) // −57%
    expect(ratio('process-linear')).toBeCloseTo(1, 12)
    expect(cpuEnergyJoules('cubic', 1, 2, 1, 100)).toBeCloseTo(42.5, 12)
  })

  it('rejects bad model parameters with CortexConfigError', () => {
    expect(configError(() => cpuPowerWatts('quadratic' as CpuPowerModel, 0.5, 85)).option).toBe('model')
    expect(configError(() => cpuPowerWatts('teads', 0.5, -1)).option).toBe('tdpWatts')
    expect(configError(() => cubicWatts(0.5, Number.NaN)).option).toBe('tdpWatts')
    expect(configError(() => cpuLoad(1, 1, 0.5)).option).toBe('cores')
    expect(configError(() => cpuEnergyJoules('teads', 1, 1, 0, 85)).option).toBe('cores')
    expect(configError(() => linearWatts(0.5, 85, { idleWatts: 50, maxWatts: 40 })).option).toBe('maxWatts')
    expect(configError(() => linearWatts(0.5, 85, { idleWatts: -1 })).option).toBe('idleWatts')
    expect(
      configError(() => cpuPowerWatts('cubic', 0.5, 85, { idelWatts: 5 } as unknown as { idleWatts: number }))
        .option,
    ).toBe('idelWatts')
  })
})

describe('RAM power', () => {
  it('matches codecarbon’s per-DIMM rule (x86) with its 10 W floor', () => {
    expect(ramPowerWatts({ totalBytes: 0 })).toBe(10)
    expect(ramPowerWatts({ totalBytes: 8 * GiB })).toBe(10)
    expect(ramPowerWatts({ totalBytes: 16 * GiB })).toBe(10)
    expect(ramPowerWatts({ totalBytes: 32 * GiB })).toBe(20)
    expect(ramPowerWatts({ totalBytes: 64 * GiB })).toBe(20)
    expect(ramPowerWatts({ totalBytes: 128 * GiB })).toBeCloseTo(38, 12) // 4 × 5 + 4 × 4.5
    expect(ramPowerWatts({ totalBytes: 200 * GiB })).toBeCloseTo(58, 12) // 13 × 16 GB
    expect(ramPowerWatts({ totalBytes: 1, dimms: 20 })).toBeCloseTo(20 + 18 + 32 + 14, 12)
    expect(ramPowerWatts({ totalBytes: 1, dimms: 1 })).toBe(10)
  })

  it('the per-GB rule is 0.375 W per GiB', () => {
    expect(ramPowerWatts({ totalBytes: 16 * GiB, mode: 'per-gb' })).toBe(6)
  })

  it('is monotone non-decreasing in the DIMM count and never below the floor', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), (n) => {
        const w = ramPowerWatts({ totalBytes: 0, dimms: n })
        expect(w).toBeGreaterThanOrEqual(10)
        expect(w).toBeLessThanOrEqual(ramPowerWatts({ totalBytes: 0, dimms: n + 1 }))
      }),
      { numRuns: 64 },
    )
  })

  it('rejects bad options with CortexConfigError', () => {
    expect(configError(() => ramPowerWatts({ totalBytes: -1 })).option).toBe('totalBytes')
    expect(configError(() => ramPowerWatts({ totalBytes: 1, mode: 'dram' as 'dimm' })).option).toBe('mode')
    expect(configError(() => ramPowerWatts({ totalBytes: 1, dimms: 0 })).option).toBe('dimms')
    expect(configError(() => ramPowerWatts({ totalBytes: 1, dimms: 2.5 })).option).toBe('dimms')
  })
})

describe('units, carbon and SCI', () => {
  it('joules ↔ kWh round trip', () => {
    fc.assert(
      fc.property(fc.double({ min: -1e300, max: 1e300, noNaN: true }), (j) => {
        expect(near(kWhToJoules(joulesToKWh(j)), j, 1e-15, 1e-290)).toBe(true)
        expect(near(joulesToKWh(kWhToJoules(j / 1e7)), j / 1e7, 1e-15, 1e-290)).toBe(true)
      }),
      RUNS,
    )
    expect(joulesToKWh(3_600_000)).toBe(1)
  })

  it('co2 is linear in energy', () => {
    const energy = fc.double({ min: 0, max: 1e15, noNaN: true })
    const intensity = fc.double({ min: 0, max: 2_000, noNaN: true })
    fc.assert(
      fc.property(energy, energy, fc.double({ min: 0, max: 1e3, noNaN: true }), intensity, (a, b, k, i) => {
        expect(near(co2Grams(a + b, i), co2Grams(a, i) + co2Grams(b, i), 1e-12)).toBe(true)
        expect(near(co2Grams(k * a, i), k * co2Grams(a, i), 1e-12)).toBe(true)
      }),
      RUNS,
    )
    expect(co2Grams(3_600_000, 475)).toBe(475)
  })

  it('co2 is never negative or NaN for any energy or intensity', () => {
    fc.assert(
      fc.property(anyNumber, anyNumber, (j, i) => {
        expect(co2Grams(j, i) >= 0).toBe(true)
      }),
      RUNS,
    )
  })

  it('SCI is ((E × I) + M) / R', () => {
    expect(
      sci({ energyKWh: 0.002, intensityGPerKWh: 475, embodiedGrams: 0.05, functionalUnits: 1000 }),
    ).toBeCloseTo(0.001, 15)
    expect(sci({ energyKWh: 1, intensityGPerKWh: 475 })).toBe(475)
    expect(configError(() => sci({ energyKWh: 1, intensityGPerKWh: 475, functionalUnits: 0 })).option).toBe(
      'functionalUnits',
    )
    expect(configError(() => sci({ energyKWh: -1, intensityGPerKWh: 475 })).option).toBe('energyKWh')
  })
})

/** The message of the CortexConfigError `fn` throws. */
function configMessage(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    expect(isCortexError(err, 'ERR_CORTEX_CONFIG')).toBe(true)
    return (err as Error).message
  }
  throw new Error('accepted')
}

describe('energy configuration errors', () => {
  it('name the option, the function and what is allowed', () => {
    const cases: [() => unknown, string][] = [
      [() => teadsWatts(0.5, -1), 'Invalid `tdpWatts` in teadsWatts: expected a finite number >= 0, got -1'],
      [() => linearWatts(0.5, -1), 'Invalid `tdpWatts` in linearWatts:'],
      [() => cubicWatts(0.5, -1), 'Invalid `tdpWatts` in cubicWatts:'],
      [() => processLinearWatts(1, 1, 1, -1), 'Invalid `tdpWatts` in processLinearWatts:'],
      [() => cpuPowerWatts('process-linear', 0.5, -1), 'Invalid `tdpWatts` in cpuPowerWatts:'],
      [() => cpuPowerWatts('teads', 0.5, 100, { maxWatts: -1 }), 'Invalid `maxWatts` in cpuPowerWatts:'],
      [
        () => cpuPowerWatts('watt' as CpuPowerModel, 0.5, 100),
        'Invalid `model` in cpuPowerWatts: expected one of',
      ],
      [() => cpuLoad(1, 1, 0), 'Invalid `cores` in cpuLoad: expected a finite number >= 1, got 0'],
      [() => linearWatts(0.5, 100, null as never), 'Invalid `options` in linearWatts: expected an object'],
      [
        () => linearWatts(0.5, 100, { maxWatts: -1 }),
        'Invalid `maxWatts` in linearWatts: expected a finite number >= 0',
      ],
      [
        () => linearWatts(0.5, 100, { idleWatts: 50, maxWatts: 40 }),
        'Invalid `maxWatts` in linearWatts: expected a number >= idleWatts (50), got 40',
      ],
      [() => ramPowerWatts(null as never), 'Invalid `options` in ramPowerWatts: expected an object'],
      [
        () => ramPowerWatts({ totalBytes: 1, mode: 'x' as never }),
        'Invalid `mode` in ramPowerWatts: expected one of "dimm", "per-gb"',
      ],
      [() => sci(null as never), 'Invalid `input` in sci: expected an object'],
      [
        () => sci({ energyKWh: 1, intensityGPerKWh: -1 }),
        'Invalid `intensityGPerKWh` in sci: expected a finite number >= 0',
      ],
      [
        () => sci({ energyKWh: 1, intensityGPerKWh: 1, embodiedGrams: -1 }),
        'Invalid `embodiedGrams` in sci: expected a finite number >= 0',
      ],
    ]
    for (const [fn, message] of cases) expect(configMessage(fn)).toContain(message)
  })

  it('accept the edge values: maxWatts equal to idleWatts, idle defaulting to a fraction of maxWatts', () => {
    expect(linearWatts(0.5, 100, { idleWatts: 40, maxWatts: 40 })).toBe(40)
    expect(linearWatts(0, 100, { maxWatts: 50 })).toBeCloseTo(LINEAR_IDLE_FRACTION * 50, 12)
    expect(linearWatts(1, 100, { maxWatts: 0 })).toBe(0)
  })
})

describe('edge values of the energy arithmetic', () => {
  it('counterDelta: a wrap needs a positive range that the previous reading fits in', () => {
    expect(counterDelta(90, 10, 100)).toBe(21) // 90 → 100, then 0 → 10
    expect(counterDelta(100, 10, 100)).toBe(11)
    expect(counterDelta(101, 10, 100)).toBe(0)
    expect(counterDelta(90, 10, 0)).toBe(0)
  })

  it('power integration ignores negative watts and non-finite times after the first reading', () => {
    const meter = createPowerIntegrator()
    meter.add(0, 10)
    expect(meter.add(1_000, -5)).toBe(0)
    expect(meter.add(Number.POSITIVE_INFINITY, 10)).toBe(0)
    expect(meter.add(1_000, Number.NaN)).toBe(0)
    expect(meter.add(1_000, 10)).toBe(10)
  })

  it('the Teads curve is exact at its knots and linear between them', () => {
    expect(teadsWatts(0.1, 100)).toBeCloseTo(32, 12)
    expect(teadsWatts(0.3, 100)).toBeCloseTo(53.5, 12) // halfway from 10% (32) to 50% (75)
    expect(teadsWatts(1, 100)).toBeCloseTo(102, 12)
    expect(teadsWatts(0, 100)).toBeCloseTo(12, 12)
  })

  it('cpuLoad and co2Grams are 0 for zero wall time, zero energy or zero intensity', () => {
    expect(cpuLoad(1, 0, 1)).toBe(0)
    expect(co2Grams(0, 475)).toBe(0)
    expect(co2Grams(3_600_000, 0)).toBe(0)
    expect(co2Grams(3_600_000, 475)).toBeCloseTo(475, 9)
  })

  it('ramPowerWatts estimates DIMMs as codecarbon does at the size boundaries (5 W each, tiered past 4)', () => {
    const GB = 1024 ** 3
    expect(ramPowerWatts({ totalBytes: 2 * GB })).toBe(10) // 1 DIMM, 10 W floor
    expect(ramPowerWatts({ totalBytes: 17 * GB })).toBe(20) // 4 DIMMs
    expect(ramPowerWatts({ totalBytes: 65 * GB })).toBe(38) // 8 DIMMs: 4 × 5 + 4 × 4.5
    expect(ramPowerWatts({ totalBytes: 129 * GB })).toBe(42) // 9 × 16 GB
    expect(ramPowerWatts({ totalBytes: 256 * GB })).toBe(38) // 8 × 32 GB, not 16 × 16 GB
  })
})
