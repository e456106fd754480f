/**
 * The in-process store: a hash index over entries kept in the order they
 * arrived. Each entry holds two numbers side by side in one Float64Array — a
 * 53-bit fingerprint of (policy, key) and the key's GCRA "theoretical arrival
 * time" — and an Int32Array links entries that share a bucket of the index.
 * Keys themselves are not kept — no string, no object and no timer per key,
 * nothing for the garbage collector to trace — so a decision costs one hash
 * of the key, one read of the index and, almost always, one entry.
 *
 * Entries sit in arrival order (the layout of V8's own Map): clients that
 * arrive together are served from neighbouring memory, where a table placed
 * by hash would scatter every lookup across it. The index has a bucket per
 * entry (rounded up to a power of two), so chains stay short.
 *
 * The entry arrays start small and double, up to maxKeys entries and never
 * beyond; the store never holds more than maxKeys keys. Once it does, a new
 * key takes the entry of a victim chosen by a clock hand sweeping the entries
 * in order: within the next window of entries, a bucket that has refilled
 * carries no information and is "dropped" at once; otherwise the one closest
 * to full (losing the least) is "evicted" and counted. A reset key's entry is
 * unlinked and reused by the next new key.
 *
 * Fingerprints come from a hash seeded at random per store, so clients cannot
 * aim at each other's buckets; two distinct keys share a bucket only if their
 * 53-bit fingerprints are equal: for n keys, about n² / 2^54 such pairs are
 * expected (1 in 18,000 at a million keys), and such a pair is merely
 * limited together.
 */
import {
  checkKnownKeys,
  checkNumber,
  checkObject,
  type TokenBucket,
  type TokenBucketDecision,
} from '@cortex/core'
import type { RateLimitStore, StoreStats } from './store.js'

export interface MemoryStoreOptions {
  /** Most keys held at once (per store, across policies). Default 1,000,000. */
  maxKeys?: number
}

/** The memory store: a `RateLimitStore` whose calls never return a promise. */
export interface MemoryStore extends RateLimitStore {
  readonly name: 'memory'
  readonly maxKeys: number
  /** Keys currently held. */
  readonly size: number
  take(
    policy: string,
    key: string,
    bucket: TokenBucket,
    now: number,
    cost: number,
    out?: TokenBucketDecision,
  ): TokenBucketDecision
  reset(policy: string, key: string): void
  stats(): StoreStats & { dropped: number }
  /** Forgets every key. */
  clear(): void
}

/** Entries at first; the arrays double from here up to maxKeys. */
const MIN_CAPACITY = 1024
const MAX_NAMESPACES = 0xffff
/** Fingerprint of an entry whose key was reset and which waits on the free list (real ones are ≥ 0). */
const REMOVED = -2
/** End of a chain or of the free list. */
const NONE = -1
/** Live entries the eviction hand looks at before choosing the one closest to full. */
const EVICTION_WINDOW = 32
/** 2^21: the fingerprint is hash1 × 2^21 + 21 bits of hash2, exact in a double. */
const LOW_BITS = 2_097_152
const TWO_32 = 4_294_967_296
const INV_LOW_BITS = 1 / LOW_BITS

/** murmur3's finaliser: every input bit affects every output bit. */
function fmix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

function randomSeed(): number {
  const c = (globalThis as { crypto?: { getRandomValues(a: Uint32Array): Uint32Array } }).crypto
  return c ? (c.getRandomValues(new Uint32Array(1))[0] as number) : (Math.random() * TWO_32) >>> 0
}

/**
 * Creates a bounded in-memory store (the default store of `createRateLimiter`).
 *
 * @example
 * const limiter = createRateLimiter({
 *   policies: { '*': { limit: 600, window: '1m' } },
 *   store: memoryStore({ maxKeys: 1_000_000 }),
 * })
 */
export function memoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  checkObject(options, 'options', 'memoryStore')
  checkKnownKeys(options, ['maxKeys'], 'memoryStore')
  const maxKeys =
    options.maxKeys === undefined
      ? 1_000_000
      : checkNumber(options.maxKeys, 'maxKeys', { min: 1, max: 2 ** 30, integer: true, where: 'memoryStore' })

  const seedA = randomSeed()
  const seedB = randomSeed()
  /** Entries the arrays hold now (doubling up to maxKeys). */
  let capacity = Math.min(maxKeys, MIN_CAPACITY)
  /** slots[2e] = fingerprint (REMOVED on the free list), slots[2e + 1] = theoretical arrival time. */
  let slots = new Float64Array(capacity * 2)
  /** The next entry in the same index bucket, or on the free list. */
  let links = new Int32Array(capacity)
  /** Per index bucket, its first entry (NONE when empty); a power of two ≥ capacity. */
  let heads = new Int32Array(indexSizeFor(capacity)).fill(NONE)
  let mask = heads.length - 1
  /** Entries ever handed out (the high-water mark); those below it are live or on the free list. */
  let used = 0
  /** Reset entries waiting for a new key. */
  let freeList = NONE
  let size = 0
  let hand = 0
  let evictions = 0
  let dropped = 0

  const namespaces = new Map<string, number>()
  let lastName: string | undefined
  let lastNs = 0

  function namespace(policy: string): number {
    if (policy === lastName) return lastNs
    let ns = namespaces.get(policy)
    if (ns === undefined) {
      // A policy name is configuration, so this bound is never reached in practice.
      ns = Math.min(namespaces.size, MAX_NAMESPACES)
      namespaces.set(policy, ns)
    }
    lastName = policy
    lastNs = ns
    return ns
  }

  /**
   * The fingerprint of (namespace, key): 32 bits of a multiplicative hash
   * over pairs of UTF-16 units (which also picks the index bucket) and 21
   * bits of a rotate-and-add checksum of the same pairs, both seeded per
   * store and finished with murmur3's mixer. One multiply per two characters.
   */
  function fingerprint(ns: number, key: string): number {
    let a = seedA ^ Math.imul(ns + 1, 0x9e3779b1)
    let b = seedB ^ ns
    const n = key.length
    let i = 0
    for (; i + 1 < n; i += 2) {
      const w = key.charCodeAt(i) | (key.charCodeAt(i + 1) << 16)
      a = Math.imul(a ^ w, 0x01000193)
      b = (b + w) | 0
      b = (b << 7) | (b >>> 25)
    }
    if (i < n) {
      const w = key.charCodeAt(i)
      a = Math.imul(a ^ w, 0x01000193)
      b = (b + w) | 0
    }
    return fmix(a ^ n) * LOW_BITS + (fmix(b ^ Math.imul(n, 0x85ebca77)) & (LOW_BITS - 1))
  }

  /** The index bucket of a fingerprint: the low bits of hash1. */
  function bucketOf(fp: number): number {
    return (Math.floor(fp * INV_LOW_BITS) | 0) & mask
  }

  /** The entry holding `fp`, or NONE. */
  function find(fp: number): number {
    let e = heads[bucketOf(fp)] as number
    while (e !== NONE && slots[2 * e] !== fp) e = links[e] as number
    return e
  }

  /** Takes entry `e` out of its bucket's chain. */
  function unlink(e: number): void {
    const bucket = bucketOf(slots[2 * e] as number)
    let at = heads[bucket] as number
    if (at === e) {
      heads[bucket] = links[e] as number
      return
    }
    while (at !== NONE) {
      const next = links[at] as number
      if (next === e) {
        links[at] = links[e] as number
        return
      }
      at = next
    }
  }

  /** Doubles the entry arrays (up to maxKeys) and rebuilds the index over them. */
  function grow(): void {
    const nextCapacity = Math.min(maxKeys, capacity * 2)
    const nextSlots = new Float64Array(nextCapacity * 2)
    nextSlots.set(slots)
    const nextLinks = new Int32Array(nextCapacity)
    nextLinks.set(links)
    slots = nextSlots
    links = nextLinks
    capacity = nextCapacity
    heads = new Int32Array(indexSizeFor(capacity)).fill(NONE)
    mask = heads.length - 1
    let free = NONE
    for (let e = used - 1; e >= 0; e--) {
      const fp = slots[2 * e] as number
      if (fp === REMOVED) {
        links[e] = free
        free = e
        continue
      }
      const bucket = bucketOf(fp)
      links[e] = heads[bucket] as number
      heads[bucket] = e
    }
    freeList = free
  }

  /**
   * An entry for a new key when the store holds maxKeys keys: the clock hand
   * sweeps the entries in order; within the next EVICTION_WINDOW, the first
   * bucket that has refilled by `now` is dropped, else the one closest to
   * full (the earliest arrival time) is evicted. The entry comes unlinked.
   */
  function victim(now: number): number {
    let best = NONE
    let bestTat = Number.POSITIVE_INFINITY
    for (let seen = 0; seen < EVICTION_WINDOW; seen++) {
      const e = hand
      hand = hand + 1 === used ? 0 : hand + 1
      const tat = slots[2 * e + 1] as number
      if (tat <= now) {
        dropped++
        unlink(e)
        return e
      }
      if (tat < bestTat) {
        bestTat = tat
        best = e
      }
    }
    evictions++
    unlink(best)
    return best
  }

  /** An entry for a new key: a reset one, a new one (growing if needed), or a victim's. */
  function allocate(now: number): number {
    if (freeList !== NONE) {
      const e = freeList
      freeList = links[e] as number
      size++
      return e
    }
    if (size < maxKeys) {
      if (used === capacity) grow()
      size++
      return used++
    }
    return victim(now)
  }

  function take(
    policy: string,
    key: string,
    bucket: TokenBucket,
    now: number,
    cost: number,
    out?: TokenBucketDecision,
  ): TokenBucketDecision {
    const fp = fingerprint(namespace(policy), key)
    const e = find(fp)
    if (e !== NONE) {
      const d = bucket.take(slots[2 * e + 1] as number, now, cost, out)
      slots[2 * e + 1] = d.state
      return d
    }
    const d = bucket.take(Number.NEGATIVE_INFINITY, now, cost, out)
    // A bucket still full after this call carries no information: keep nothing.
    if (!(d.state > now)) return d
    const fresh = allocate(now)
    slots[2 * fresh] = fp
    slots[2 * fresh + 1] = d.state
    const home = bucketOf(fp)
    links[fresh] = heads[home] as number
    heads[home] = fresh
    return d
  }

  function reset(policy: string, key: string): void {
    const e = find(fingerprint(namespace(policy), key))
    if (e === NONE) return
    unlink(e)
    slots[2 * e] = REMOVED
    links[e] = freeList
    freeList = e
    size--
  }

  function clear(): void {
    heads.fill(NONE)
    used = 0
    size = 0
    hand = 0
    freeList = NONE
  }

  return {
    name: 'memory',
    maxKeys,
    get size() {
      return size
    },
    take,
    reset,
    clear,
    stats: () => ({ keys: size, evictions, dropped }),
  }
}

/** Index buckets for `capacity` entries: the next power of two, so a bucket is picked with a mask. */
function indexSizeFor(capacity: number): number {
  let n = 1
  while (n < capacity) n *= 2
  return n
}
