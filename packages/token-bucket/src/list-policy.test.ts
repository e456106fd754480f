import { createTokenBucket, FULL_BUCKET_STATE } from '@cortex/core'
import fc from 'fast-check'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import type { RateLimitDecision } from './decision.js'
import { rateLimitHeaders } from './headers.js'
import { settleDecisions } from './list-policy.js'
import { memoryStore } from './memory-store.js'
import { createRateLimiter, type RateLimitPlan } from './rate-limiter.js'
import type { RateLimitStore } from './store.js'

const PLAN = 'POST /agents/plan'
const T0 = 1_764_000_000_000

/** requests 10/min, tokens 1,000/min, daily 20/day. */
function planLimiter(options: { registry?: Registry } = {}) {
  let now = T0
  const limiter = createRateLimiter({
    policies: {
      [PLAN]: [
        { name: 'requests', limit: 10, window: '1m' },
        { name: 'tokens', limit: 1000, window: '1m', unit: 'tokens' },
        { name: 'daily', limit: 20, window: '1d' },
      ],
      '*': { limit: 100, window: '1m' },
    },
    clock: () => now,
    logger: false,
    ...options,
  })
  return {
    limiter,
    advance: (ms: number) => {
      now += ms
    },
  }
}

function sync(d: RateLimitDecision | Promise<RateLimitDecision>): RateLimitDecision {
  if (d instanceof Promise) throw new Error('the memory store answers synchronously')
  return d
}

function limit(d: RateLimitDecision, name: string) {
  const l = d.limits?.find((x) => x.name === name)
  if (l === undefined) throw new Error(`no limit ${name}`)
  return l
}

describe('list policies: configuration', () => {
  it('validates every limit, naming the policy, the limit and the field', () => {
    const make = (list: unknown) => () =>
      createRateLimiter({ policies: { [PLAN]: list } as never, logger: false })
    expect(make([])).toThrow(/a list of 1 to 8 limits/)
    expect(
      make([
        { name: 'a', limit: 1, window: '1m' },
        { name: 'a', limit: 2, window: '1h' },
      ]),
    ).toThrow(/name.*not used by another limit/)
    expect(make([{ name: 'bad name', limit: 1, window: '1m' }])).toThrow(/letters, digits/)
    expect(make([{ name: 'tokens', limit: 0, window: '1m', unit: 'tokens' }])).toThrow(/limit "tokens"/)
    expect(make([{ name: 'x', limit: 1, window: '1m', maxDelayMs: 5 }])).toThrow(/maxDelayMs/)
    expect(make([{ name: 'x', limit: 1, window: '1m', unit: 'a b' }])).toThrow(/unit/)
    // A store that cannot decide several limits at once is refused up front, naming the policy.
    const single = { name: 'custom', take: () => ({}) as never, reset: () => {} }
    expect(() =>
      createRateLimiter({ policies: { [PLAN]: [{ name: 'a', limit: 1, window: '1m' }] }, store: single }),
    ).toThrow(/store.*takeLimits.*POST \/agents\/plan/)
    expect(() =>
      createRateLimiter({
        policies: { [PLAN]: [{ name: 'a', limit: 1, window: '1m' }] },
        onStoreError: single,
      }),
    ).toThrow(/onStoreError.*takeLimits/)
    expect(() =>
      createRateLimiter({ policies: { [PLAN]: { limit: 1, window: '1m' } }, store: single }),
    ).not.toThrow()
  })

  it('describes a list policy by its limits (units default to requests)', () => {
    const { limiter } = planLimiter()
    const plan = limiter.policies.find((p) => p.name === PLAN)
    expect(plan?.limits?.map((l) => [l.name, l.unit, l.limit, l.windowMs])).toEqual([
      ['requests', 'requests', 10, 60_000],
      ['tokens', 'tokens', 1000, 60_000],
      ['daily', 'requests', 20, 86_400_000],
    ])
  })
})

describe('list policies: all or nothing', () => {
  it('admits only when every limit admits, and a refusal charges no limit', () => {
    const { limiter } = planLimiter()
    const first = sync(limiter.consume('k', PLAN, { tokens: 600 }))
    expect(first.allowed).toBe(true)
    expect(limit(first, 'requests').remaining).toBe(9)
    expect(limit(first, 'tokens').remaining).toBe(400)
    expect(limit(first, 'daily').remaining).toBe(19)
    // 600 more tokens do not fit: refused by `tokens`, and nothing is charged.
    const second = sync(limiter.consume('k', PLAN, { tokens: 600 }))
    expect(second.allowed).toBe(false)
    expect(second.binding).toBe('tokens')
    expect(limit(second, 'tokens').allowed).toBe(false)
    expect(limit(second, 'requests').allowed).toBe(true)
    const after = sync(limiter.peek('k', PLAN, { tokens: 0 }))
    expect(limit(after, 'requests').remaining).toBe(9)
    expect(limit(after, 'daily').remaining).toBe(19)
    expect(limit(after, 'tokens').remaining).toBe(400)
  })

  it('charges 1 to a requests limit and 0 to another unit the cost omits', () => {
    const { limiter } = planLimiter()
    const d = sync(limiter.consume('k', PLAN))
    expect(d.limits?.map((l) => [l.name, l.cost])).toEqual([
      ['requests', 1],
      ['tokens', 0],
      ['daily', 1],
    ])
    const n = sync(limiter.consume('k', PLAN, 3))
    expect(n.limits?.map((l) => l.cost)).toEqual([3, 0, 3])
    const named = sync(limiter.consume('k', PLAN, { requests: 2, tokens: 5 }))
    expect(named.limits?.map((l) => l.cost)).toEqual([2, 5, 2])
  })

  it('retryAfterSeconds is the exact wait until every limit admits, and waiting it suffices', () => {
    const { limiter, advance } = planLimiter()
    sync(limiter.consume('k', PLAN, { tokens: 1000 }))
    for (let i = 0; i < 9; i++) sync(limiter.consume('k', PLAN, { tokens: 0 }))
    // requests: 0 left (a token per 6 s); tokens: 0 left (1,000 per 60 s: 900 need 54 s).
    const refused = sync(limiter.consume('k', PLAN, { tokens: 900 }))
    expect(refused.allowed).toBe(false)
    expect(refused.binding).toBe('tokens')
    expect(refused.retryAfterMs).toBeCloseTo(54_000, 6)
    expect(refused.retryAfterSeconds).toBe(54)
    expect(limit(refused, 'requests').retryAfterSeconds).toBe(6)
    advance(refused.retryAfterMs - 1)
    expect(sync(limiter.peek('k', PLAN, { tokens: 900 })).allowed).toBe(false)
    advance(1)
    expect(sync(limiter.consume('k', PLAN, { tokens: 900 })).allowed).toBe(true)
  })

  it('a cost above a limit’s burst is refused for ever (-1) without charging', () => {
    const { limiter } = planLimiter()
    const d = sync(limiter.consume('k', PLAN, { tokens: 1001 }))
    expect(d.allowed).toBe(false)
    expect(d.retryAfterSeconds).toBe(-1)
    expect(d.binding).toBe('tokens')
    expect(limit(sync(limiter.peek('k', PLAN)), 'requests').remaining).toBe(10)
    expect(sync(limiter.consume('k', PLAN, { tokens: Number.NaN })).allowed).toBe(false)
  })

  it('agrees with independent buckets decided all or nothing (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            dt: fc.integer({ min: 0, max: 20_000 }),
            requests: fc.integer({ min: 0, max: 3 }),
            tokens: fc.integer({ min: 0, max: 700 }),
          }),
          { maxLength: 40 },
        ),
        (steps) => {
          const { limiter, advance } = planLimiter()
          const model = [
            { b: createTokenBucket({ burst: 10, refillTokens: 10, refillMs: 60_000 }), unit: 'requests' },
            { b: createTokenBucket({ burst: 1000, refillTokens: 1000, refillMs: 60_000 }), unit: 'tokens' },
            { b: createTokenBucket({ burst: 20, refillTokens: 20, refillMs: 86_400_000 }), unit: 'requests' },
          ]
          const states = model.map(() => FULL_BUCKET_STATE)
          let now = T0
          for (const step of steps) {
            advance(step.dt)
            now += step.dt
            const costs = model.map((m) => (m.unit === 'tokens' ? step.tokens : step.requests))
            const each = model.map((m, i) => m.b.take(states[i] as number, now, costs[i]))
            const expected = each.every((e) => e.allowed)
            if (expected) {
              each.forEach((e, i) => {
                states[i] = e.state
              })
            }
            const d = sync(limiter.consume('k', PLAN, { requests: step.requests, tokens: step.tokens }))
            expect(d.allowed).toBe(expected)
            if (!expected) {
              const waits = each.filter((e) => !e.allowed).map((e) => e.retryAfterMs)
              expect(d.retryAfterMs).toBe(waits.includes(-1) ? -1 : Math.max(...waits))
            }
          }
        },
      ),
    )
  })
})

describe('list policies: settle', () => {
  it('charges the difference: a refund gives tokens back, never more than reserved', () => {
    const { limiter } = planLimiter()
    const d = sync(limiter.consume('k', PLAN, { tokens: 800 }))
    limiter.settle(d, { tokens: 350 })
    expect(limit(sync(limiter.peek('k', PLAN)), 'tokens').remaining).toBe(650)
    // Another client: a refund to 0 returns exactly the reservation, requests untouched.
    const e = sync(limiter.consume('j', PLAN, { tokens: 300 }))
    sync(limiter.consume('j', PLAN, { tokens: 200 }))
    limiter.settle(e, { tokens: 0 })
    const peek = sync(limiter.peek('j', PLAN))
    expect(limit(peek, 'tokens').remaining).toBe(800)
    expect(limit(peek, 'requests').remaining).toBe(8)
  })

  it('an overrun is owed: the bucket goes below zero and the next request waits for it', () => {
    const { limiter, advance } = planLimiter()
    const d = sync(limiter.consume('k', PLAN, { tokens: 100 }))
    limiter.settle(d, { tokens: 1300 }) // 300 tokens of debt
    const next = sync(limiter.consume('k', PLAN, { tokens: 1 }))
    expect(next.allowed).toBe(false)
    expect(next.binding).toBe('tokens')
    // 300 tokens of debt + 1 token, at 1,000 per minute.
    expect(next.retryAfterMs).toBeCloseTo(301 * 60, 6)
    advance(301 * 60)
    expect(sync(limiter.consume('k', PLAN, { tokens: 1 })).allowed).toBe(true)
  })

  it('ignores (and counts) a second settle, a refused decision and a value that is not a cost', async () => {
    const registry = new Registry()
    const { limiter } = planLimiter({ registry })
    const d = sync(limiter.consume('k', PLAN, { tokens: 500 }))
    limiter.settle(d, { tokens: 100 })
    limiter.settle(d, { tokens: 0 })
    const refused = sync(limiter.consume('k', PLAN, { tokens: 1000 }))
    limiter.settle(refused, { tokens: 0 })
    const e = sync(limiter.consume('k', PLAN, { tokens: 10 }))
    limiter.settle(e, { tokens: -5 })
    limiter.settle(e, { tokens: Number.NaN })
    limiter.settle(sync(limiter.consume('k', '*')), 1)
    expect(limit(sync(limiter.peek('k', PLAN)), 'tokens').remaining).toBe(890)
    const text = await registry.metrics()
    expect(text).toContain('cortex_rate_limit_settlements_total{outcome="settled"} 1')
    expect(text).toContain('cortex_rate_limit_settlements_total{outcome="ignored"} 5')
    // The reservation survives an invalid settle: a valid one still applies.
    limiter.settle(e, { tokens: 0 })
    expect(limit(sync(limiter.peek('k', PLAN)), 'tokens').remaining).toBe(900)
  })

  it('leaves units the actual cost omits as reserved', () => {
    const { limiter } = planLimiter()
    const d = sync(limiter.consume('k', PLAN, { requests: 2, tokens: 100 }))
    limiter.settle(d, { tokens: 40 })
    const peek = sync(limiter.peek('k', PLAN))
    expect(limit(peek, 'requests').remaining).toBe(8)
    expect(limit(peek, 'tokens').remaining).toBe(960)
  })
})

describe('list policies: headers and metrics', () => {
  it('sends every limit as its own item, with qu for other units, and Retry-After from the binding limit', () => {
    const { limiter } = planLimiter()
    const ok = sync(limiter.consume('k', PLAN, { tokens: 990 }))
    const h = rateLimitHeaders(ok)
    expect(h['RateLimit-Policy']).toBe(
      '"POST /agents/plan:requests";q=10;w=60, "POST /agents/plan:tokens";q=1000;w=60;qu="tokens", "POST /agents/plan:daily";q=20;w=86400',
    )
    expect(h.RateLimit).toBe(
      '"POST /agents/plan:requests";r=9;t=6, "POST /agents/plan:tokens";r=10;t=1, "POST /agents/plan:daily";r=19;t=4320',
    )
    const refused = sync(limiter.consume('k', PLAN, { tokens: 600 }))
    const r = rateLimitHeaders(refused)
    // 590 tokens at 1,000 per minute: 35.4 s → 36.
    expect(r['Retry-After']).toBe('36')
    // draft-7 carries the binding limit.
    expect(rateLimitHeaders(refused, { format: 'draft-7' }).RateLimit).toBe(
      'limit=1000, remaining=10, reset=60',
    )
  })

  it('labels decisions with the binding limit', async () => {
    const registry = new Registry()
    const { limiter } = planLimiter({ registry })
    sync(limiter.consume('k', PLAN, { tokens: 1000 }))
    sync(limiter.consume('k', PLAN, { tokens: 1 }))
    const text = await registry.metrics()
    expect(text).toContain(
      'cortex_rate_limit_decisions_total{policy="POST /agents/plan",limit="tokens",outcome="denied"} 1',
    )
    expect(text).toContain(
      'cortex_rate_limit_decisions_total{policy="POST /agents/plan",limit="tokens",outcome="allowed"} 1',
    )
  })

  it('keeps one entry per key and limit in the memory store, and reset forgets every limit', () => {
    const store = memoryStore()
    const limiter = createRateLimiter({
      policies: {
        [PLAN]: [
          { name: 'requests', limit: 10, window: '1m' },
          { name: 'tokens', limit: 1000, window: '1m', unit: 'tokens' },
        ],
      },
      store,
      logger: false,
    })
    sync(limiter.consume('a', PLAN, { tokens: 5 }))
    sync(limiter.consume('b', PLAN))
    expect(store.size).toBe(3) // a: requests + tokens; b: requests (its tokens bucket stayed full)
    limiter.reset('a')
    expect(store.size).toBe(1)
    expect(limit(sync(limiter.peek('a', PLAN)), 'tokens').remaining).toBe(1000)
  })
})

/** A store whose list calls fail as told (throw, reject, hang), decided by a memory store otherwise. */
function failingStore(mode: { fail: 'throw' | 'reject' | 'hang' | false }) {
  const inner = memoryStore()
  const store: RateLimitStore = {
    name: 'flaky',
    take: (...args) => inner.take(...args),
    reset: (...args) => inner.reset(...args),
    takeLimits(...args) {
      if (mode.fail === 'throw') throw new Error('down')
      if (mode.fail === 'reject') return Promise.reject(new Error('down'))
      if (mode.fail === 'hang') return new Promise(() => {})
      return Promise.resolve(inner.takeLimits(...args))
    },
    chargeLimits(...args) {
      if (mode.fail === 'throw') throw new Error('down')
      if (mode.fail === 'reject') return Promise.reject(new Error('down'))
      return inner.chargeLimits(...args)
    },
  }
  return { store, inner }
}

const LIST = [
  { name: 'requests', limit: 10, window: '1m' },
  { name: 'tokens', limit: 1000, window: '1m', unit: 'tokens' },
] as const

describe('list policies: when the store fails', () => {
  it.each([
    ['throws', 'throw', 'deny', false],
    ['rejects', 'reject', 'deny', false],
    ['does not answer in time', 'hang', 'allow', true],
  ] as const)(
    'a store that %s follows onStoreError, counted as an error or timeout, never rejecting',
    async (_, fail, onStoreError, allowed) => {
      const registry = new Registry()
      const { store } = failingStore({ fail })
      const limiter = createRateLimiter({
        policies: { [PLAN]: [...LIST] },
        store,
        onStoreError,
        storeTimeoutMs: 20,
        registry,
        logger: false,
      })
      const d = await limiter.consume('k', PLAN, { tokens: 5 })
      expect(d).toMatchObject({ allowed, degraded: onStoreError })
      // Decided without figures: nothing was reserved, so a settle is ignored.
      await limiter.settle(d, { tokens: 0 })
      const text = await registry.metrics()
      expect(text).toContain('cortex_rate_limit_store_up 0')
      expect(text).toContain(
        `cortex_rate_limit_store_errors_total{kind="${fail === 'hang' ? 'timeout' : 'error'}"} 1`,
      )
      expect(text).toContain('cortex_rate_limit_settlements_total{outcome="ignored"} 1')
    },
  )

  it('decides from a fallback store during an outage, and the fallback’s reservation settles there', async () => {
    const { store } = failingStore({ fail: 'reject' })
    const fallback = memoryStore()
    const limiter = createRateLimiter({
      policies: { [PLAN]: [...LIST] },
      store,
      onStoreError: fallback,
      storeTimeoutMs: 20,
      logger: false,
    })
    const d = await limiter.consume('k', PLAN, { tokens: 600 })
    expect(d).toMatchObject({ allowed: true, degraded: 'fallback' })
    expect(limit(d, 'tokens').remaining).toBe(400)
    // The outage holds (no probe before the retry interval): the next decision uses the fallback too.
    const refused = await limiter.consume('k', PLAN, { tokens: 600 })
    expect(refused).toMatchObject({ allowed: false, degraded: 'fallback', binding: 'tokens' })
    // Settled on the fallback that reserved it: 500 come back there, so 900 fit exactly.
    await limiter.settle(d, { tokens: 100 })
    expect(limit(await limiter.consume('k', PLAN, { tokens: 900 }), 'tokens').remaining).toBe(0)
  })

  it('recovers: once the store answers again, decisions carry its figures', async () => {
    let now = T0
    const mode: { fail: 'reject' | false } = { fail: 'reject' }
    const { store } = failingStore(mode)
    const events: string[] = []
    const limiter = createRateLimiter({
      policies: { [PLAN]: [...LIST] },
      store,
      onStoreError: 'allow',
      storeRetryIntervalMs: 1000,
      clock: () => now,
      onEvent: (e) => events.push(e.type),
      logger: false,
    })
    expect(await limiter.consume('k', PLAN)).toMatchObject({ degraded: 'allow' })
    mode.fail = false
    // Within the retry interval the store is not asked.
    expect(await limiter.consume('k', PLAN)).toMatchObject({ degraded: 'allow' })
    now += 1000
    const d = await limiter.consume('k', PLAN)
    expect(d).toMatchObject({ allowed: true, degraded: false })
    expect(limit(d, 'requests').remaining).toBe(9)
    expect(events).toEqual(['store-error', 'store-recovered'])
  })

  it('a settle whose store call fails is counted as a store error and never rejects', async () => {
    const mode: { fail: 'reject' | 'throw' | false } = { fail: false }
    const { store } = failingStore(mode)
    const registry = new Registry()
    const limiter = createRateLimiter({ policies: { [PLAN]: [...LIST] }, store, registry, logger: false })
    const a = await limiter.consume('k', PLAN, { tokens: 10 })
    const b = await limiter.consume('k', PLAN, { tokens: 10 })
    mode.fail = 'reject'
    await expect(limiter.settle(a, { tokens: 1 })).resolves.toBeUndefined()
    mode.fail = 'throw'
    expect(limiter.settle(b, { tokens: 1 })).toBeUndefined()
    expect(await registry.metrics()).toContain('cortex_rate_limit_store_errors_total{kind="error"} 2')
  })
})

describe('list policies: a request’s decisions, as adapters keep them', () => {
  it('settleDecisions settles each reservation once with the actual cost and leaves the rest alone', () => {
    const { limiter } = planLimiter()
    const plan = sync(limiter.consume('k', PLAN, { tokens: 500 }))
    const other = sync(limiter.consume('k', '*'))
    const refused = sync(limiter.consume('j', PLAN, { tokens: 5000 }))
    expect(settleDecisions([other, plan, refused], { tokens: 100 })).toBeUndefined()
    expect(limit(sync(limiter.peek('k', PLAN)), 'tokens').remaining).toBe(900)
    // Settled once: a second call changes nothing.
    settleDecisions([plan], { tokens: 0 })
    expect(limit(sync(limiter.peek('k', PLAN)), 'tokens').remaining).toBe(900)
  })

  it('a failed response gives back every unit but requests; a successful one keeps its estimate', () => {
    const { limiter } = planLimiter()
    const handler = limiter.handler({ cost: () => ({ tokens: 700 }) })
    const input = {
      info: { method: 'POST', path: '/agents/plan', route: undefined, clientAddress: '10.0.0.1' },
    }
    const failed = handler.handle({}, input) as RateLimitPlan
    expect(handler.settles).toBe(true)
    handler.finish(failed.decisions, true)
    const key = '10.0.0.1'
    const afterFailed = sync(limiter.peek(key, PLAN))
    expect([limit(afterFailed, 'requests').remaining, limit(afterFailed, 'tokens').remaining]).toEqual([
      9, 1000,
    ])
    const ok = handler.handle({}, input) as RateLimitPlan
    handler.finish(ok.decisions, false)
    const afterOk = sync(limiter.peek(key, PLAN))
    expect([limit(afterOk, 'requests').remaining, limit(afterOk, 'tokens').remaining]).toEqual([8, 300])
    // Only limiters with a unit other than requests need the response's end.
    const plain = createRateLimiter({
      policies: { [PLAN]: [{ name: 'a', limit: 1, window: '1m' }] },
      logger: false,
    })
    expect(plain.handler({}).settles).toBe(false)
  })
})
