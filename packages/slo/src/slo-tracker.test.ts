import { burnRate, burnRateAlertTable, errorBudget } from '@cortex/core'
import fc from 'fast-check'
import { Registry } from 'prom-client'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { defineSlos, type SloConfig } from './define-slos.js'
import { createSloTracker, type SloAlert } from './slo-tracker.js'

const MIN = 60_000
const HOUR = 60 * MIN

const seed: SloConfig = {
  service: 'cortex-api',
  window: '30d',
  objectives: [
    { name: 'embed-latency', route: 'POST /embed/multimodal', latency: { percentile: 95, thresholdMs: 200 } },
    { name: 'plan-latency', route: 'POST /agents/plan', threshold: 'p(95)<2000' },
    { name: 'availability', route: '*', availability: { errorRate: 0.005 } },
  ],
}

function fakeClock(start = 1_000_000) {
  let now = start
  return {
    clock: () => now,
    advance: (ms: number) => {
      now += ms
    },
    get now() {
      return now
    },
  }
}

afterEach(() => {
  vi.useRealTimers()
})

describe('createSloTracker', () => {
  it('reports count, rates and percentiles per route and method, and each objective', () => {
    const time = fakeClock()
    const tracker = createSloTracker(seed, { clock: time.clock })
    for (let i = 1; i <= 100; i++) {
      tracker.record({
        route: '/embed/multimodal',
        method: 'POST',
        statusCode: i <= 2 ? 500 : 200,
        durationMs: i * 3,
      })
    }
    time.advance(10_000)
    const report = tracker.report()
    expect(report.routes).toHaveLength(1)
    const route = report.routes[0]!
    expect(route).toMatchObject({ method: 'POST', route: '/embed/multimodal', count: 100, errorRate: 0.02 })
    expect(route.requestRate).toBeCloseTo(10, 10)
    expect(route.statusCodes).toEqual({ '200': 98, '500': 2 })
    expect(Math.abs(route.p50 - 150) / 150).toBeLessThanOrEqual(0.01)
    expect(Math.abs(route.p99 - 297) / 297).toBeLessThanOrEqual(0.01)
    const embed = report.objectives.find((o) => o.name === 'embed-latency')!
    // 66 of 100 requests took ≤ 200 ms (3, 6, …, 198)
    expect(embed).toMatchObject({
      good: 66,
      total: 100,
      sli: 0.66,
      target: 0.95,
      met: false,
      kind: 'latency',
    })
    const availability = report.objectives.find((o) => o.name === 'availability')!
    expect(availability).toMatchObject({ good: 98, total: 100, sli: 0.98, met: false })
    const plan = report.objectives.find((o) => o.name === 'plan-latency')!
    expect(plan).toMatchObject({ total: 0, sli: 1, met: true, errorBudgetRemaining: 1 })
    expect(plan.burnRates).toEqual({ '5m': 0, '30m': 0, '1h': 0, '6h': 0 })
  })

  it('the latency SLI is exact at the threshold (not sketch-approximate)', () => {
    const tracker = createSloTracker(seed, { clock: () => 0 })
    // 199.9, 200 and 200.0001 sit within the sketch's 1 % of the threshold: only an exact counter splits them right.
    for (const d of [199.9, 200, 200, 200.0001, 201]) {
      tracker.record({ route: '/embed/multimodal', method: 'POST', statusCode: 200, durationMs: d })
    }
    expect(tracker.report().objectives[0]).toMatchObject({ good: 3, total: 5 })
  })

  it('report quantiles are within the sketch accuracy of the exact values', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0.01, max: 60_000, noNaN: true }), { minLength: 1, maxLength: 400 }),
        (values) => {
          const tracker = createSloTracker(seed, { clock: () => 0 })
          for (const v of values)
            tracker.record({ route: '/r', method: 'GET', statusCode: 200, durationMs: v })
          const route = tracker.report().routes[0]!
          const sorted = [...values].sort((a, b) => a - b)
          for (const [q, got] of [
            [0.5, route.p50],
            [0.95, route.p95],
            [0.99, route.p99],
          ] as const) {
            const exact = sorted[Math.floor(q * (sorted.length - 1))]!
            expect(Math.abs(got - exact)).toBeLessThanOrEqual(exact * 0.01 * (1 + 1e-9))
          }
        },
      ),
      { numRuns: 60 },
    )
  })

  it('error budget and burn rates equal the formulas', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 500 }),
        fc.integer({ min: 0, max: 500 }),
        fc.constantFrom(0.9, 0.99, 0.995, 0.999),
        (good, bad, target) => {
          const time = fakeClock()
          const tracker = createSloTracker(
            { service: 's', objectives: [{ name: 'a', route: '*', availability: { target } }] },
            { clock: time.clock },
          )
          // an hour ago: only good requests (outside 5m/30m, inside 1h/6h)
          for (let i = 0; i < good; i++)
            tracker.record({ route: '/x', method: 'GET', statusCode: 200, durationMs: 1 })
          time.advance(50 * MIN)
          for (let i = 0; i < bad; i++)
            tracker.record({ route: '/x', method: 'GET', statusCode: 503, durationMs: 1 })
          time.advance(MIN)
          const o = tracker.report().objectives[0]!
          const total = good + bad
          expect(o.good).toBe(good)
          expect(o.total).toBe(total)
          expect(o.errorBudgetRemaining).toBe(errorBudget({ objective: target, good, total }).remaining)
          const recent = bad === 0 ? 0 : 1
          expect(o.burnRates['5m']).toBe(burnRate(recent, target))
          expect(o.burnRates['30m']).toBe(burnRate(recent, target))
          expect(o.burnRates['1h']).toBe(burnRate(bad / total, target))
          expect(o.burnRates['6h']).toBe(burnRate(bad / total, target))
        },
      ),
      { numRuns: 40 },
    )
  })

  it('windows slide: errors leave the 5m window after 5 minutes and the period after 30 days', () => {
    const time = fakeClock()
    const tracker = createSloTracker(seed, { clock: time.clock })
    tracker.record({ route: '/embed/multimodal', method: 'POST', statusCode: 500, durationMs: 1 })
    const availability = () => tracker.report().objectives.find((o) => o.name === 'availability')!
    expect(availability().burnRates['5m']).toBeCloseTo(200, 6)
    time.advance(6 * MIN)
    expect(availability().burnRates['5m']).toBe(0)
    expect(availability().burnRates['1h']).toBeCloseTo(200, 6)
    time.advance(2 * HOUR)
    expect(availability().burnRates['1h']).toBe(0)
    expect(availability().total).toBe(1)
    time.advance(31 * 24 * HOUR)
    expect(availability()).toMatchObject({ total: 0, sli: 1 })
  })

  it('counts NaN, negative and infinite durations and bad statuses as invalid, never throws', () => {
    const tracker = createSloTracker(seed, { clock: () => 0 })
    const bad = [
      { route: '/x', method: 'GET', statusCode: 200, durationMs: Number.NaN },
      { route: '/x', method: 'GET', statusCode: 200, durationMs: -1 },
      { route: '/x', method: 'GET', statusCode: 200, durationMs: Number.POSITIVE_INFINITY },
      { route: '/x', method: 'GET', statusCode: 42, durationMs: 1 },
      { route: '/x', method: 'GET', statusCode: 200.5, durationMs: 1 },
      null,
      undefined,
    ]
    for (const r of bad) expect(() => tracker.record(r as never)).not.toThrow()
    const report = tracker.report()
    expect(report.invalid).toBe(bad.length)
    expect(report.routes).toEqual([])
    expect(report.objectives.every((o) => o.total === 0)).toBe(true)
  })

  it('collapses unknown routes into __unmatched__ and caps distinct routes', async () => {
    const registry = new Registry()
    const tracker = createSloTracker(seed, { clock: () => 0, registry, maxRoutes: 3 })
    for (let i = 0; i < 1000; i++)
      tracker.record({ route: undefined, method: 'GET', statusCode: 404, durationMs: 1 })
    for (let i = 0; i < 10; i++)
      tracker.record({ route: `/r${i}`, method: 'GET', statusCode: 200, durationMs: 1 })
    // objective routes are never pushed out by the cap
    tracker.record({ route: '/agents/plan', method: 'POST', statusCode: 200, durationMs: 1 })
    const report = tracker.report()
    expect(report.overflow).toBe(7)
    expect(report.routes.map((r) => `${r.method} ${r.route}`).sort()).toEqual(
      ['GET /r0', 'GET /r1', 'GET /r2', 'GET __unmatched__', 'POST /agents/plan'].sort(),
    )
    expect(report.routes.find((r) => r.route === '__unmatched__')?.statusCodes).toEqual({
      '200': 7,
      '404': 1000,
    })
    const text = await registry.metrics()
    const series = new Set(
      text.split('\n').filter((l) => l.startsWith('http_request_duration_seconds_count')),
    )
    expect(series.size).toBe(6)
    expect(text).toContain('slo_route_overflow_total 7')
  })

  it('exposes a histogram whose buckets include every objective threshold exactly, computed at scrape time', async () => {
    const registry = new Registry()
    const tracker = createSloTracker(seed, { clock: () => 0, registry })
    expect(tracker.buckets).toContain(0.2)
    expect(tracker.buckets).toContain(2)
    tracker.record({ route: '/embed/multimodal', method: 'POST', statusCode: 200, durationMs: 200 })
    tracker.record({ route: '/embed/multimodal', method: 'POST', statusCode: 200, durationMs: 200.001 })
    const text = await registry.metrics()
    const labels = 'method="POST",route="/embed/multimodal",status_code="200"'
    expect(text).toContain(`http_request_duration_seconds_bucket{${labels},le="0.2"} 1`)
    expect(text).toContain(`http_request_duration_seconds_bucket{${labels},le="0.25"} 2`)
    expect(text).toContain(`http_request_duration_seconds_bucket{${labels},le="+Inf"} 2`)
    expect(text).toContain(`http_request_duration_seconds_count{${labels}} 2`)
    expect(text).toContain('slo_objective_ratio{slo="embed-latency"} 0.95')
    const value = (series: string) =>
      Number(
        text
          .split('\n')
          .find((l) => l.startsWith(`${series} `))
          ?.split(' ')[1],
      )
    expect(value('slo_error_budget_remaining_ratio{slo="embed-latency"}')).toBeCloseTo(-9, 9)
    expect(value('slo_burn_rate{slo="embed-latency",window="5m"}')).toBeCloseTo(10, 9)
    tracker.record({ route: '/embed/multimodal', method: 'POST', statusCode: 200, durationMs: 1 })
    expect(await registry.metrics()).toContain(`http_request_duration_seconds_count{${labels}} 3`)
  })

  it('refuses a registry that already has the duration metric', () => {
    const registry = new Registry()
    createSloTracker(seed, { registry })
    expect(() => createSloTracker(seed, { registry })).toThrow(/http_request_duration_seconds/)
  })

  it('rejects unknown options', () => {
    expect(() => createSloTracker(seed, { maxRoute: 3 } as never)).toThrow(/maxRoute/)
  })
})

describe('in-process burn-rate alerts', () => {
  const slo999: SloConfig = {
    service: 's',
    objectives: [{ name: 'avail', route: '*', availability: { target: 0.999 } }],
  }

  function traffic(
    tracker: ReturnType<typeof createSloTracker>,
    time: ReturnType<typeof fakeClock>,
    minutes: number,
    errorRatio: number,
  ) {
    for (let m = 0; m < minutes; m++) {
      for (let i = 0; i < 1000; i++) {
        tracker.record({
          route: '/x',
          method: 'GET',
          statusCode: i < errorRatio * 1000 ? 500 : 200,
          durationMs: 1,
        })
      }
      time.advance(MIN)
    }
  }

  it('uses the same table and strict comparison as the generated rules', () => {
    const time = fakeClock()
    const tracker = createSloTracker(slo999, { clock: time.clock })
    const table = burnRateAlertTable('30d')
    expect(defineSlos(slo999).objectives[0]?.alerting.table).toEqual(table)
    // exactly at the 3d/6h ticket threshold (0.1 %): strict >, nothing fires
    traffic(tracker, time, 10, 0.001)
    expect(tracker.evaluateAlerts()[0]).toMatchObject({ page: false, ticket: false, severity: null })
  })

  it('pages on a 2 % error ratio, stays quiet at 0.05 %, and emits alert and resolve once', () => {
    const time = fakeClock()
    const tracker = createSloTracker(slo999, { clock: time.clock })
    const alerts: SloAlert[] = []
    const resolved: SloAlert[] = []
    tracker.on('alert', (a) => alerts.push(a)).on('resolve', (a) => resolved.push(a))
    traffic(tracker, time, 30, 0.0005)
    tracker.evaluateAlerts()
    expect(alerts).toEqual([])
    // 30 min at 2 % after 30 quiet minutes: 1h ratio 1.03 % (< 14.4 × 0.1 %), 6h 1.03 % and 30m 2 % (> 6 × 0.1 %)
    traffic(tracker, time, 30, 0.02)
    const state = tracker.evaluateAlerts()[0]!
    expect(state.tiers.map((t) => t.firing)).toEqual([false, true, true, true])
    expect(state.page).toBe(true)
    tracker.evaluateAlerts()
    expect(alerts.map((a) => a.severity).sort()).toEqual(['page', 'ticket'])
    expect(alerts[0]).toMatchObject({ slo: 'avail', service: 's', firing: true })
    // fixed: once the short windows are clean the page resolves, though the long windows are still high
    traffic(tracker, time, 40, 0)
    tracker.evaluateAlerts()
    expect(resolved.map((a) => a.severity)).toContain('page')
    tracker.close()
  })

  it('waits for `for` before firing', () => {
    const time = fakeClock()
    const tracker = createSloTracker(
      { ...slo999, alerting: { for: '2m', ticket: false } },
      { clock: time.clock },
    )
    const alerts: SloAlert[] = []
    tracker.on('alert', (a) => alerts.push(a))
    traffic(tracker, time, 5, 0.05)
    tracker.evaluateAlerts()
    expect(alerts).toHaveLength(0)
    time.advance(MIN)
    tracker.evaluateAlerts()
    expect(alerts).toHaveLength(0)
    time.advance(MIN)
    tracker.evaluateAlerts()
    expect(alerts).toHaveLength(1)
    tracker.close()
  })

  it('evaluates on an unref’d interval only while someone listens; listener errors never escape', () => {
    vi.useFakeTimers()
    const time = fakeClock()
    const errors: unknown[] = []
    const tracker = createSloTracker(slo999, {
      clock: time.clock,
      alertInterval: '10s',
      onListenerError: (e) => errors.push(e),
    })
    expect(vi.getTimerCount()).toBe(0)
    const listener = vi.fn(() => {
      throw new Error('pager down')
    })
    tracker.on('alert', listener)
    expect(vi.getTimerCount()).toBe(1)
    traffic(tracker, time, 10, 0.5)
    vi.advanceTimersByTime(10_000)
    expect(listener).toHaveBeenCalledTimes(2)
    expect(errors).toHaveLength(2)
    tracker.off('alert', listener)
    expect(vi.getTimerCount()).toBe(0)
  })
})
