import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createTokenBucket, FULL_BUCKET_STATE } from './token-bucket.js'

// 10 tokens, one per second.
const bucket = createTokenBucket({ burst: 10, refillTokens: 1, refillMs: 1000 })

describe('token bucket charge (a cost settled after the fact)', () => {
  it('charges a full bucket from now, and a used one from its state', () => {
    expect(bucket.charge(FULL_BUCKET_STATE, 5000, 3)).toBe(8000)
    expect(bucket.tokensAt(bucket.charge(FULL_BUCKET_STATE, 5000, 3), 5000)).toBe(7)
    // 4 tokens short of full at t=5000 (state 9000): 2 more → 6 short.
    expect(bucket.charge(9000, 5000, 2)).toBe(11_000)
  })

  it('takes the bucket below zero: the debt is repaid before the next request fits', () => {
    const state = bucket.charge(FULL_BUCKET_STATE, 0, 13) // 3 tokens of debt
    expect(bucket.tokensAt(state, 0)).toBe(0)
    // One token fits only once the debt (3 s) and that token (1 s) have refilled.
    expect(bucket.take(state, 3999, 1).allowed).toBe(false)
    expect(bucket.take(state, 3000, 1).retryAfterMs).toBe(1000)
    expect(bucket.take(state, 4000, 1).allowed).toBe(true)
  })

  it('gives tokens back for a negative cost, never past full', () => {
    expect(bucket.charge(8000, 0, -3)).toBe(5000)
    expect(bucket.tokensAt(bucket.charge(8000, 0, -3), 0)).toBe(5)
    expect(bucket.charge(8000, 0, -20)).toBe(0)
    expect(bucket.tokensAt(bucket.charge(8000, 0, -20), 0)).toBe(10)
    // A bucket already full stays full (the state never falls behind now).
    expect(bucket.charge(FULL_BUCKET_STATE, 100, -5)).toBe(100)
  })

  it('leaves the state alone on non-finite input (settling never corrupts a bucket)', () => {
    expect(bucket.charge(7000, 0, Number.NaN)).toBe(7000)
    expect(bucket.charge(7000, Number.NaN, 1)).toBe(7000)
    expect(bucket.charge(7000, 0, Number.POSITIVE_INFINITY)).toBe(7000)
  })

  it('a reservation then a settle equals charging the actual cost (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 10 }),
        fc.integer({ min: 0, max: 30 }),
        fc.integer({ min: 0, max: 100_000 }),
        (reserved, actual, now) => {
          const taken = bucket.take(FULL_BUCKET_STATE, now, reserved)
          if (!taken.allowed) return
          const settled = bucket.charge(taken.state, now, actual - reserved)
          expect(bucket.tokensAt(settled, now)).toBeCloseTo(Math.max(0, 10 - actual), 9)
          expect(settled).toBeCloseTo(bucket.charge(FULL_BUCKET_STATE, now, actual), 6)
        },
      ),
    )
  })
})
