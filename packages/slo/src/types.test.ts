/**
 * Mistakes the types catch before anything runs (`pnpm typecheck` compiles
 * this file: each `@ts-expect-error` fails the build if the line stops being
 * an error), and the same mistakes refused at run time for JavaScript users.
 */
import { describe, expect, expectTypeOf, it } from 'vitest'
import { defineSlos, type SloConfig } from './define-slos.js'
import type { Duration } from './durations.js'
import type { K6Threshold } from './k6-threshold.js'

/** An untyped objective, as JavaScript users (or JSON configs) pass it: checked at run time only. */
const objective = (extra: object) =>
  ({ service: 's', objectives: [{ name: 'o', route: 'GET /x', ...extra }] }) as unknown as SloConfig

describe('types that catch mistakes', () => {
  it('threshold strings are typed in k6 syntax', () => {
    expectTypeOf<'p(95)<200'>().toExtend<K6Threshold>()
    expectTypeOf<'p(99.9)<=1500'>().toExtend<K6Threshold>()
    expectTypeOf<'rate<0.005'>().toExtend<K6Threshold>()
    expectTypeOf<'p95<200'>().not.toExtend<K6Threshold>()
    expectTypeOf<'p(95)>200'>().not.toExtend<K6Threshold>()
    expectTypeOf<'95th<200ms'>().not.toExtend<K6Threshold>()
    const ok = {
      service: 's',
      objectives: [{ name: 'o', route: 'GET /x', threshold: 'p(95)<200' }],
    } satisfies SloConfig
    expect(defineSlos(ok).objectives[0]?.k6Threshold).toBe('p(95)<200')
    expect(() =>
      defineSlos({
        service: 's',
        // @ts-expect-error not k6 syntax: p(95), not p95
        objectives: [{ name: 'o', route: 'GET /x', threshold: 'p95<200' }],
      }),
    ).toThrow('`threshold`')
  })

  it('durations are typed as a number and a unit', () => {
    expectTypeOf<'5m'>().toExtend<Duration>()
    expectTypeOf<'1.5h'>().toExtend<Duration>()
    expectTypeOf<'500ms'>().toExtend<Duration>()
    expectTypeOf<'5 minutes'>().not.toExtend<Duration>()
    expectTypeOf<'5'>().not.toExtend<Duration>()
    expect(defineSlos(objective({ threshold: 'p(95)<200', alerting: { for: '5m' } }))).toBeTruthy()
    expect(() =>
      defineSlos({
        service: 's',
        // @ts-expect-error not a duration: '5m'
        objectives: [{ name: 'o', route: 'GET /x', threshold: 'p(95)<200', alerting: { for: '5 minutes' } }],
      }),
    ).toThrow('`alerting.for`')
  })

  it('a percentile written as a fraction is refused when the SLOs are built: "95, not 0.95"', () => {
    expect(() => defineSlos(objective({ latency: { percentile: 0.95, thresholdMs: 200 } }))).toThrow(
      /`latency\.percentile`.*50 to 99\.99.*95, not 0\.95/,
    )
    expect(() => defineSlos(objective({ threshold: 'p(0.99)<200' }))).toThrow(/`threshold`.*99, not 0\.99/)
    expect(() => defineSlos(objective({ latency: { percentile: 40, thresholdMs: 200 } }))).toThrow(
      /50 to 99\.99.*\(95, not 0\.95\)/,
    )
    for (const percentile of [50, 95, 99.99]) {
      expect(
        defineSlos(objective({ latency: { percentile, thresholdMs: 200 } })).objectives[0]?.percentile,
      ).toBe(percentile)
    }
  })
})
