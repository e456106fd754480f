import { createTokenBucket, FULL_BUCKET_STATE } from '@cortex/core'
import fc from 'fast-check'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import type { RateLimitDecision } from './decision.js'
import { rateLimitHeaders } from './headers.js'
import { memoryStore } from './memory-store.js'
import { createRateLimiter } from './rate-limiter.js'

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
