import { createTokenBucket, type TokenBucketDecision } from '@cortex/core'
import fc from 'fast-check'
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
    // The newest keys survive (the oldest buckets are the closest to full), the oldest are gone.
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
    // a and b are equally close to full: the first the clock hand reaches (a) goes.
    expect(store.take('p', 'a', slow, T0 + 61_000, 0).remaining).toBe(10)
    expect(store.take('p', 'b', slow, T0 + 61_000, 0).remaining).toBeLessThan(10)
  })

  it('when full, evicts the bucket closest to full (the least information), not the least recently used', () => {
    const store = memoryStore({ maxKeys: 2 })
    store.take('p', 'a', slow, T0, 1, out)
    store.take('p', 'b', slow, T0, 1, out)
    store.take('p', 'a', slow, T0, 1, out) // a holds 2 tokens' debt, b 1
    store.take('p', 'c', slow, T0, 1, out) // evicts b: it would refill first
    expect(store.take('p', 'a', slow, T0, 0).remaining).toBe(8)
    expect(store.take('p', 'b', slow, T0, 0).remaining).toBe(10)
    // b is back (evicting c, which holds as little as b did); now touch b last: it is
    // the most recently used, yet a (deeper in debt) stays and c goes.
    store.take('p', 'b', slow, T0 + 1000, 1, out)
    expect(Math.floor(store.take('p', 'a', slow, T0 + 1000, 0).remaining)).toBe(8)
    expect(store.take('p', 'c', slow, T0 + 1000, 0).remaining).toBe(10)
  })

  it('keeps every key apart up to its bound: 100k keys in a 100k store, each with its own bucket, none evicted', () => {
    const store = memoryStore({ maxKeys: 100_000 })
    const n = 100_000
    // Key i takes (i % 7) + 1 tokens: any two keys sharing a slot would show it.
    for (let i = 0; i < n; i++)
      store.take('POST /x', `203.0.${i >> 8}.${i & 255}`, slow, T0, (i % 7) + 1, out)
    expect(store.size + store.stats().evictions + store.stats().dropped).toBe(n)
    expect(store.stats().evictions).toBe(0)
    for (let i = 0; i < n; i++) {
      expect(store.take('POST /x', `203.0.${i >> 8}.${i & 255}`, slow, T0, 0).remaining).toBe(
        10 - ((i % 7) + 1),
      )
    }
    // The same keys under another policy are other buckets.
    expect(store.take('GET /y', '203.0.0.5', slow, T0, 0).remaining).toBe(10)
    expect(store.size).toBe(n)
  })

  it('a reset key frees its slot without hiding keys placed past it', () => {
    // Resets in the middle of index chains: the keys chained past them stay found.
    for (let round = 0; round < 20; round++) {
      const store = memoryStore({ maxKeys: 16 })
      const keys = Array.from({ length: 16 }, (_, i) => `${round}:${i}`)
      keys.forEach((k, i) => {
        store.take('p', k, slow, T0, (i % 9) + 1, out)
      })
      expect(store.size).toBe(16)
      for (let i = 0; i < 16; i += 2) store.reset('p', keys[i] as string)
      expect(store.size).toBe(8)
      keys.forEach((k, i) => {
        expect(store.take('p', k, slow, T0, 0).remaining).toBe(i % 2 === 0 ? 10 : 10 - ((i % 9) + 1))
      })
      // Freed slots are used again: 8 new keys fit without evicting anyone.
      for (let i = 0; i < 8; i++) store.take('p', `${round}:new${i}`, slow, T0, 1, out)
      expect(store.stats()).toMatchObject({ keys: 16, evictions: 0 })
    }
  })

  it('agrees with a Map under any mix of takes and resets, with the index 80 % full', () => {
    // 819 keys fill a 1,024-slot index to its load limit: long probe runs,
    // so removals shift slots back across clusters and wrap around the end.
    const maxKeys = 819
    const op = fc.record({
      key: fc.integer({ min: 0, max: maxKeys - 1 }),
      reset: fc.boolean(),
      cost: fc.integer({ min: 1, max: 3 }),
    })
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 3000 }), (ops) => {
        const store = memoryStore({ maxKeys })
        const model = new Map<number, number>()
        // Every key present first, so the index runs at its fullest.
        for (let k = 0; k < maxKeys; k++) {
          store.take('p', `key-${k}`, slow, T0, 1, out)
          model.set(k, 9)
        }
        for (const { key, reset, cost } of ops) {
          if (reset) {
            store.reset('p', `key-${key}`)
            model.delete(key)
            continue
          }
          const left = model.get(key) ?? 10
          const d = store.take('p', `key-${key}`, slow, T0, cost, out)
          expect(d.allowed).toBe(cost <= left)
          if (cost <= left) model.set(key, left - cost)
        }
        expect(store.size).toBe([...model.values()].filter((v) => v < 10).length)
        expect(store.stats()).toMatchObject({ evictions: 0, dropped: 0 })
        for (let k = 0; k < maxKeys; k++) {
          expect(store.take('p', `key-${k}`, slow, T0, 0).remaining).toBe(model.get(k) ?? 10)
        }
      }),
      { numRuns: 40 },
    )
  })

  it('grows by doubling but never holds more than maxKeys, whatever the bound', () => {
    for (const maxKeys of [1, 7, 9, 1000, 5003]) {
      const store = memoryStore({ maxKeys })
      for (let i = 0; i < 3 * maxKeys + 20; i++) store.take('p', `k${i}`, slow, T0, 1, out)
      expect(store.size).toBeLessThanOrEqual(maxKeys)
      expect(store.size + store.stats().evictions).toBe(3 * maxKeys + 20)
      // The newest key always has its bucket.
      expect(store.take('p', `k${3 * maxKeys + 19}`, slow, T0, 0).remaining).toBe(9)
    }
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
