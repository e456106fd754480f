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

/** ABBA runs where low mode costs `lowCpuMs` and normal `normalCpuMs` of CPU per request, the server busy for 5 s. */
function abba(normalCpuMs: number, lowCpuMs: number): Run[] {
  const busy = 1 // one core busy: saturation
  const n = (busy * 5 * 1000) / normalCpuMs
  const l = (busy * 5 * 1000) / lowCpuMs
  return [
    run('normal', n, busy * 5),
    run('low', l, busy * 5),
    run('low', l, busy * 5),
    run('normal', n, busy * 5),
  ]
}

describe('the demo compares low-power mode at saturation', () => {
  it('drives every run closed loop: clients and a duration, never a rate that would leave the server idle', () => {
    for (const seconds of [4.8, 27, 60]) {
      const schedule = comparisonSchedule(seconds)
      for (const step of schedule) {
        expect(Object.keys(step.load).sort()).toEqual(['connections', 'duration'])
        expect(step.load.connections).toBe(CLOSED_LOOP_CLIENTS)
        expect(step.load.duration).toBeGreaterThanOrEqual(1)
      }
    }
  })

  it('alternates the modes normal, low, low, normal with runs of equal length', () => {
    const schedule = comparisonSchedule(27)
    expect(schedule.map((s) => s.mode)).toEqual(['normal', 'low', 'low', 'normal'])
    expect(new Set(schedule.map((s) => s.load.duration))).toEqual(new Set([7]))
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
    const runs = [run('normal', 1000, 2), run('low', 500, 1), run('low', 500, 1), run('normal', 1000, 2)]
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

  it('is met only when every model saves 30 % overall and in the worst pair', () => {
    expect(compareModes(abba(1, 0.72), machine).met).toBe(false) // 28 % everywhere
    // Overall above 30 %, but the second pair saves only 10 %.
    const runs = [run('normal', 1000, 5), run('low', 5000, 5), run('low', 1111, 5), run('normal', 1000, 5)]
    const result = compareModes(runs, machine)
    for (const m of COMPARISON_MODELS) {
      expect(result.saving[m]).toBeGreaterThan(0.3)
      expect(result.worstPair[m]).toBeLessThan(0.3)
    }
    expect(result.met).toBe(false)
  })
})
