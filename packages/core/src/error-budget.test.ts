import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type BurnRateTierInput,
  burnRate,
  burnRateAlertTable,
  errorBudget,
  errorRatio,
  evaluateBurnRateAlerts,
  sliRatio,
  WindowedCounter,
} from './error-budget.js'
import { isCortexError } from './errors.js'

const HOUR = 3_600_000
const DAY = 24 * HOUR

/** Objectives users write (0.9 … 0.99999) plus arbitrary ones in (0, 1). */
const objective = fc.oneof(
  fc.constantFrom(0.9, 0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999, 0.99999),
  fc.double({ min: 0.001, max: 0.99999, noNaN: true }),
)

function closeTo(a: number, b: number, rel = 1e-9): boolean {
  return Math.abs(a - b) <= rel * Math.max(1, Math.abs(a), Math.abs(b))
}

function configError(fn: () => unknown, option: string): void {
  try {
    fn()
  } catch (err) {
    expect(isCortexError(err, 'ERR_CORTEX_CONFIG')).toBe(true)
    expect((err as { option: string }).option).toBe(option)
    return
  }
  throw new Error(`expected a CortexConfigError for ${option}`)
}

describe('sliRatio / errorRatio', () => {
  it('treat no traffic as no errors and clamp odd counts', () => {
    expect(sliRatio(0, 0)).toBe(1)
    expect(sliRatio(5, -1)).toBe(1)
    expect(sliRatio(999, 1000)).toBe(0.999)
    expect(sliRatio(1001, 1000)).toBe(1)
    expect(sliRatio(-3, 1000)).toBe(0)
    expect(sliRatio(Number.NaN, 1000)).toBeNaN()
    expect(errorRatio(0, 0)).toBe(0)
    expect(errorRatio(1, 1000)).toBe(0.001)
    expect(errorRatio(2000, 1000)).toBe(1)
  })
})

describe('errorBudget / burnRate', () => {
  it('equal the formulas: consumed = errorRatio / (1 − objective), remaining = 1 − consumed', () => {
    fc.assert(
      fc.property(objective, fc.nat(1e9), fc.nat(1e9), (o, a, b) => {
        const total = Math.max(a, b)
        const good = Math.min(a, b)
        const r = errorBudget({ objective: o, good, total })
        const expectedError = total === 0 ? 0 : (total - good) / total
        expect(closeTo(r.errorRatio, expectedError)).toBe(true)
        expect(closeTo(r.sli + r.errorRatio, 1)).toBe(true)
        expect(r.allowedErrorRatio).toBe(1 - o)
        expect(r.consumed).toBe(r.errorRatio / (1 - o))
        expect(r.consumed).toBe(burnRate(r.errorRatio, o))
        expect(r.remaining).toBe(1 - r.consumed)
        expect(r.clampedRemaining).toBe(Math.min(1, Math.max(0, r.remaining)))
        // The budget is overspent exactly when the error ratio exceeds what the objective allows.
        expect(r.remaining < 0).toBe(r.errorRatio > r.allowedErrorRatio)
      }),
      { numRuns: 300 },
    )
  })

  it('consumed over a period equals the traffic-weighted average of the burn rates of its parts', () => {
    const part = fc.record({
      total: fc.integer({ min: 1, max: 1e6 }),
      badShare: fc.double({ min: 0, max: 1, noNaN: true }),
    })
    fc.assert(
      fc.property(objective, fc.array(part, { minLength: 1, maxLength: 40 }), (o, parts) => {
        let good = 0
        let total = 0
        let weighted = 0
        for (const p of parts) {
          const bad = Math.round(p.total * p.badShare)
          good += p.total - bad
          total += p.total
          weighted += p.total * burnRate(errorRatio(bad, p.total), o)
        }
        expect(closeTo(errorBudget({ objective: o, good, total }).consumed, weighted / total)).toBe(true)
      }),
      { numRuns: 200 },
    )
  })

  it('burn rate 1 spends exactly the budget', () => {
    expect(burnRate(0.001, 0.999)).toBeCloseTo(1, 12)
    expect(errorBudget({ objective: 0.999, good: 99_950, total: 100_000 }).consumed).toBeCloseTo(0.5, 9)
    // Counted from total − good: 1 − sli would give 1.00000008e-9 here.
    expect(errorBudget({ objective: 0.999, good: 999_999_999, total: 1e9 }).errorRatio).toBe(1e-9)
    expect(errorBudget({ objective: 0.99, good: 0, total: 0 }).remaining).toBe(1)
    expect(errorBudget({ objective: 0.99, good: 0, total: 10 }).remaining).toBeCloseTo(-99, 9)
  })

  it('rejects objectives outside (0, 1)', () => {
    for (const bad of [0, 1, -0.5, 1.5, Number.NaN, '0.999']) {
      configError(() => errorBudget({ objective: bad as number, good: 1, total: 1 }), 'objective')
      configError(() => burnRate(0.1, bad as number), 'objective')
    }
  })
})

describe('burnRateAlertTable', () => {
  it('gives the SRE Workbook factors for 30d and 28d exactly', () => {
    const t30 = burnRateAlertTable(30 * DAY)
    expect(t30.map((t) => t.factor)).toEqual([14.4, 6, 3, 1])
    expect(burnRateAlertTable('30d')).toEqual(t30)
    expect(burnRateAlertTable(28 * DAY).map((t) => t.factor)).toEqual([13.44, 5.6, 2.8, 28 / 30])
    expect(t30.map((t) => [t.severity, t.longWindowMs, t.shortWindowMs, t.budgetConsumed])).toEqual([
      ['page', HOUR, 5 * 60_000, 0.02],
      ['page', 6 * HOUR, 30 * 60_000, 0.05],
      ['ticket', DAY, 2 * HOUR, 0.1],
      ['ticket', 3 * DAY, 6 * HOUR, 0.1],
    ])
  })

  it('factor × longWindow / period == budgetConsumed for any period and tier', () => {
    const tier = fc
      .record({
        severity: fc.constantFrom('page' as const, 'ticket' as const),
        longWindow: fc.integer({ min: 2, max: 7 * DAY }),
        shortFraction: fc.double({ min: 0.001, max: 0.999, noNaN: true }),
        budgetConsumed: fc.double({ min: 1e-6, max: 1, noNaN: true }),
      })
      .map(({ shortFraction, ...t }) => ({
        ...t,
        shortWindow: Math.max(1, Math.floor(t.longWindow * shortFraction)),
      }))
    fc.assert(
      fc.property(
        fc.integer({ min: 7 * DAY, max: 400 * DAY }),
        fc.array(tier, { maxLength: 6 }),
        (period, tiers) => {
          const table = burnRateAlertTable(period, tiers)
          expect(table).toHaveLength(tiers.length)
          table.forEach((t, i) => {
            expect(t.budgetConsumed).toBe(tiers[i]?.budgetConsumed)
            expect(closeTo((t.factor * t.longWindowMs) / period, t.budgetConsumed, 1e-12)).toBe(true)
          })
          // The defaults follow the same rule.
          for (const t of burnRateAlertTable(period)) {
            expect(closeTo((t.factor * t.longWindowMs) / period, t.budgetConsumed, 1e-12)).toBe(true)
          }
        },
      ),
      { numRuns: 200 },
    )
  })

  it('validates periods and custom tiers, naming the option', () => {
    const ok: BurnRateTierInput = {
      severity: 'page',
      longWindow: '1h',
      shortWindow: '5m',
      budgetConsumed: 0.02,
    }
    configError(() => burnRateAlertTable(0), 'period')
    configError(() => burnRateAlertTable(-DAY), 'period')
    configError(() => burnRateAlertTable('a month'), 'period')
    configError(() => burnRateAlertTable('1d'), 'longWindow') // the 3d default tier is longer than the period
    configError(() => burnRateAlertTable('30d', [{ ...ok, shortWindow: '1h' }]), 'shortWindow')
    configError(() => burnRateAlertTable('30d', [{ ...ok, longWindow: '31d' }]), 'longWindow')
    configError(() => burnRateAlertTable('30d', [{ ...ok, budgetConsumed: 0 }]), 'budgetConsumed')
    configError(() => burnRateAlertTable('30d', [{ ...ok, budgetConsumed: 1.5 }]), 'budgetConsumed')
    configError(() => burnRateAlertTable('30d', [{ ...ok, severity: 'email' as 'page' }]), 'severity')
    configError(() => burnRateAlertTable('30d', [{ ...ok, budget: 1 } as BurnRateTierInput]), 'budget')
    configError(() => burnRateAlertTable('30d', [null as unknown as BurnRateTierInput]), 'tiers[0]')
    expect(burnRateAlertTable('30d', [])).toEqual([])
  })
})

describe('evaluateBurnRateAlerts', () => {
  it('a tier fires iff the error ratio over both its long and short windows exceeds factor × (1 − objective)', () => {
    // Per window: just below, exactly at or just above its tier's threshold, anywhere, or no data.
    const kind = fc.oneof(
      fc.constantFrom('below' as const, 'at' as const, 'above' as const, 'nan' as const),
      fc.double({ min: 0, max: 1, noNaN: true }),
    )
    fc.assert(
      fc.property(
        objective,
        fc.constantFrom(28 * DAY, 30 * DAY, 90 * DAY),
        fc.array(kind, { minLength: 8, maxLength: 8 }),
        (o, period, kinds) => {
          const table = burnRateAlertTable(period)
          const ratios = new Map<number, number>()
          table.forEach((tier, i) => {
            const thr = tier.factor * (1 - o)
            const pick = (k: (typeof kinds)[number] | undefined): number =>
              k === 'below'
                ? thr * (1 - 1e-12)
                : k === 'at'
                  ? thr
                  : k === 'above'
                    ? thr * (1 + 1e-12)
                    : k === 'nan' || k === undefined
                      ? Number.NaN
                      : k
            ratios.set(tier.longWindowMs, pick(kinds[2 * i]))
            ratios.set(tier.shortWindowMs, pick(kinds[2 * i + 1]))
          })
          const calls: number[] = []
          const r = evaluateBurnRateAlerts({
            objective: o,
            table,
            errorRatioFor: (w) => {
              calls.push(w)
              return ratios.get(w) as number
            },
          })
          expect(new Set(calls).size).toBe(calls.length) // each window asked once
          let page = false
          let ticket = false
          r.tiers.forEach((res, i) => {
            const tier = table[i]!
            const thr = tier.factor * (1 - o)
            const long = ratios.get(tier.longWindowMs) as number
            const short = ratios.get(tier.shortWindowMs) as number
            const fires = long > thr && short > thr
            expect(res.firing).toBe(fires)
            expect(res.threshold).toBe(thr)
            expect(res.index).toBe(i)
            if (fires && tier.severity === 'page') page = true
            if (fires && tier.severity === 'ticket') ticket = true
          })
          expect(r.page).toBe(page)
          expect(r.ticket).toBe(ticket)
          expect(r.severity).toBe(page ? 'page' : ticket ? 'ticket' : null)
        },
      ),
      { numRuns: 400 },
    )
  })

  it('pages on a 1h+5m burn above 14.4 for a 30d 99.9% SLO, not at exactly the threshold', () => {
    const table = burnRateAlertTable('30d')
    const at = (ratio: number) =>
      evaluateBurnRateAlerts({ objective: 0.999, table, errorRatioFor: (w) => (w <= HOUR ? ratio : 0) })
    const thr = 14.4 * (1 - 0.999)
    expect(at(thr).page).toBe(false)
    expect(at(thr * 1.01).page).toBe(true)
    expect(
      at(thr * 1.01)
        .tiers.filter((t) => t.firing)
        .map((t) => t.index),
    ).toEqual([0])
    expect(at(Number.NaN).severity).toBe(null)
  })
})

describe('WindowedCounter', () => {
  const setup = fc.record({
    slotMs: fc.integer({ min: 1, max: 1000 }),
    slots: fc.integer({ min: 1, max: 120 }),
    start: fc.integer({ min: -1e9, max: 1e12 }),
  })
  /** Events with non-decreasing timestamps: small steps, some jumps past the whole horizon. */
  const events = fc.array(
    fc.record({
      dtSlots: fc.oneof(
        { weight: 6, arbitrary: fc.double({ min: 0, max: 3, noNaN: true }) },
        { weight: 1, arbitrary: fc.double({ min: 0, max: 300, noNaN: true }) },
      ),
      good: fc.nat(5),
      bad: fc.nat(5),
      queryWindowSlots: fc.option(fc.double({ min: 0, max: 150, noNaN: true }), { nil: undefined }),
      // Also query this many slots after the latest event, once traffic has stopped.
      queryLaterSlots: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 200, noNaN: true })),
    }),
    { maxLength: 120 },
  )

  it('sum(now, W) equals the brute-force sum of events in slots floor(now/slot) − k + 1 … floor(now/slot), k = min(slots, ceil(W/slot))', () => {
    fc.assert(
      fc.property(setup, events, ({ slotMs, slots, start }, evs) => {
        const counter = new WindowedCounter({ slot: slotMs, horizon: slots * slotMs })
        expect(counter.slotCount).toBe(slots)
        const bytes = counter.memoryBytes
        const log: { t: number; good: number; total: number }[] = []
        let now = start
        for (const e of evs) {
          now += Math.floor(e.dtSlots * slotMs)
          counter.add(now, e.good, e.good + e.bad)
          log.push({ t: now, good: e.good, total: e.good + e.bad })
          if (e.queryWindowSlots === undefined) continue
          const windowMs = e.queryWindowSlots * slotMs
          const bruteForce = (at: number) => {
            const s = Math.floor(at / slotMs)
            const k = Math.min(slots, Math.ceil(windowMs / slotMs))
            const expected = { good: 0, total: 0 }
            for (const ev of log) {
              const slot = Math.floor(ev.t / slotMs)
              if (slot > s - k && slot <= s) {
                expected.good += ev.good
                expected.total += ev.total
              }
            }
            return expected
          }
          expect(counter.sum(now, windowMs)).toEqual(bruteForce(now))
          const later = now + Math.floor(e.queryLaterSlots * slotMs)
          expect(counter.sum(later, windowMs)).toEqual(bruteForce(later))
          // The same in time: everything in [now − W + slot, now] counts, nothing before now − W − slot does.
          if (windowMs <= slots * slotMs) {
            const got = counter.sum(now, windowMs).total
            const surely = log
              .filter((ev) => ev.t >= now - windowMs + slotMs)
              .reduce((a, ev) => a + ev.total, 0)
            const maybe = log
              .filter((ev) => ev.t >= now - windowMs - slotMs)
              .reduce((a, ev) => a + ev.total, 0)
            expect(got).toBeGreaterThanOrEqual(surely)
            expect(got).toBeLessThanOrEqual(maybe)
          }
        }
        expect(counter.memoryBytes).toBe(bytes)
      }),
      { numRuns: 300 },
    )
  })

  it('forgets old events once traffic stops: a 5 s window 20 s after the last event is empty', () => {
    const counter = new WindowedCounter({ slot: '1s', horizon: '1m' })
    for (let t = 0; t < 5_000; t += 1_000) counter.add(t, 0, 1)
    expect(counter.sum(4_000, 5_000)).toEqual({ good: 0, total: 5 })
    expect(counter.sum(6_000, 5_000)).toEqual({ good: 0, total: 3 })
    expect(counter.sum(24_000, 5_000)).toEqual({ good: 0, total: 0 })
    expect(counter.sum(24_000, 60_000)).toEqual({ good: 0, total: 5 })
  })

  it('a clock going backwards (or non-finite) lands counts in the latest slot and loses nothing; memory stays fixed', () => {
    const anyTime = fc.oneof(
      { weight: 8, arbitrary: fc.integer({ min: 0, max: 50_000 }) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY),
      },
    )
    const ops = fc.array(
      fc.record({ t: anyTime, good: fc.nat(3), bad: fc.nat(3), w: fc.integer({ min: 0, max: 60_000 }) }),
      {
        maxLength: 100,
      },
    )
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 500 }),
        fc.integer({ min: 1, max: 80 }),
        ops,
        (slotMs, slots, list) => {
          const counter = new WindowedCounter({ slot: slotMs, horizon: slots * slotMs })
          const bytes = counter.memoryBytes
          const log: { slot: number; total: number; good: number }[] = []
          let head = Number.NEGATIVE_INFINITY
          for (const op of list) {
            const raw = Math.floor(op.t / slotMs)
            const s = Number.isFinite(raw) && raw > head ? raw : head
            counter.add(op.t, op.good, op.good + op.bad)
            if (s !== Number.NEGATIVE_INFINITY) {
              head = s
              log.push({ slot: s, good: op.good, total: op.good + op.bad })
            }
            if (head === Number.NEGATIVE_INFINITY) continue
            const q = Number.isFinite(raw) && raw > head ? raw : head
            const k = op.w > 0 ? Math.min(slots, Math.ceil(op.w / slotMs)) : 0
            const inWindow = log.filter((e) => e.slot > q - k && e.slot <= q)
            expect(counter.sum(op.t, op.w)).toEqual({
              good: inWindow.reduce((a, e) => a + e.good, 0),
              total: inWindow.reduce((a, e) => a + e.total, 0),
            })
          }
          expect(counter.memoryBytes).toBe(bytes)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('ignores odd counts, stays finite on huge timestamps, and validates its options', () => {
    const c = new WindowedCounter({ slot: '10s', horizon: '3d' })
    expect(c.slotCount).toBe(25_920)
    expect(c.memoryBytes).toBe(25_920 * 16)
    expect(c.sum(0, HOUR)).toEqual({ good: 0, total: 0 })
    c.add(0, 5, 3) // good capped at total
    c.add(0, Number.NaN, -2)
    c.add(1_000, 1, Number.POSITIVE_INFINITY)
    expect(c.sum(1_000, HOUR)).toEqual({ good: 3, total: 3 })
    c.add(1e20, 1, 1)
    c.add(1e20 + 1e5, 1, 2) // slot index + 1 rounds to itself here: must still terminate
    expect(c.sum(1e20 + 1e5, HOUR).total).toBeGreaterThanOrEqual(2)
    configError(() => new WindowedCounter({ slot: 0, horizon: '1h' }), 'slot')
    configError(() => new WindowedCounter({ slot: '1s', horizon: -1 }), 'horizon')
    configError(() => new WindowedCounter({ slot: 1, horizon: '3d' }), 'slot') // too many slots
    configError(() => new WindowedCounter({ slot: '1s', horizon: '1h', size: 3 } as never), 'size')
  })
})

describe('configuration errors', () => {
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
  const tier = { severity: 'page', longWindow: '1h', shortWindow: '5m', budgetConsumed: 0.02 } as const

  it('name the option, where it was given and what is allowed', () => {
    const cases: [() => unknown, string][] = [
      [
        () => errorBudget({ objective: 1, good: 1, total: 1 }),
        'Invalid `objective` in errorBudget: expected a ratio in (0, 1) exclusive, such as 0.999, got 1',
      ],
      [() => errorBudget(null as never), 'Invalid `input` in errorBudget: expected an object'],
      [() => burnRate(0.1, 0), 'Invalid `objective` in burnRate:'],
      [
        () => evaluateBurnRateAlerts({ objective: 2, table: [], errorRatioFor: () => 0 }),
        'Invalid `objective` in evaluateBurnRateAlerts:',
      ],
      [() => burnRateAlertTable('soon'), 'Invalid `period` in burnRateAlertTable:'],
      [
        () => burnRateAlertTable('30d', {} as never),
        'Invalid `tiers` in burnRateAlertTable: expected an array of tiers',
      ],
      [
        () => burnRateAlertTable('30d', [null as never]),
        'Invalid `tiers[0]` in burnRateAlertTable: expected an object',
      ],
      [
        () => burnRateAlertTable('30d', [tier, { ...tier, longWindow: 'x' }]),
        'Invalid `longWindow` in burn-rate tier 1:',
      ],
      [
        () => burnRateAlertTable('30d', [{ ...tier, shortWindow: 'x' }]),
        'Invalid `shortWindow` in burn-rate tier 0:',
      ],
      [
        () => burnRateAlertTable('1d', [{ ...tier, longWindow: '2d' }]),
        'Invalid `longWindow` in burn-rate tier 0: expected a window no longer than the period (86400000 ms), got "2d"',
      ],
      [
        () => burnRateAlertTable('1d', [{ ...tier, shortWindow: '2h' }]),
        'Invalid `shortWindow` in burn-rate tier 0: expected a window shorter than longWindow (3600000 ms), got "2h"',
      ],
      [() => new WindowedCounter(null as never), 'Invalid `options` in WindowedCounter: expected an object'],
      [
        () => new WindowedCounter({ slot: 1, horizon: 1_000_001 }),
        'Invalid `slot` in WindowedCounter: expected a slot of at least 2 ms (horizon / 1000000 slots), got 1',
      ],
    ]
    for (const [fn, message] of cases) expect(configMessage(fn)).toContain(message)
  })

  it('accept the edges: a long window equal to the period, exactly the most slots allowed', () => {
    expect(burnRateAlertTable('1h', [tier])[0]?.factor).toBeCloseTo(0.02, 12)
    expect(new WindowedCounter({ slot: 1, horizon: 1_000_000 }).slotCount).toBe(1_000_000)
  })
})
