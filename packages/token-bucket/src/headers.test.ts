import { describe, expect, it } from 'vitest'
import type { RateLimitDecision } from './decision.js'
import { rateLimitHeaders } from './headers.js'

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
      RateLimit: '"POST /embed/multimodal";r=9;t=6',
    })
    expect(rateLimitHeaders([denied, daily], { format: 'ietf' })).toEqual({
      'RateLimit-Policy': '"POST /embed/multimodal";q=60;w=60, "daily \\"quota\\"";q=1000;w=86400',
      RateLimit: '"POST /embed/multimodal";r=0;t=10, "daily \\"quota\\"";r=500;t=80',
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

  it('rejects an unknown format', () => {
    expect(() => rateLimitHeaders(ok, { format: 'draft-6' as never })).toThrow(/`format`.*"ietf"/)
  })
})
