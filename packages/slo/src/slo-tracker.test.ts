import { burnRate, burnRateAlertTable, CortexConfigError, errorBudget, type Timers } from '@cortex/core'
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

/**
 * A clock and timers that follow it: `advance` moves the clock, firing each
 * due timer at its due time (plus `lateMs`, as a busy event loop would).
 */
function fakeTime(start = 1_000_000, lateMs = 0) {
  let now = start
  let nextId = 1
  const pending = new Map<number, { due: number; fn: () => void; every: number }>()
  const schedule = (fn: () => void, ms: number, every: number) => {
    const id = nextId++
    pending.set(id, { due: now + ms + lateMs, fn, every })
    return id
  }
  const timers: Timers = {
    setTimeout: (fn, ms) => schedule(fn, ms, 0),
    clearTimeout: (id) => pending.delete(id as number),
    setInterval: (fn, ms) => schedule(fn, ms, ms),
    clearInterval: (id) => pending.delete(id as number),
  }
  const clock = vi.fn(() => now)
  return {
    clock,
    timers,
    get pending() {
      return pending.size
    },
    advance(ms: number) {
      const end = now + ms
      for (;;) {
        let id = -1
        for (const [i, t] of pending) if (t.due <= end && (id === -1 || t.due < pending.get(id)!.due)) id = i
        const timer = pending.get(id)
        if (timer === undefined) break
        now = timer.due
        if (timer.every > 0) timer.due += timer.every
        else pending.delete(id)
        timer.fn()
      }
      now = end
    },
  }
}

describe('record without an end time reads no clock', () => {
  const request = { route: '/embed/multimodal', method: 'POST', statusCode: 200, durationMs: 12 }
  const bad = { ...request, statusCode: 500 }
  /** The availability objective's 5m burn rate: 200 when every request in the window failed. */
  const burn5m = (tracker: ReturnType<typeof createSloTracker>) =>
    tracker.report().objectives.find((o) => o.name === 'availability')!.burnRates['5m']

  it('never calls the clock per record: a slot timer keeps the windows current', () => {
    const time = fakeTime()
    const tracker = createSloTracker(seed, { clock: time.clock, timers: time.timers })
    const reads = time.clock.mock.calls.length
    for (let i = 0; i < 1000; i++) tracker.record(request)
    expect(time.clock.mock.calls.length).toBe(reads)
    expect(tracker.report().objectives[0]).toMatchObject({ good: 1000, total: 1000 })
    tracker.close()
  })

  it('with the default clock and timers, never calls performance.now or Date.now per record', () => {
    const tracker = createSloTracker(seed)
    const perf = vi.spyOn(performance, 'now')
    const date = vi.spyOn(Date, 'now')
    try {
      for (let i = 0; i < 1000; i++) tracker.record(request)
      expect(perf).not.toHaveBeenCalled()
      expect(date).not.toHaveBeenCalled()
    } finally {
      perf.mockRestore()
      date.mockRestore()
      tracker.close()
    }
    expect(tracker.report().routes[0]?.count).toBe(1000)
  })

  it('a record counts in the slot it was made in: the last millisecond before a boundary in the slot before', () => {
    // Slots are 10 s; the 5m window is the current slot and the 29 before it.
    const time = fakeTime(1_000_000)
    const tracker = createSloTracker(seed, { clock: time.clock, timers: time.timers })
    time.advance(9_999)
    tracker.record(request) // slot 100
    time.advance(1)
    tracker.record(bad) // slot 101, at its first millisecond
    time.advance(289_999) // slot 129: the window holds slots 100…129
    expect(burn5m(tracker)).toBeCloseTo(100, 6)
    time.advance(1) // slot 130: slot 100 leaves the window
    expect(burn5m(tracker)).toBeCloseTo(200, 6)
    tracker.close()
  })

  it('a timer that fires late puts the records made meanwhile in the slot before, and later boundaries do not drift', () => {
    const time = fakeTime(1_000_000, 4_000)
    const tracker = createSloTracker(seed, { clock: time.clock, timers: time.timers })
    time.advance(12_000)
    tracker.record(bad) // slot 101 by the clock, but the timer (due at 10 s) fires at 14 s: counts in slot 100
    time.advance(288_000) // 300 s: slot 130, whose window no longer holds slot 100
    expect(burn5m(tracker)).toBe(0)
    // A hundred late firings on, a record 5 s into its slot (after that slot's late firing) is in its own slot.
    time.advance(705_000) // 1_005 s: slot 200
    tracker.record(bad)
    time.advance(290_000) // slot 229: the window holds slot 200
    expect(burn5m(tracker)).toBeCloseTo(200, 6)
    time.advance(10_000) // slot 230: it no longer does
    expect(burn5m(tracker)).toBe(0)
    tracker.close()
  })

  it('close() clears the slot timer, which is unref’d so it never keeps the process alive', () => {
    let handle: ReturnType<typeof setTimeout> | undefined
    let cleared: unknown
    const tracker = createSloTracker(seed, {
      timers: {
        setTimeout: (fn, ms) => {
          handle = setTimeout(fn, ms)
          return handle
        },
        clearTimeout: (h) => {
          cleared = h
          clearTimeout(h as ReturnType<typeof setTimeout>)
        },
      },
    })
    expect(handle?.hasRef()).toBe(false)
    tracker.close()
    expect(cleared).toBe(handle)

    const time = fakeTime()
    const faked = createSloTracker(seed, { clock: time.clock, timers: time.timers })
    expect(time.pending).toBe(1)
    faked.on('alert', () => {})
    expect(time.pending).toBe(2) // the alert interval goes through the same timers
    faked.close()
    expect(time.pending).toBe(0)
  })

  it('given a clock but no timers, reads that clock per record and starts no slot timer', () => {
    vi.useFakeTimers()
    const time = fakeClock()
    const clock = vi.fn(time.clock)
    const tracker = createSloTracker(seed, { clock })
    expect(vi.getTimerCount()).toBe(0)
    const reads = clock.mock.calls.length
    for (let i = 0; i < 10; i++) tracker.record(request)
    expect(clock.mock.calls.length).toBe(reads + 10)
  })

  it('rejects timers that are not timer functions, naming the option', () => {
    expect(() => createSloTracker(seed, { timers: 5 as never })).toThrow(CortexConfigError)
    expect(() => createSloTracker(seed, { timers: { setTimeout: 'soon' } as never })).toThrow(
      /timers\.setTimeout/,
    )
  })
})
