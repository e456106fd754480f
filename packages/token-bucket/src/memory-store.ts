/**
 * The in-process store: a hash table of fixed-size sets in one Float64Array.
 * Each slot holds two numbers, side by side in one cache line: a 53-bit
 * fingerprint of (policy, key) and the key's GCRA "theoretical arrival time".
 * Keys themselves are not kept — no string, no object and no timer per key,
 * nothing for the garbage collector to trace — so a decision costs one hash
 * of the key and, almost always, a scan of one set of 8 slots.
 *
 * A key lives in the first set of its window (its home set and the next
 * PROBE_SETS - 1) that had room. The table starts small and doubles
 * (re-placing every slot from its fingerprint) when it is 3/4 full or a new
 * key's window is full, up to SLACK × maxKeys slots and never beyond; it
 * never holds more than maxKeys keys. Once it holds maxKeys keys (or its
 * window is full at the largest size), a new key replaces the slot of its
 * window whose bucket is closest to full: a bucket that has refilled carries
 * no information and is "dropped"; otherwise the one losing the least is
 * "evicted" and counted.
 *
 * Fingerprints come from a hash seeded at random per store, so clients cannot
 * aim at each other's slots; two distinct keys share a bucket only if their
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

/** Slots per set: 8 × 16 bytes, two cache lines. */
const WAYS = 8
const MIN_CAPACITY = 1024
const MAX_NAMESPACES = 0xffff
/** Fingerprint of a slot never used since the last growth or clear (real ones are ≥ 0). */
const EMPTY = -1
/** Fingerprint of a slot whose key was reset: free, but searches go on past it. */
const REMOVED = -2
/** Sets a key may occupy: its home set and the next ones, so a full set does not evict early. */
const PROBE_SETS = 32
/** Slots per key at the bound: half again as many slots keeps windows short when the store is full. */
const SLACK = 1.5
/** 2^21: the fingerprint is hash1 × 2^21 + 21 bits of hash2, exact in a double. */
const LOW_BITS = 2_097_152
const TWO_32 = 4_294_967_296
const INV_LOW_BITS = 1 / LOW_BITS
const INV_TWO_32 = 1 / TWO_32

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
  /** The table never grows beyond this many slots; it holds at most maxKeys keys. */
  const maxCapacity = Math.ceil((maxKeys * SLACK) / WAYS) * WAYS
  let capacity = Math.min(maxCapacity, MIN_CAPACITY)
  /** slots[2i] = fingerprint (EMPTY when free), slots[2i + 1] = theoretical arrival time. */
  let slots = new Float64Array(capacity * 2).fill(EMPTY)
  let size = 0
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
   * over pairs of UTF-16 units (which also picks the set) and 21 bits of a
   * rotate-and-add checksum of the same pairs, both seeded per store and
   * finished with murmur3's mixer. One multiply per two characters.
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

  /** The fingerprint's home set: the top bits of hash1, scaled to the number of sets. */
  function homeSet(fp: number, setCount: number): number {
    return Math.floor(Math.floor(fp * INV_LOW_BITS) * INV_TWO_32 * setCount)
  }

  /**
   * Where a fingerprint is, or may go, in `table` (of `cap` slots): its window
   * is its home set and the next PROBE_SETS - 1 (wrapping around). A key
   * always sits in the first set of its window that had room when it came,
   * and slots are never emptied (only re-used or marked REMOVED), so a search
   * stops at the first EMPTY slot.
   *
   * Sets `found` (the key's slot or -1), `free` (the first EMPTY or REMOVED
   * slot of the window, or -1) and `victim` (the slot whose bucket is closest
   * to full, for eviction).
   */
  function search(table: Float64Array, cap: number, fp: number): void {
    const setCount = Math.ceil(cap / WAYS)
    let set = homeSet(fp, setCount)
    found = -1
    free = -1
    victim = -1
    let victimTat = Number.POSITIVE_INFINITY
    for (let probe = 0; probe < PROBE_SETS && probe < setCount; probe++) {
      const first = set * WAYS
      const end = Math.min(first + WAYS, cap)
      for (let i = first; i < end; i++) {
        const f = table[2 * i] as number
        if (f === fp) {
          found = i
          return
        }
        if (f < 0) {
          if (free === -1) free = i
          if (f === EMPTY) return
        } else {
          const t = table[2 * i + 1] as number
          if (t < victimTat) {
            victimTat = t
            victim = i
          }
        }
      }
      set = set + 1 === setCount ? 0 : set + 1
    }
  }
  let found = -1
  let free = -1
  let victim = -1

  /** Puts (fp, tat) in a free slot of its window, or replaces the victim when `evict`; false when full. */
  function place(
    table: Float64Array,
    cap: number,
    fp: number,
    tat: number,
    now: number,
    evict: boolean,
  ): boolean {
    search(table, cap, fp)
    let slot = free
    if (slot !== -1) size++
    else {
      if (!evict || victim === -1) return false
      slot = victim
      if ((table[2 * slot + 1] as number) <= now) dropped++
      else evictions++
    }
    table[2 * slot] = fp
    table[2 * slot + 1] = tat
    return true
  }

  /** Doubles the table (up to maxCapacity slots), re-placing every key from its fingerprint and forgetting REMOVED marks. */
  function grow(now: number): void {
    const nextCapacity = Math.min(maxCapacity, capacity * 2)
    const next = new Float64Array(nextCapacity * 2).fill(EMPTY)
    const old = slots
    size = 0
    for (let i = 0; i < capacity; i++) {
      const fp = old[2 * i] as number
      if (fp >= 0) place(next, nextCapacity, fp, old[2 * i + 1] as number, now, true)
    }
    slots = next
    capacity = nextCapacity
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
    const table = slots
    // The common case inline: the key in its home set, or an EMPTY slot there (so it is nowhere).
    const first = homeSet(fp, Math.ceil(capacity / WAYS)) * WAYS
    const end = Math.min(first + WAYS, capacity)
    let slot = -1
    let empty = -1
    for (let i = first; i < end; i++) {
      const f = table[2 * i] as number
      if (f === fp) {
        slot = i
        break
      }
      if (f === EMPTY) {
        empty = i
        break
      }
    }
    if (slot === -1 && empty === -1) {
      search(table, capacity, fp)
      slot = found
    }
    if (slot !== -1) {
      const d = bucket.take(table[2 * slot + 1] as number, now, cost, out)
      table[2 * slot + 1] = d.state
      return d
    }
    const d = bucket.take(Number.NEGATIVE_INFINITY, now, cost, out)
    // A bucket still full after this call carries no information: keep nothing.
    if (!(d.state > now)) return d
    if (size >= maxKeys) {
      // At the bound: the new key replaces the bucket closest to full in its window.
      if (empty !== -1) search(table, capacity, fp)
      evictFor(fp, d.state, now)
      return d
    }
    const growing = capacity < maxCapacity
    if (empty !== -1 && !(growing && size >= capacity * 0.75)) {
      table[2 * empty] = fp
      table[2 * empty + 1] = d.state
      size++
      return d
    }
    // Grow while below the largest table and it is 3/4 full or the key's window has no room.
    if (growing && (size >= capacity * 0.75 || free === -1)) grow(now)
    while (!place(slots, capacity, fp, d.state, now, capacity >= maxCapacity)) grow(now)
    return d
  }

  /** Puts a new key in place of the window's victim (after `search`), keeping the store at maxKeys keys. */
  function evictFor(fp: number, tat: number, now: number): void {
    let slot = victim
    // A window with no key at all cannot happen at 80 % load; still, find one to keep the bound.
    for (let i = 0; slot === -1 && i < capacity; i++) if ((slots[2 * i] as number) >= 0) slot = i
    if ((slots[2 * slot + 1] as number) <= now) dropped++
    else evictions++
    slots[2 * slot] = fp
    slots[2 * slot + 1] = tat
  }

  function reset(policy: string, key: string): void {
    search(slots, capacity, fingerprint(namespace(policy), key))
    if (found === -1) return
    slots[2 * found] = REMOVED
    size--
  }

  function clear(): void {
    slots.fill(EMPTY)
    size = 0
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
