/**
 * The demo's low-power comparison keeps the benchmark's method: the server
 * busy (closed loop), both modes under the same clients in ABBA order, and
 * the saving judged under every CPU model that charges idle power, per
 * answered request. Figures here are made up; no timing is measured.
 */
import { describe, expect, it } from 'vitest'
import {
  CLOSED_LOOP_CLIENTS,
  COMPARISON_MODELS,
  compareModes,
  comparisonSchedule,
  type Mode,
  type Run,
  WARM_UP,
} from '../src/low-power-comparison.ts'

const machine = { cores: 2, tdpWatts: 85 }

const run = (mode: Mode, answered: number, cpuSeconds: number, extra: Partial<Run> = {}): Run => ({
  mode,
  answered,
  refused: 0,
  cpuSeconds,
  wallSeconds: 5,
  meterJoules: cpuSeconds * 50,
  meterWatts: 40,
  p50Ms: 10,
  p97_5Ms: 20,
  ...extra,
})

/** ABBA ABBA runs where normal mode costs `normalCpuMs` and low `lowCpuMs` of CPU per request, one core busy for 5 s. */
function abba(normalCpuMs: number, lowCpuMs: number): Run[] {
  const n = 5000 / normalCpuMs
  const l = 5000 / lowCpuMs
  return (['normal', 'low', 'low', 'normal', 'normal', 'low', 'low', 'normal'] as const).map((mode) =>
    run(mode, mode === 'normal' ? n : l, 5),
  )
}

describe('the demo compares low-power mode at saturation', () => {
  it('drives every run closed loop: clients and a duration, never a rate that would leave the server idle', () => {
    for (const seconds of [4.8, 27, 60]) {
      const schedule = comparisonSchedule(seconds)
      for (const step of [...WARM_UP, ...schedule]) {
        expect(Object.keys(step.load).sort()).toEqual(['connections', 'duration'])
        expect(step.load.connections).toBe(CLOSED_LOOP_CLIENTS)
        expect(step.load.duration).toBeGreaterThanOrEqual(1)
      }
    }
  })

  it('alternates the modes normal, low, low, normal, twice, with runs of equal length', () => {
    const schedule = comparisonSchedule(27)
    expect(schedule.map((s) => s.mode)).toEqual([
      'normal',
      'low',
      'low',
      'normal',
      'normal',
      'low',
      'low',
      'normal',
    ])
    expect(new Set(schedule.map((s) => s.load.duration))).toEqual(new Set([3]))
  })

  it('judges the saving under the teads, linear and cubic models', () => {
    expect([...COMPARISON_MODELS]).toEqual(['teads', 'linear', 'cubic'])
    const result = compareModes(abba(2, 1), machine)
    for (const m of COMPARISON_MODELS) expect(result.saving[m]).toBeCloseTo(0.5, 6)
    expect(result.cpuSaving).toBeCloseTo(0.5, 6)
    expect(result.met).toBe(true)
  })

  it('charges idle power over the wall time: a low mode that only slows down saves nothing', () => {
    // Same CPU per request, half the requests in the same wall time (a throttled server).
    const runs = abba(2, 2).map((r) =>
      r.mode === 'low' ? { ...r, answered: r.answered / 2, cpuSeconds: 2.5 } : r,
    )
    const result = compareModes(runs, machine)
    expect(result.cpuSaving).toBeCloseTo(0, 6)
    for (const m of COMPARISON_MODELS) expect(result.saving[m]).toBeLessThan(0)
    expect(result.met).toBe(false)
  })

  it('divides by answered requests only: refusals never make a request look cheaper', () => {
    const runs = abba(2, 2).map((r) =>
      r.mode === 'low' ? { ...r, answered: r.answered / 2, refused: r.answered / 2 } : r,
    )
    const result = compareModes(runs, machine)
    for (const m of COMPARISON_MODELS) expect(result.saving[m]).toBeLessThan(0)
    expect(result.low.refused).toBeGreaterThan(0)
  })

  it('states the median pair: one pair disturbed by the machine cannot move it', () => {
    const runs = abba(2, 1)
    runs[7] = { ...(runs[7] as Run), answered: (runs[7] as Run).answered * 10 } // pair 4: normal looks 10× cheaper
    const result = compareModes(runs, machine)
    for (const m of COMPARISON_MODELS) {
      expect(result.saving[m]).toBeCloseTo(0.5, 6)
      expect(result.worstPair[m]).toBeLessThan(0)
    }
    expect(result.pairs).toHaveLength(4)
  })

  it('judges the worst pair on CPU time: a pair the machine starved differently does not decide', () => {
    const runs = abba(1, 0.5)
    // Pair 2: the low run got a quarter core instead of one (same CPU per request, 4× the wall time per request).
    runs[2] = { ...(runs[2] as Run), answered: (runs[2] as Run).answered / 4, cpuSeconds: 1.25 }
    const result = compareModes(runs, machine)
    for (const m of COMPARISON_MODELS) expect(result.worstPair[m]).toBeLessThan(0.3)
    expect(result.worstPairCpuSaving).toBeCloseTo(0.5, 6)
    expect(result.met).toBe(true)
  })

  it('is met only when every model saves 30 % on the median pair and every pair saves 30 % of CPU time', () => {
    expect(compareModes(abba(1, 0.72), machine).met).toBe(false) // 28 % everywhere
    // Every pair saves 50 % but the last, which saves 10 %.
    const runs = abba(1, 0.5)
    runs[6] = { ...(runs[6] as Run), answered: 5000 / 0.9 }
    const result = compareModes(runs, machine)
    for (const m of COMPARISON_MODELS) {
      expect(result.saving[m]).toBeGreaterThan(0.3)
      expect(result.worstPair[m]).toBeLessThan(0.3)
    }
    expect(result.met).toBe(false)
  })
})
