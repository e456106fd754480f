import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { RateLimitDecision } from './decision.js'
import { additionalQuotaSeconds, rateLimitHeaders } from './headers.js'
import { createRateLimiter } from './rate-limiter.js'

function decision(over: Partial<RateLimitDecision>): RateLimitDecision {
  return {
    allowed: true,
    policy: 'POST /embed/multimodal',
    limit: 60,
    remaining: 9,
    resetSeconds: 6,
    retryAfterSeconds: 0,
    windowMs: 60_000,
    burst: 10,
    cost: 1,
    retryAfterMs: 0,
    resetMs: 6000,
    delayMs: 0,
    unlimited: false,
    degraded: false,
    ...over,
  }
}

describe('rateLimitHeaders', () => {
  const ok = decision({})
  const denied = decision({ allowed: false, remaining: 0, retryAfterSeconds: 2, resetSeconds: 10 })
  const daily = decision({
    policy: 'daily "quota"',
    limit: 1000,
    windowMs: 86_400_000,
    remaining: 500,
    resetSeconds: 80,
  })

  it('ietf (default): Structured Fields lists of named policies', () => {
    expect(rateLimitHeaders(ok)).toEqual({
      'RateLimit-Policy': '"POST /embed/multimodal";q=60;w=60',
      RateLimit: '"POST /embed/multimodal";r=9;t=1',
    })
    expect(rateLimitHeaders([denied, daily], { format: 'ietf' })).toEqual({
      'RateLimit-Policy': '"POST /embed/multimodal";q=60;w=60, "daily \\"quota\\"";q=1000;w=86400',
      RateLimit: '"POST /embed/multimodal";r=0;t=1, "daily \\"quota\\"";r=500;t=6',
      'Retry-After': '2',
    })
  })

  it('draft-7 and legacy report the most restrictive decision', () => {
    expect(rateLimitHeaders([daily, denied], { format: 'draft-7' })).toEqual({
      'RateLimit-Policy': '1000;w=86400, 60;w=60',
      RateLimit: 'limit=60, remaining=0, reset=10',
      'Retry-After': '2',
    })
    expect(rateLimitHeaders([ok, daily], { format: 'legacy' })).toEqual({
      'X-RateLimit-Limit': '60',
      'X-RateLimit-Remaining': '9',
      'X-RateLimit-Reset': '6',
    })
  })

  it('skips unlimited and blind store-failure decisions; false sends only Retry-After', () => {
    expect(rateLimitHeaders(decision({ unlimited: true }))).toEqual({})
    expect(rateLimitHeaders(decision({ degraded: 'allow' }))).toEqual({})
    expect(rateLimitHeaders(decision({ degraded: 'deny', allowed: false, retryAfterSeconds: 1 }))).toEqual({
      'Retry-After': '1',
    })
    expect(rateLimitHeaders(denied, { format: false })).toEqual({ 'Retry-After': '2' })
    // A cost above the burst: no wait helps, so no Retry-After.
    expect(rateLimitHeaders(decision({ allowed: false, retryAfterSeconds: -1 }))).not.toHaveProperty(
      'Retry-After',
    )
  })

  it('keeps header values printable ASCII and windows in whole seconds', () => {
    const odd = decision({ policy: 'GET /café', windowMs: 500 })
    expect(rateLimitHeaders(odd)['RateLimit-Policy']).toBe('"GET /caf?";q=60;w=1')
  })

  it('draft-7 and legacy break a tie on remaining by the decision that frees up later (in either order)', () => {
    const soon = decision({ policy: 'burst', remaining: 0, resetSeconds: 10, limit: 60 })
    const late = decision({
      policy: 'hourly',
      remaining: 0,
      resetSeconds: 80,
      limit: 600,
      windowMs: 3_600_000,
    })
    for (const list of [
      [soon, late],
      [late, soon],
    ]) {
      expect(rateLimitHeaders(list, { format: 'draft-7' }).RateLimit).toBe('limit=600, remaining=0, reset=80')
      const legacy = rateLimitHeaders(list, { format: 'legacy' })
      expect(legacy['X-RateLimit-Limit']).toBe('600')
      expect(legacy['X-RateLimit-Reset']).toBe('80')
    }
  })

  it('rounds a window up to whole seconds in every format (1,400 ms is w=2, never w=1)', () => {
    const short = decision({ policy: 'short', windowMs: 1_400 })
    expect(rateLimitHeaders(short)['RateLimit-Policy']).toBe('"short";q=60;w=2')
    expect(rateLimitHeaders([short, ok])['RateLimit-Policy']).toMatch(/^"short";q=60;w=2, /)
    expect(rateLimitHeaders([short], { format: 'draft-7' })['RateLimit-Policy']).toBe('60;w=2')
    expect(rateLimitHeaders(decision({ policy: 'exact', windowMs: 2_000 }))['RateLimit-Policy']).toBe(
      '"exact";q=60;w=2',
    )
    expect(rateLimitHeaders(decision({ policy: 'just over', windowMs: 2_001 }))['RateLimit-Policy']).toBe(
      '"just over";q=60;w=3',
    )
  })

  it('serialises any policy name as a valid sf-string that reads back as the name (non-printables as ?)', () => {
    // RFC 8941 §3.3.3: DQUOTE *( unescaped / "\" ( DQUOTE / "\" ) ) DQUOTE, unescaped = %x20-21 / %x23-5B / %x5D-7E
    const sfString = /^"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"/
    expect(rateLimitHeaders(decision({ policy: 'a\\b' }))['RateLimit-Policy']).toBe('"a\\\\b";q=60;w=60')
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 20 }), (name) => {
        const headers = rateLimitHeaders(decision({ policy: name }))
        for (const field of [headers['RateLimit-Policy'], headers.RateLimit] as string[]) {
          const match = sfString.exec(field)
          expect(match, field).not.toBeNull()
          const decoded = ((match as RegExpExecArray)[1] as string).replace(/\\(["\\])/g, '$1')
          expect(decoded).toBe(name.replace(/[^\x20-\x7e]/g, '?'))
        }
      }),
      { numRuns: 200 },
    )
  })

  it('a combined Retry-After is the longest of the refusals, whatever their order or the format', () => {
    const short = decision({ policy: 'burst', allowed: false, remaining: 0, retryAfterSeconds: 2 })
    const long = decision({ policy: 'daily', allowed: false, remaining: 0, retryAfterSeconds: 30 })
    for (const format of ['ietf', 'draft-7', 'legacy', false] as const) {
      expect(rateLimitHeaders([short, long], { format })['Retry-After']).toBe('30')
      expect(rateLimitHeaders([long, short], { format })['Retry-After']).toBe('30')
      expect(rateLimitHeaders([ok, short], { format })['Retry-After']).toBe('2')
      expect(rateLimitHeaders([ok, ok], { format })).not.toHaveProperty('Retry-After')
    }
  })

  it('rejects an unknown format', () => {
    expect(() => rateLimitHeaders(ok, { format: 'draft-6' as never })).toThrow(/`format`.*"ietf"/)
  })
})

describe("draft-10's t: seconds until additional quota", () => {
  it('is the wait until the bucket holds one more whole token (a real limiter, its clock moved by hand)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 120 }),
        fc.constantFrom(1000, 10_000, 60_000, 3_600_000),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 25 }),
        fc.integer({ min: 0, max: 5000 }),
        (limit, windowMs, burst, takes, pauseMs) => {
          let now = 1_764_000_000_000
          const limiter = createRateLimiter({
            policies: { '*': { limit, window: windowMs, burst } },
            clock: () => now,
            logger: false,
          })
          for (let i = 0; i < takes; i++) limiter.consume('k', '*')
          now += pauseMs
          const d = limiter.peek('k', '*') as import('./decision.js').RateLimitDecision
          const t = Number(/;t=(\d+)$/.exec(rateLimitHeaders(d).RateLimit as string)?.[1])
          if (d.remaining >= burst) {
            expect(t).toBe(0)
            return
          }
          // A second before t the client has no more quota (t is a ceiling); after t seconds it has.
          now += (t - 1) * 1000
          if (t >= 2) expect((limiter.peek('k', '*') as typeof d).remaining).toBe(d.remaining)
          now += 1000
          expect((limiter.peek('k', '*') as typeof d).remaining).toBeGreaterThan(d.remaining)
        },
      ),
    )
  })

  it('equals Retry-After on a refusal of cost 1, and is 0 for a full bucket', () => {
    const limiter = createRateLimiter({
      policies: { '*': { limit: 10, window: '1m', burst: 2 } },
      clock: () => 1_764_000_000_000,
      logger: false,
    })
    limiter.consume('k', '*')
    limiter.consume('k', '*')
    const refused = limiter.consume('k', '*') as import('./decision.js').RateLimitDecision
    const headers = rateLimitHeaders(refused)
    expect(headers['Retry-After']).toBe('6')
    expect(headers.RateLimit).toBe('"*";r=0;t=6')
    expect(additionalQuotaSeconds({ limit: 10, windowMs: 60_000, resetMs: 0 })).toBe(0)
  })
})
