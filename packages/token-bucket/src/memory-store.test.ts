import { createTokenBucket, type TokenBucketDecision } from '@cortex/core'
import { describe, expect, it } from 'vitest'
import { memoryStore } from './memory-store.js'

const T0 = 1_764_000_000_000
/** 1 token per minute, burst 10: a key touched once stays informative for a minute. */
const slow = createTokenBucket({ burst: 10, refillTokens: 1, refillMs: 60_000 })
const out: TokenBucketDecision = { allowed: false, remaining: 0, retryAfterMs: 0, resetAfterMs: 0, state: 0 }

describe('memoryStore', () => {
  it('a flood of 2 million distinct keys leaves the store at its bound, counting evictions', () => {
    const store = memoryStore({ maxKeys: 100_000 })
    for (let i = 0; i < 2_000_000; i++) store.take('POST /x', `k${i}`, slow, T0 + i * 1e-3, 1, out)
    expect(store.size).toBe(100_000)
    expect(store.stats()).toMatchObject({ keys: 100_000, evictions: 1_900_000, dropped: 0 })
    // The newest keys survive (least recently used first), the oldest are gone.
    expect(store.take('POST /x', 'k1999999', slow, T0 + 2000, 0).remaining).toBeLessThan(10)
    expect(store.take('POST /x', 'k0', slow, T0 + 2000, 0).remaining).toBe(10)
  })

  it('drops refilled buckets (no information) before evicting a live one', () => {
    const store = memoryStore({ maxKeys: 3 })
    store.take('p', 'old', slow, T0, 1, out) // full again at T0 + 60 s
    store.take('p', 'a', slow, T0 + 50_000, 1, out)
    store.take('p', 'b', slow, T0 + 50_000, 1, out)
    store.take('p', 'c', slow, T0 + 61_000, 1, out)
    expect(store.stats()).toMatchObject({ keys: 3, evictions: 0, dropped: 1 })
    store.take('p', 'd', slow, T0 + 61_000, 1, out)
    expect(store.stats()).toMatchObject({ keys: 3, evictions: 1, dropped: 1 })
    // 'a' was the least recently used live key.
    expect(store.take('p', 'a', slow, T0 + 61_000, 0).remaining).toBe(10)
    expect(store.take('p', 'b', slow, T0 + 61_000, 0).remaining).toBeLessThan(10)
  })

  it('keeps least-recently-used order on every hit', () => {
    const store = memoryStore({ maxKeys: 2 })
    store.take('p', 'a', slow, T0, 1, out)
    store.take('p', 'b', slow, T0, 1, out)
    store.take('p', 'a', slow, T0, 1, out) // a is now the most recent
    store.take('p', 'c', slow, T0, 1, out) // evicts b
    expect(store.take('p', 'a', slow, T0, 0).remaining).toBe(8)
    expect(store.take('p', 'b', slow, T0, 0).remaining).toBe(10)
  })

  it('stores nothing for a key whose bucket stays full (peeks, refusals of cost > burst)', () => {
    const store = memoryStore()
    store.take('p', 'peek', slow, T0, 0, out)
    store.take('p', 'huge', slow, T0, 11, out)
    expect(store.size).toBe(0)
  })

  it('separates policies, resets one key, clears all', () => {
    const store = memoryStore()
    store.take('p', 'k', slow, T0, 10, out)
    expect(store.take('q', 'k', slow, T0, 1).allowed).toBe(true)
    expect(store.take('p', 'k', slow, T0, 1).allowed).toBe(false)
    store.reset('p', 'k')
    expect(store.take('p', 'k', slow, T0, 1).allowed).toBe(true)
    store.clear()
    expect(store.size).toBe(0)
    expect(store.take('q', 'k', slow, T0, 10).allowed).toBe(true)
  })

  it('validates maxKeys', () => {
    expect(() => memoryStore({ maxKeys: 0 })).toThrow(/maxKeys/)
    expect(() => memoryStore({ maxKeys: 1.5 })).toThrow(/maxKeys/)
    expect(() => memoryStore({ maxkeys: 5 } as never)).toThrow(/maxkeys/)
  })
})
