import { isCortexError } from '@cortex/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { defineSlos, type SloConfig } from './define-slos.js'
import { k6Thresholds } from './k6.js'

const seed: SloConfig = {
  service: 'cortex-api',
  window: '30d',
  objectives: [
    { name: 'embed-latency', route: 'POST /embed/multimodal', latency: { percentile: 95, thresholdMs: 200 } },
    { name: 'plan-latency', route: 'POST /agents/plan', threshold: 'p(95)<2000' },
    { name: 'availability', route: '*', availability: { errorRate: 0.005 } },
  ],
}

function configError(fn: () => unknown): { option: string; message: string } {
  try {
    fn()
  } catch (err) {
    expect(isCortexError(err, 'ERR_CORTEX_CONFIG')).toBe(true)
    return err as { option: string; message: string }
  }
  throw new Error('expected a CortexConfigError')
}

describe('defineSlos', () => {
  it('resolves the seed definition: latency objectives are ratio SLIs, k6 syntax accepted', () => {
    const slos = defineSlos(seed)
    expect(slos.windowMs).toBe(30 * 86_400_000)
    const [embed, plan, availability] = slos.objectives
    expect(embed).toMatchObject({
      kind: 'latency',
      method: 'POST',
      path: '/embed/multimodal',
      target: 0.95,
      thresholdMs: 200,
    })
    expect(plan).toMatchObject({
      kind: 'latency',
      target: 0.95,
      thresholdMs: 2000,
      percentile: 95,
      k6Threshold: 'p(95)<2000',
    })
    expect(availability).toMatchObject({
      kind: 'availability',
      path: undefined,
      method: undefined,
      target: 0.995,
    })
    expect(availability?.errorStatusCodes).toEqual(['5xx'])
    expect(embed?.alerting.table.map((t) => t.factor)).toEqual([14.4, 6, 3, 1])
    expect(defineSlos(slos)).toBe(slos)
    expect(Object.isFrozen(slos.objectives)).toBe(true)
  })

  it('uses the 28-day factors for a 28d window and drops disabled severities', () => {
    const slos = defineSlos({ ...seed, window: '28d', alerting: { ticket: false } })
    const table = slos.objectives[0]?.alerting.table ?? []
    expect(table.map((t) => t.severity)).toEqual(['page', 'page'])
    expect(table.map((t) => t.factor)).toEqual([13.44, 5.6])
    const own = defineSlos({
      ...seed,
      objectives: [
        {
          ...seed.objectives[0]!,
          alerting: { page: false, ticket: true, for: '5m', labels: { team: 'ml' } },
        },
      ],
    })
    expect(own.objectives[0]?.alerting).toMatchObject({
      page: false,
      ticket: true,
      forMs: 300_000,
      labels: { team: 'ml' },
    })
  })

  it('accepts rate<x thresholds, availability targets, any-method routes and custom error statuses', () => {
    const slos = defineSlos({
      service: 's',
      objectives: [
        { name: 'a', route: '*', threshold: 'rate<0.01' },
        { name: 'b', route: '/health', availability: { target: 0.999, errorStatusCodes: ['5xx', 429] } },
      ],
    })
    expect(slos.objectives[0]).toMatchObject({ kind: 'availability', target: 0.99, k6Threshold: 'rate<0.01' })
    expect(slos.objectives[1]).toMatchObject({ method: undefined, path: '/health', target: 0.999 })
    expect(slos.objectives[1]?.errorStatusCodes).toEqual(['5xx', '429'])
  })

  it('collects sample requests for the baseline, filling route params', () => {
    const slos = defineSlos({
      ...seed,
      requests: {
        'POST /embed/multimodal': { body: { text: 'hi' } },
        'GET /users/:id': { params: { id: 42 }, headers: { accept: 'application/json' } },
      },
    })
    expect(slos.requests['POST /embed/multimodal']).toMatchObject({
      method: 'POST',
      path: '/embed/multimodal',
      body: { text: 'hi' },
    })
    expect(slos.requests['GET /users/:id']).toMatchObject({
      path: '/users/42',
      headers: { accept: 'application/json' },
    })
  })

  describe('rejects bad input with a CortexConfigError naming the objective and the field', () => {
    const objective = (extra: object) => ({
      service: 's',
      objectives: [{ name: 'embed', route: 'POST /e', ...extra }],
    })
    it.each([
      [
        'an unknown field',
        objective({ latency: { percentile: 95, thresholdMs: 200 }, treshold: 1 }),
        'treshold',
      ],
      ['an unknown latency field', objective({ latency: { percentile: 95, thresholdMs: 200, p: 1 } }), 'p'],
      ['percentile 0', objective({ latency: { percentile: 0, thresholdMs: 200 } }), 'latency.percentile'],
      [
        'percentile 49.9',
        objective({ latency: { percentile: 49.9, thresholdMs: 200 } }),
        'latency.percentile',
      ],
      [
        'percentile 99.999',
        objective({ latency: { percentile: 99.999, thresholdMs: 200 } }),
        'latency.percentile',
      ],
      ['p(10) in k6 syntax', objective({ threshold: 'p(10)<200' }), 'threshold'],
      ['percentile 100', objective({ latency: { percentile: 100, thresholdMs: 200 } }), 'latency.percentile'],
      ['percentile 120', objective({ latency: { percentile: 120, thresholdMs: 200 } }), 'latency.percentile'],
      [
        'a negative threshold',
        objective({ latency: { percentile: 95, thresholdMs: -5 } }),
        'latency.thresholdMs',
      ],
      [
        'a NaN threshold',
        objective({ latency: { percentile: 95, thresholdMs: Number.NaN } }),
        'latency.thresholdMs',
      ],
      ['p(0) in k6 syntax', objective({ threshold: 'p(0)<200' }), 'threshold'],
      ['unparseable k6 syntax', objective({ threshold: 'avg<200' }), 'threshold'],
      ['an error rate of 1', objective({ availability: { errorRate: 1 } }), 'availability.errorRate'],
      ['two SLI kinds', objective({ threshold: 'p(95)<1', availability: { errorRate: 0.1 } }), 'latency'],
      ['no SLI', objective({}), 'latency'],
      [
        'a raw URL as route',
        { service: 's', objectives: [{ name: 'embed', route: 'GET /x?y=1', threshold: 'p(95)<1' }] },
        'route',
      ],
      [
        'an unknown method',
        { service: 's', objectives: [{ name: 'embed', route: 'FETCH /x', threshold: 'p(95)<1' }] },
        'route',
      ],
      [
        'a 1m tier',
        objective({
          threshold: 'p(95)<1',
          alerting: {
            tiers: [{ severity: 'page', longWindow: '1h', shortWindow: '1m', budgetConsumed: 0.02 }],
          },
        }),
        'alerting.tiers',
      ],
    ])('%s', (_label, config, field) => {
      const err = configError(() => defineSlos(config as SloConfig))
      expect(err.option).toBe(field)
      expect(err.message).toContain('objective "embed"')
    })

    it('an unknown window', () => {
      const err = configError(() => defineSlos({ ...seed, window: '31d' as '30d' }))
      expect(err.option).toBe('window')
      expect(err.message).toContain('"31d"')
    })

    it('an unknown top-level field, a duplicate name, no objectives', () => {
      expect(configError(() => defineSlos({ ...seed, objectivs: [] } as unknown as SloConfig)).option).toBe(
        'objectivs',
      )
      expect(
        configError(() => defineSlos({ ...seed, objectives: [seed.objectives[0]!, seed.objectives[0]!] }))
          .option,
      ).toBe('name')
      expect(configError(() => defineSlos({ ...seed, objectives: [] })).option).toBe('objectives')
    })
  })

  it('k6 threshold strings round-trip through defineSlos and k6Thresholds', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 50, max: 99.99, noNaN: true }).map((p) => Number(p.toFixed(2))),
        fc.double({ min: 0.001, max: 1e6, noNaN: true }).map((t) => Number(t.toPrecision(6))),
        fc.double({ min: 1e-6, max: 0.5, noNaN: true }).map((r) => Number(r.toPrecision(4))),
        (percentile, thresholdMs, rate) => {
          const latency = `p(${percentile})<${thresholdMs}` as const
          const failed = `rate<${rate}` as const
          const slos = defineSlos({
            service: 's',
            objectives: [
              { name: 'l', route: 'GET /x', threshold: latency },
              { name: 'a', route: '*', threshold: failed },
            ],
          })
          expect(k6Thresholds(slos)).toEqual({
            'http_req_duration{endpoint:GET /x}': [latency],
            http_req_failed: [failed],
          })
          // and the object form renders the same string
          const again = defineSlos({
            service: 's',
            objectives: [
              { name: 'l', route: 'GET /x', latency: { percentile, thresholdMs } },
              { name: 'a', route: '*', availability: { errorRate: rate } },
            ],
          })
          expect(k6Thresholds(again)).toEqual(k6Thresholds(slos))
        },
      ),
    )
  })
})
