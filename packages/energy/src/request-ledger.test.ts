import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type EndRequest, RequestLedger } from './request-ledger.js'

function setup(options: { maxRoutes?: number; maxInFlight?: number } = {}) {
  let now = 0
  const ledger = new RequestLedger({
    clock: () => now,
    maxRoutes: options.maxRoutes ?? 50,
    maxInFlight: options.maxInFlight ?? 10_000,
  })
  return {
    ledger,
    at(ms: number) {
      now = ms
    },
  }
}

const sumJoules = (ledger: RequestLedger) =>
  Object.values(ledger.routes()).reduce((s, r) => s + r.joules, 0) + ledger.pendingJoules

describe('RequestLedger', () => {
  it('shares an interval by time in flight: a full request gets twice a half one', () => {
    const { ledger, at } = setup()
    at(0)
    const a = ledger.startRequest('GET /a')
    at(500)
    const b = ledger.startRequest('GET /b')
    at(1000)
    ledger.closeInterval(1000, 30, 0)
    a()
    b()
    const routes = ledger.routes()
    expect(routes['GET /a']?.joules).toBeCloseTo(20, 12)
    expect(routes['GET /b']?.joules).toBeCloseTo(10, 12)
    expect(routes['GET /a']?.requests).toBe(1)
  })

  it('counts the partial time of requests that ended inside the interval', () => {
    const { ledger, at } = setup()
    at(0)
    const a = ledger.startRequest('GET /a')
    at(250)
    a()
    const b = ledger.startRequest('GET /b')
    at(1000)
    ledger.closeInterval(1000, 100, 0)
    b()
    expect(ledger.routes()['GET /a']?.joules).toBeCloseTo(25, 12)
    expect(ledger.routes()['GET /b']?.joules).toBeCloseTo(75, 12)
  })

  it('leaves an interval with nothing in flight unattributed', () => {
    const { ledger, at } = setup()
    at(1000)
    expect(ledger.closeInterval(1000, 42, 475)).toBe(0)
    expect(ledger.unattributedJoules).toBe(42)
    expect(ledger.routes()).toEqual({})
  })

  it('converts each share to CO₂ at the interval intensity', () => {
    const { ledger, at } = setup()
    const end = ledger.startRequest('POST /embed')
    at(1000)
    ledger.closeInterval(1000, 3_600_000, 100)
    const end2 = ledger.startRequest('POST /embed')
    end()
    at(2000)
    ledger.closeInterval(2000, 3_600_000, 300)
    end2()
    const r = ledger.routes()['POST /embed']
    expect(r?.co2Grams).toBeCloseTo(400, 9)
    expect(r?.joulesPerRequest).toBeCloseTo(3_600_000, 6)
  })

  it('property: the shares of every interval sum to its energy', () => {
    type Op =
      | { kind: 'start'; route: number }
      | { kind: 'end'; pick: number }
      | { kind: 'close'; joules: number }
    const op = fc.oneof(
      fc.record({ kind: fc.constant('start' as const), route: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ kind: fc.constant('end' as const), pick: fc.nat() }),
      fc.record({
        kind: fc.constant('close' as const),
        joules: fc.double({ min: 0, max: 1e4, noNaN: true }),
      }),
    )
    fc.assert(
      fc.property(
        fc.array(fc.tuple(op, fc.integer({ min: 0, max: 300 })), {
          minLength: 10,
          maxLength: 200,
          size: 'max',
        }),
        fc.boolean(),
        (ops: [Op, number][], withoutRoute) => {
          const { ledger, at } = setup({ maxRoutes: 5 })
          let t = 0
          const open: { end: EndRequest; route: string }[] = []
          let attributed = 0
          for (const [o, dt] of ops) {
            t += dt
            at(t)
            if (o.kind === 'start') {
              const route = `GET /r${o.route}`
              open.push({ end: ledger.startRequest(withoutRoute ? undefined : route), route })
            } else if (o.kind === 'end' && open.length > 0) {
              const [r] = open.splice(o.pick % open.length, 1)
              r?.end(r.route)
            } else if (o.kind === 'close') {
              const before = sumJoules(ledger)
              const got = ledger.closeInterval(t, o.joules, 0)
              const after = sumJoules(ledger)
              if (got > 0) expect(after - before).toBeCloseTo(o.joules, 6)
              else expect(after).toBeCloseTo(before, 6)
              attributed += got
            }
          }
          for (const r of open) r.end(r.route)
          expect(sumJoules(ledger)).toBeCloseTo(attributed, 5)
          expect(ledger.pendingJoules).toBeCloseTo(0, 5)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('property: a request routed at its end earns what it would have earned routed at its start', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 12, size: 'max' }),
        fc.integer({ min: 0, max: 2000 }),
        fc.integer({ min: 0, max: 2000 }),
        (intervals, start, length) => {
          const known = setup()
          const late = setup()
          // A background request keeps both ledgers busy, so no interval is unattributed; in the
          // late ledger it is pending too, so /x's energy is not all the pending slot holds.
          known.ledger.startRequest('GET /background')
          late.ledger.startRequest()
          let endKnown: EndRequest = () => {}
          let endLate: EndRequest = () => {}
          const events: { t: number; order: number; run: () => void }[] = [
            {
              t: start,
              order: 0,
              run: () => {
                endKnown = known.ledger.startRequest('GET /x')
                endLate = late.ledger.startRequest()
              },
            },
            {
              t: start + length,
              order: 2,
              run: () => {
                endKnown()
                endLate('GET /x')
              },
            },
          ]
          let t = 0
          for (const [i, d] of intervals.entries()) {
            t += d
            const at = t
            events.push({
              t: at,
              order: 1,
              run: () => {
                known.ledger.closeInterval(at, 100 + i, 200)
                late.ledger.closeInterval(at, 100 + i, 200)
              },
            })
          }
          events.sort((a, b) => a.t - b.t || a.order - b.order)
          for (const e of events) {
            known.at(e.t)
            late.at(e.t)
            e.run()
          }
          const a = known.ledger.routes()['GET /x']
          const b = late.ledger.routes()['GET /x']
          expect(b?.joules ?? 0).toBeCloseTo(a?.joules ?? 0, 6)
          expect(b?.co2Grams ?? 0).toBeCloseTo(a?.co2Grams ?? 0, 9)
          expect(b?.requests).toBe(1)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('property: times passed to startRequest and end attribute exactly as the clock reading them would', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.integer({ min: 0, max: 3 }),
            fc.integer({ min: 0, max: 7 }),
            fc.integer({ min: 0, max: 300 }),
          ),
          { minLength: 5, maxLength: 120, size: 'max' },
        ),
        fc.boolean(),
        (ops, withoutRoute) => {
          const clocked = setup()
          // This ledger's clock stays at 0: any reading instead of a passed time would change its figures.
          const passed = new RequestLedger({ clock: () => 0, maxRoutes: 50, maxInFlight: 10_000 })
          const open: { a: EndRequest; b: EndRequest; route: string }[] = []
          let t = 0
          for (const [kind, n, dt] of ops) {
            t += dt
            clocked.at(t)
            if (kind <= 1) {
              const route = `GET /r${n}`
              const start = withoutRoute ? undefined : route
              open.push({ a: clocked.ledger.startRequest(start), b: passed.startRequest(start, t), route })
            } else if (kind === 2 && open.length > 0) {
              const [r] = open.splice(n % open.length, 1)
              r?.a(r.route)
              r?.b(r.route, t)
            } else {
              clocked.ledger.closeInterval(t, 10 + n, 300)
              passed.closeInterval(t, 10 + n, 300)
            }
          }
          t += 1
          clocked.at(t)
          for (const r of open) {
            r.a(r.route)
            r.b(r.route, t)
          }
          clocked.ledger.closeInterval(t + 1, 5, 300)
          passed.closeInterval(t + 1, 5, 300)
          expect(passed.routes()).toEqual(clocked.ledger.routes())
          expect(passed.unattributedJoules).toBe(clocked.ledger.unattributedJoules)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('reads its clock when a passed time is not a finite number', () => {
    const { ledger, at } = setup()
    at(0)
    const a = ledger.startRequest('GET /a', Number.NaN)
    at(400)
    const b = ledger.startRequest('GET /b', undefined)
    at(1000)
    a(undefined, Number.POSITIVE_INFINITY)
    b()
    ledger.closeInterval(1000, 160, 0)
    expect(ledger.routes()['GET /a']?.joules).toBeCloseTo(100, 12)
    expect(ledger.routes()['GET /b']?.joules).toBeCloseTo(60, 12)
  })

  it('property: counts each request under its own route, however names collide in the lookup cache', () => {
    fc.assert(
      fc.property(
        // Names of few lengths and last characters, so they share cache lines; more names than routes kept.
        fc.array(fc.integer({ min: 0, max: 119 }), { minLength: 1, maxLength: 400 }),
        fc.boolean(),
        (picks, copy) => {
          const { ledger } = setup({ maxRoutes: 60 })
          const names = Array.from(
            { length: 120 },
            (_, i) => `GET /r/${String.fromCharCode(97 + (i % 26))}${'x'.repeat(i % 3)}${i}`,
          )
          const expected = new Map<string, number>()
          const kept: string[] = []
          for (const pick of picks) {
            const name = names[pick] as string
            // A fresh string of the same text must find the same route.
            ledger.startRequest(copy ? `${name} `.trimEnd() : name)()
            if (!kept.includes(name) && kept.length < 60) kept.push(name)
            const key = kept.includes(name) ? name : '__unmatched__'
            expected.set(key, (expected.get(key) ?? 0) + 1)
          }
          const got = Object.fromEntries(
            Object.entries(ledger.routes()).map(([route, r]) => [route, r.requests]),
          )
          expect(got).toEqual(Object.fromEntries(expected))
        },
      ),
      { numRuns: 200 },
    )
  })

  it('a request that never learns its route ends under __unmatched__', () => {
    const { ledger, at } = setup()
    const end = ledger.startRequest()
    at(1000)
    ledger.closeInterval(1000, 10, 0)
    end()
    expect(ledger.routes()).toEqual({
      __unmatched__: {
        method: '',
        route: '__unmatched__',
        requests: 1,
        joules: 10,
        joulesPerRequest: 10,
        co2Grams: 0,
        inFlightJoules: 0,
        provisionalJoules: 0,
        byStatusClass: {
          none: { requests: 1, joules: 10, settledJoules: 10, joulesPerRequest: 10, co2Grams: 0 },
        },
      },
    })
  })

  // Issue 19, finding 5: 0.018 J per plan request when most were 429s, against 1.73 J for real work.
  it("separates a route's admitted work from its refusals by status class", () => {
    const { ledger, at } = setup()
    at(0)
    const work = ledger.startRequest()
    const refusals = Array.from({ length: 9 }, () => ledger.startRequest())
    at(10)
    for (const end of refusals) end('POST /agents/plan', undefined, 429)
    at(1000)
    work('POST /agents/plan', undefined, 200)
    ledger.closeInterval(1000, 109, 0)
    const plan = ledger.routes()['POST /agents/plan']
    expect(plan?.requests).toBe(10)
    expect(plan?.byStatusClass['2xx']?.joulesPerRequest).toBeCloseTo(100, 9)
    expect(plan?.byStatusClass['4xx']?.joulesPerRequest).toBeCloseTo(1, 9)
    expect(plan?.byStatusClass['4xx']?.requests).toBe(9)
    expect(Object.keys(plan?.byStatusClass ?? {})).toEqual(['2xx', '4xx'])
  })

  it.each([
    [undefined, 'none'],
    [99, 'none'],
    [600, 'none'],
    [Number.NaN, 'none'],
    [101, '1xx'],
    [304, '3xx'],
    [503, '5xx'],
  ])('counts a request ended with status %s under %s', (status, statusClass) => {
    const { ledger } = setup()
    ledger.startRequest('GET /a')(undefined, undefined, status)
    expect(Object.keys(ledger.routes()['GET /a']?.byStatusClass ?? {})).toEqual([statusClass])
  })

  it('property: the energy of ended requests per outcome never decreases (it is exported as a counter), and none stays in flight after the last end', () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('start' as const),
        route: fc.integer({ min: 0, max: 3 }),
        known: fc.boolean(),
      }),
      fc.record({
        kind: fc.constant('end' as const),
        pick: fc.nat(),
        status: fc.constantFrom(200, 429, 503, undefined),
      }),
      fc.record({
        kind: fc.constant('close' as const),
        joules: fc.double({ min: 0, max: 1e4, noNaN: true }),
      }),
    )
    fc.assert(
      fc.property(
        fc.array(fc.tuple(op, fc.integer({ min: 0, max: 300 })), { minLength: 10, maxLength: 150 }),
        (ops) => {
          const { ledger, at } = setup()
          let t = 0
          const open: { end: EndRequest; route: string }[] = []
          let seen = new Map<string, number>()
          for (const [o, dt] of ops) {
            t += dt
            at(t)
            if (o.kind === 'start') {
              const route = `GET /r${o.route}`
              open.push({ end: ledger.startRequest(o.known ? route : undefined), route })
            } else if (o.kind === 'end' && open.length > 0) {
              const [r] = open.splice(o.pick % open.length, 1)
              r?.end(r.route, undefined, o.status)
            } else if (o.kind === 'close') {
              ledger.closeInterval(t, o.joules, 0)
            }
            const now = new Map<string, number>()
            for (const [name, r] of Object.entries(ledger.routes({ nowMs: t, watts: 50, gramsPerKWh: 0 }))) {
              for (const [c, e] of Object.entries(r.byStatusClass)) now.set(`${name} ${c}`, e.settledJoules)
            }
            for (const [key, before] of seen) expect(now.get(key) ?? 0).toBeGreaterThanOrEqual(before)
            seen = now
          }
          // Once every request has ended, nothing (not even a rounding residue) stays in flight.
          for (const r of open.splice(0)) r.end(r.route, undefined, 200)
          for (const r of Object.values(ledger.routes())) expect(r.inFlightJoules).toBe(0)
          expect(ledger.pendingJoules).toBe(0)
        },
      ),
      { numRuns: 200 },
    )
  })

  it('names method and route as the SLO metrics do; spellings of one pair share one route', () => {
    const { ledger } = setup()
    ledger.startRequest('post /agents/plan')()
    ledger.startRequest('POST /agents/plan')()
    ledger.startRequest('BREW /pot')()
    ledger.startRequest('PURGE /pot')()
    ledger.startRequest('nightly-job')()
    const routes = ledger.routes()
    expect(Object.keys(routes)).toEqual(['POST /agents/plan', 'OTHER /pot', 'nightly-job'])
    expect(routes['POST /agents/plan']).toMatchObject({ method: 'POST', route: '/agents/plan', requests: 2 })
    expect(routes['OTHER /pot']).toMatchObject({ method: 'OTHER', route: '/pot', requests: 2 })
    expect(routes['nightly-job']).toMatchObject({ method: '', route: 'nightly-job' })
  })

  // Issue 19, finding 5: per-route joules read 0 until the next sample closed the interval.
  it("includes the open interval's estimate until the next close replaces it with the measured share", () => {
    const { ledger, at } = setup()
    at(1000)
    ledger.closeInterval(1000, 0, 0)
    const end = ledger.startRequest('POST /agents/plan')
    at(1500)
    end(undefined, undefined, 200)
    const open = ledger.routes({ nowMs: 1800, watts: 40, gramsPerKWh: 360 })['POST /agents/plan']
    // 40 W for the 800 ms since the close, all of it to the one request in flight during it.
    expect(open?.joules).toBeCloseTo(32, 9)
    expect(open?.provisionalJoules).toBeCloseTo(32, 9)
    expect(open?.co2Grams).toBeCloseTo(32 * 1e-4, 12)
    expect(open?.byStatusClass['2xx']).toMatchObject({ requests: 1, settledJoules: 0 })
    expect(open?.byStatusClass['2xx']?.joules).toBeCloseTo(32, 9)
    at(2000)
    ledger.closeInterval(2000, 20, 0)
    const closed = ledger.routes({ nowMs: 2000, watts: 20, gramsPerKWh: 0 })['POST /agents/plan']
    expect(closed).toMatchObject({ joules: 20, provisionalJoules: 0 })
    expect(closed?.byStatusClass['2xx']?.settledJoules).toBe(20)
  })

  it('ignores a second end() of the same request and counts it', () => {
    const { ledger, at } = setup()
    const first = ledger.startRequest('GET /a')
    const other = ledger.startRequest('GET /a')
    at(10)
    first()
    first()
    expect(ledger.inFlight).toBe(1)
    expect(ledger.doubleEnds).toBe(1)
    other()
    expect(ledger.routes()['GET /a']?.requests).toBe(2)
  })

  it('reuses end handles first-in first-out instead of allocating one per request', () => {
    const { ledger } = setup()
    const a = ledger.startRequest('GET /a')
    const b = ledger.startRequest('GET /a')
    a()
    b()
    expect(ledger.startRequest('GET /a')).toBe(a)
    expect(ledger.startRequest('GET /a')).toBe(b)
  })

  it('grows its handle pool with concurrency and attributes every request', () => {
    const { ledger, at } = setup()
    const ends = Array.from({ length: 300 }, (_, i) => ledger.startRequest(i % 2 ? 'GET /odd' : undefined))
    at(1000)
    ledger.closeInterval(1000, 300, 0)
    for (const [i, end] of ends.entries()) end(i % 2 ? undefined : 'GET /even')
    const routes = ledger.routes()
    expect(routes['GET /odd']).toMatchObject({ requests: 150, joules: 150 })
    expect(routes['GET /even']?.requests).toBe(150)
    expect(routes['GET /even']?.joules).toBeCloseTo(150, 9)
    expect(ledger.inFlight).toBe(0)
  })

  it('caps distinct routes: the overflow is counted under __unmatched__', () => {
    const { ledger } = setup({ maxRoutes: 2 })
    for (const r of ['GET /1', 'GET /2', 'GET /3', 'GET /4']) ledger.startRequest(r)()
    expect(Object.keys(ledger.routes()).sort()).toEqual(['GET /1', 'GET /2', '__unmatched__'])
    expect(ledger.routes().__unmatched__?.requests).toBe(2)
  })

  it('tracks at most maxInFlight requests at once and counts the rest', () => {
    const { ledger } = setup({ maxInFlight: 2 })
    const ends = [ledger.startRequest('GET /a'), ledger.startRequest('GET /a'), ledger.startRequest('GET /a')]
    expect(ledger.untrackedRequests).toBe(1)
    for (const end of ends) end()
    expect(ledger.routes()['GET /a']?.requests).toBe(2)
    expect(ledger.inFlight).toBe(0)
  })
})
