import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isCortexError } from './errors.js'
import {
  createDwellGate,
  createHysteresis,
  type Hysteresis,
  type HysteresisState,
} from './mode-hysteresis.js'

const options = fc
  .record({
    enterAbove: fc.integer({ min: -100, max: 200 }),
    gap: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 50 })),
    forMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 200 })),
    minDwellMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 400 })),
  })
  .map(({ enterAbove, gap, forMs, minDwellMs }) => ({
    enterAbove,
    exitBelow: enterAbove - gap,
    forMs,
    minDwellMs,
  }))

/** A signal relative to the thresholds: far above/below, exactly at either, in the dead band, or NaN. */
const signalKind = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('high', 'low') },
  { weight: 2, arbitrary: fc.constantFrom('atEnter', 'atExit', 'band') },
  { weight: 1, arbitrary: fc.constant('nan') },
)
type Kind = 'high' | 'low' | 'atEnter' | 'atExit' | 'band' | 'nan'

function signalOf(kind: Kind, h: Hysteresis, jitter: number): number {
  switch (kind) {
    case 'high':
      return h.enterAbove + 1 + jitter
    case 'low':
      return h.exitBelow - 1 - jitter
    case 'atEnter':
      return h.enterAbove
    case 'atExit':
      return h.exitBelow
    case 'band':
      return h.exitBelow + (h.enterAbove - h.exitBelow) * (jitter / 100)
    case 'nan':
      return Number.NaN
  }
}

/** Samples with non-decreasing timestamps. */
const samples = fc.array(
  fc.record({
    dt: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 500 })),
    kind: signalKind as fc.Arbitrary<Kind>,
    jitter: fc.integer({ min: 0, max: 100 }),
  }),
  { maxLength: 150 },
)

interface Sample {
  t: number
  signal: number
  before: HysteresisState
  after: HysteresisState
}

function run(
  h: Hysteresis,
  start: number,
  active: boolean,
  list: { dt: number; kind: Kind; jitter: number }[],
) {
  let state = h.initial(active)
  let t = start
  const log: Sample[] = []
  for (const s of list) {
    t += s.dt
    const signal = signalOf(s.kind, h, s.jitter)
    const before = state
    state = h.step(state, t, signal)
    log.push({ t, signal, before, after: state })
  }
  return log
}

const crosses = (h: Hysteresis, active: boolean, signal: number) =>
  active ? signal < h.exitBelow : signal > h.enterAbove

describe('createHysteresis', () => {
  it('never changes mode twice within minDwellMs, whatever the signal', () => {
    fc.assert(
      fc.property(
        options,
        fc.integer({ min: -1e6, max: 1e9 }),
        fc.boolean(),
        samples,
        (o, start, active, list) => {
          const h = createHysteresis(o)
          const changes = run(h, start, active, list).filter((s) => s.after.active !== s.before.active)
          for (let i = 1; i < changes.length; i++) {
            expect(changes[i]!.t - changes[i - 1]!.t).toBeGreaterThanOrEqual(o.minDwellMs)
          }
        },
      ),
      { numRuns: 400 },
    )
  })

  it('enters only after the signal was above enterAbove for the whole forMs before (and leaves likewise below exitBelow)', () => {
    fc.assert(
      fc.property(
        options,
        fc.integer({ min: -1e6, max: 1e9 }),
        fc.boolean(),
        samples,
        (o, start, active, list) => {
          const h = createHysteresis(o)
          const log = run(h, start, active, list)
          log.forEach((s, i) => {
            if (s.after.active === s.before.active) return
            const wasActive = s.before.active
            // Walk back through the readings (NaN is no reading): all must cross, back to one at least forMs old.
            let ok = false
            for (let j = i; j >= 0; j--) {
              const r = log[j]!
              if (Number.isNaN(r.signal)) continue
              if (!crosses(h, wasActive, r.signal)) break
              if (r.t <= s.t - o.forMs) {
                ok = true
                break
              }
            }
            expect(ok).toBe(true)
            expect(wasActive ? s.signal < o.exitBelow : s.signal > o.enterAbove).toBe(true)
          })
        },
      ),
      { numRuns: 400 },
    )
  })

  it('changes exactly when the history says so: crossing for forMs and the mode older than minDwellMs', () => {
    fc.assert(
      fc.property(
        options,
        fc.integer({ min: -1e6, max: 1e9 }),
        fc.boolean(),
        samples,
        (o, start, active, list) => {
          const h = createHysteresis(o)
          const log = run(h, start, active, list)
          let mode = active
          let lastChange = Number.NEGATIVE_INFINITY
          let lastChangeIndex = -1
          log.forEach((s, i) => {
            let expected = false
            if (!Number.isNaN(s.signal) && crosses(h, mode, s.signal)) {
              let runStart = s.t
              for (let j = i; j > lastChangeIndex; j--) {
                const r = log[j]!
                if (Number.isNaN(r.signal)) continue
                if (!crosses(h, mode, r.signal)) break
                runStart = r.t
              }
              expected = s.t - runStart >= o.forMs && s.t - lastChange >= o.minDwellMs
            }
            expect(s.after.active !== s.before.active).toBe(expected)
            if (expected) {
              mode = !mode
              lastChange = s.t
              lastChangeIndex = i
              expect(s.after.since).toBe(s.t)
            }
            expect(s.after.active).toBe(mode)
          })
        },
      ),
      { numRuns: 400 },
    )
  })

  it('a signal in the dead band [exitBelow, enterAbove] never changes the mode, whatever came before', () => {
    const band = fc.array(
      fc.record({ dt: fc.integer({ min: 0, max: 1000 }), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
      { minLength: 1, maxLength: 60 },
    )
    fc.assert(
      fc.property(options, fc.boolean(), samples, band, (o, active, prefix, suffix) => {
        const h = createHysteresis(o)
        const log = run(h, 0, active, prefix)
        let state = log.length > 0 ? log[log.length - 1]!.after : h.initial(active)
        let t = log.length > 0 ? log[log.length - 1]!.t : 0
        const mode = state.active
        for (const s of suffix) {
          t += s.dt
          state = h.step(state, t, o.exitBelow + (o.enterAbove - o.exitBelow) * s.at)
          expect(state.active).toBe(mode)
          expect(state.pendingSince).toBeNaN()
        }
      }),
      { numRuns: 300 },
    )
  })

  it('a clock going backwards never causes a change: a step at an earlier time acts as a step at the latest time', () => {
    const jumpy = fc.array(
      fc.record({
        t: fc.integer({ min: 0, max: 3000 }),
        kind: signalKind as fc.Arbitrary<Kind>,
        jitter: fc.integer({ min: 0, max: 100 }),
      }),
      { maxLength: 120 },
    )
    fc.assert(
      fc.property(options, fc.boolean(), jumpy, (o, active, list) => {
        const h = createHysteresis(o)
        let state = h.initial(active)
        let latest = Number.NEGATIVE_INFINITY
        let lastChange = Number.NEGATIVE_INFINITY
        for (const s of list) {
          const signal = signalOf(s.kind, h, s.jitter)
          const next = h.step(state, s.t, signal)
          if (s.t < state.lastAt) {
            expect(next).toEqual(h.step(state, state.lastAt, signal))
            if (o.forMs > 0) expect(next.active).toBe(state.active)
          }
          if (!Number.isNaN(signal)) latest = Math.max(latest, s.t)
          if (next.active !== state.active) {
            // Dwell holds on the running-max timeline.
            expect(latest - lastChange).toBeGreaterThanOrEqual(o.minDwellMs)
            expect(next.since).toBe(latest)
            lastChange = latest
          }
          state = next
        }
      }),
      { numRuns: 400 },
    )
  })

  it('ignores NaN signals and non-finite times (returns the same state)', () => {
    const h = createHysteresis({ enterAbove: 100, exitBelow: 85, forMs: 30_000 })
    const pending = h.step(h.initial(), 0, 120)
    expect(pending.pendingSince).toBe(0)
    expect(h.step(pending, 10_000, Number.NaN)).toBe(pending)
    expect(h.step(pending, Number.NaN, 50)).toBe(pending)
    expect(h.step(pending, Number.POSITIVE_INFINITY, 50)).toBe(pending)
    // The NaN did not reset the run: 30 s after the first reading above, it enters.
    expect(h.step(h.step(pending, 10_000, Number.NaN), 30_000, 130).active).toBe(true)
  })

  it('follows the low-power example: enter above 100 W for 30 s, exit below 85 W for 30 s, dwell 60 s', () => {
    const h = createHysteresis({ enterAbove: 100, exitBelow: 85, forMs: '30s', minDwellMs: '60s' })
    let s = h.initial()
    const feed = (t: number, w: number) => {
      s = h.step(s, t * 1000, w)
      return s.active
    }
    expect(feed(0, 120)).toBe(false)
    expect(feed(20, 95)).toBe(false) // dead band resets the run
    expect(feed(25, 120)).toBe(false)
    expect(feed(54, 120)).toBe(false)
    expect(feed(55, 120)).toBe(true) // 30 s above
    expect(feed(60, 50)).toBe(true)
    expect(feed(90, 50)).toBe(true) // 30 s below, but only 35 s in the mode
    expect(feed(114, 50)).toBe(true)
    expect(feed(115, 50)).toBe(false) // 60 s dwell reached, still below
    expect(s.since).toBe(115_000)
  })

  it('validates its options, naming the option', () => {
    const expectConfig = (fn: () => unknown, option: string) => {
      try {
        fn()
      } catch (err) {
        expect(isCortexError(err, 'ERR_CORTEX_CONFIG')).toBe(true)
        expect((err as { option: string }).option).toBe(option)
        return
      }
      throw new Error(`expected a CortexConfigError for ${option}`)
    }
    expectConfig(() => createHysteresis({ enterAbove: 85, exitBelow: 100 }), 'exitBelow')
    expectConfig(() => createHysteresis({ enterAbove: Number.NaN, exitBelow: 0 }), 'enterAbove')
    expectConfig(() => createHysteresis({ enterAbove: 1, exitBelow: Number.NEGATIVE_INFINITY }), 'exitBelow')
    expectConfig(() => createHysteresis({ enterAbove: 1, exitBelow: 0, forMs: -1 }), 'forMs')
    expectConfig(() => createHysteresis({ enterAbove: 1, exitBelow: 0, minDwellMs: -5 }), 'minDwellMs')
    expectConfig(() => createHysteresis({ enterAbove: 1, exitBelow: 0, minDwellMs: 'soon' }), 'minDwellMs')
    expectConfig(() => createHysteresis({ enterAbove: 1, exitBelow: 0, dwell: 5 } as never), 'dwell')
    expectConfig(() => createDwellGate({ minDwellMs: -1 }), 'minDwellMs')
    expect(createHysteresis({ enterAbove: 1, exitBelow: 1 }).forMs).toBe(0)
  })
})

describe('createDwellGate', () => {
  it('never lets two mode changes closer than minDwellMs, whatever is requested and whatever the clock does', () => {
    const requests = fc.array(
      fc.record({
        t: fc.oneof(
          { weight: 9, arbitrary: fc.integer({ min: 0, max: 5000 }) },
          { weight: 1, arbitrary: fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY) },
        ),
        want: fc.boolean(),
      }),
      { maxLength: 100 },
    )
    fc.assert(
      fc.property(
        fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 1000 })),
        fc.boolean(),
        requests,
        (dwell, active, list) => {
          const gate = createDwellGate({ minDwellMs: dwell })
          let state = gate.initial(active)
          const changes: number[] = []
          for (const r of list) {
            const allowed = gate.canChange(state, r.t)
            const next = gate.request(state, r.t, r.want)
            if (next.active !== state.active) {
              // A change happens at a real time, never before the previous one (clock stepped back).
              expect(Number.isFinite(next.since)).toBe(true)
              expect(next.since).toBe(r.t)
              changes.push(next.since)
            } else {
              expect(next).toBe(state)
            }
            // It changes exactly when asked for the other mode and the gate is open.
            expect(next.active !== state.active).toBe(r.want !== state.active && allowed)
            state = next
          }
          for (let i = 1; i < changes.length; i++) {
            expect(changes[i]! - changes[i - 1]!).toBeGreaterThanOrEqual(dwell)
          }
        },
      ),
      { numRuns: 300 },
    )
  })

  it('accepts hysteresis states, so triggers and the controller share one notion of "since"', () => {
    const gate = createDwellGate({ minDwellMs: '60s' })
    const h = createHysteresis({ enterAbove: 100, exitBelow: 85 })
    const entered = h.step(h.initial(), 1000, 150)
    expect(gate.canChange(entered, 60_999)).toBe(false)
    expect(gate.canChange(entered, 61_000)).toBe(true)
    expect(gate.canChange(entered, 500)).toBe(false) // clock stepped back before the change
  })
})
