/**
 * The in-process store: entries kept in the order they arrived, found
 * through a compact open-addressing index.
 *
 * - Each entry holds two numbers side by side in one Float64Array: a 53-bit
 *   fingerprint of (policy, key) and the key's GCRA "theoretical arrival
 *   time". Keys themselves are not kept — no string, no object and no timer
 *   per key, nothing for the garbage collector to trace.
 * - Entries sit in arrival order (the layout of V8's own Map): clients that
 *   arrive together are served from neighbouring memory.
 * - The index is an Int32Array probed linearly: each slot holds an entry
 *   number and, in its spare high bits, a tag of the fingerprint, so a probe
 *   that meets another key's slot almost never reads that entry; the probe
 *   steps to the neighbouring slot, in the same cache line. At 4 bytes a
 *   slot the index is a quarter of the size of a table of whole entries,
 *   so more of it stays in a core's cache; a decision costs one hash of the
 *   key, one index read and one entry.
 *
 * A list policy keeps each of its limits as an entry of its own (under the
 * limit's id), so a client of a three-limit policy holds three entries and
 * `maxKeys` counts (key, limit) pairs.
 *
 * The entry arrays start small and double, up to maxKeys entries and never
 * beyond; the store never holds more than maxKeys keys. Once it does, a new
 * key takes the entry of a victim chosen by a clock hand sweeping the entries
 * in order: within the next window of entries, a bucket that has refilled
 * carries no information and is "dropped" at once; otherwise the one closest
 * to full (losing the least) is "evicted" and counted. A removed key's index
 * slot is closed by shifting back the slots probed past it (no tombstones,
 * so lookups never slow down with churn) and its entry is reused by the next
 * new key.
 *
 * Fingerprints come from a hash seeded at random per store, so clients cannot
 * aim at each other's buckets or probe sequences; two distinct keys share a
 * bucket only if their 53-bit fingerprints are equal: for n keys, about
 * n² / 2^54 such pairs are expected (1 in 18,000 at a million keys), and such
 * a pair is merely limited together.
 */
import {
  checkKnownKeys,
  checkNumber,
  checkObject,
  type TokenBucket,
  type TokenBucketDecision,
} from '@cortex/core'
import type { LimitsMode, RateLimitStore, StoreLimit, StoreLimitsAnswer, StoreStats } from './store.js'

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
  reset(policy: string, key: string, limits?: readonly StoreLimit[]): void
  takeLimits(
    policy: string,
    key: string,
    limits: readonly StoreLimit[],
    now: number,
    costs: readonly number[],
    mode: LimitsMode,
  ): StoreLimitsAnswer
  chargeLimits(
    policy: string,
    key: string,
    limits: readonly StoreLimit[],
    now: number,
    costs: readonly number[],
  ): void
  stats(): StoreStats & { dropped: number }
  /** Forgets every key. */
  clear(): void
}

/** Entries at first; the arrays double from here up to maxKeys. */
const MIN_CAPACITY = 1024
const MAX_NAMESPACES = 0xffff
/** Fingerprint of an entry whose key was removed and which waits on the free list (real ones are ≥ 0). */
const REMOVED = -2
/** End of the free list. */
const NONE = -1
/** Live entries the eviction hand looks at before choosing the one closest to full. */
const EVICTION_WINDOW = 32
/** Most index slots in use, as a fraction: linear probing stays short below it. */
const MAX_LOAD = 0.8
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

/** Index slots for `entries` entries: a power of two at most MAX_LOAD full, so a slot is picked with a mask. */
function indexSizeFor(entries: number): number {
  let n = 1024
  while (n * MAX_LOAD < entries) n *= 2
  return n
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
  return new TableStore(maxKeys)
}

/**
 * The store's state lives in fields of one class, not in a closure. V8
 * compiles a closure's code for the first closure's own variables while it is
 * the only one; once a second store runs in the process (a fallback store, a
 * second limiter, a test), every store shares generic code, which the
 * 100k-keys benchmark shows as a clear loss (benchmarks/README.md). Fields of
 * one class read the same for every instance.
 */
class TableStore implements MemoryStore {
  readonly name = 'memory' as const
  readonly maxKeys: number
  private readonly seedA: number
  private readonly seedB: number
  /** An index slot holds (tag << entryBits) | (entry + 1); 0 is a free slot. */
  private readonly entryBits: number
  private readonly entryMask: number
  private readonly tagMask: number
  /** Entries the arrays hold now (doubling up to maxKeys). */
  private capacity: number
  /** entries[2e] = fingerprint (REMOVED on the free list), entries[2e + 1] = theoretical arrival time. */
  private entries: Float64Array
  private index: Int32Array
  private mask: number
  /** Entries ever handed out (the high-water mark); those below it are live or on the free list. */
  private used = 0
  /** Removed entries waiting for a new key, chained through their state field. */
  private freeList = NONE
  private count = 0
  private hand = 0
  private evictions = 0
  private dropped = 0
  /** The last fingerprint computed: [hash1, 21 bits of hash2] (a typed array, so no number is boxed). */
  private readonly hash = new Uint32Array(2)
  private readonly namespaces = new Map<string, number>()
  private lastName: string | undefined = undefined
  private lastNs = 0
  /** The entry of each limit found by `takeLimits` (-1 for none). */
  private readonly limitEntries = new Int32Array(16)
  /** The decision list policies' arithmetic fills (never handed out). */
  private readonly limitScratch: TokenBucketDecision = {
    allowed: false,
    remaining: 0,
    retryAfterMs: 0,
    resetAfterMs: 0,
    state: 0,
  }

  constructor(maxKeys: number) {
    this.maxKeys = maxKeys
    // As int32, so the fields hold small integers in every store (a seed
    // above 2^31 would change the fields' representation and deoptimise).
    this.seedA = randomSeed() | 0
    this.seedB = randomSeed() | 0
    let entryBits = 1
    while (2 ** entryBits <= maxKeys) entryBits++
    this.entryBits = entryBits
    this.entryMask = 2 ** entryBits - 1
    this.tagMask = 2 ** Math.min(21, 31 - entryBits) - 1
    this.capacity = Math.min(maxKeys, MIN_CAPACITY)
    this.entries = new Float64Array(this.capacity * 2)
    this.index = new Int32Array(indexSizeFor(this.capacity))
    this.mask = this.index.length - 1
  }

  /** Keys currently held. */
  get size(): number {
    return this.count
  }

  stats(): StoreStats & { dropped: number } {
    return { keys: this.count, evictions: this.evictions, dropped: this.dropped }
  }

  private namespace(policy: string): number {
    if (policy === this.lastName) return this.lastNs
    let ns = this.namespaces.get(policy)
    if (ns === undefined) {
      // A policy name is configuration, so this bound is never reached in practice.
      ns = Math.min(this.namespaces.size, MAX_NAMESPACES)
      this.namespaces.set(policy, ns)
    }
    this.lastName = policy
    this.lastNs = ns
    return ns
  }

  /**
   * Fingerprints (namespace, key) into `hash`: 32 bits of a multiplicative
   * hash over the UTF-16 units (which also picks the home slot) and 21
   * bits of a rotate-and-add checksum of the same units (which also gives the
   * tag), both seeded per store and finished with murmur3's mixer. One
   * multiply per character.
   */
  private fingerprint(ns: number, key: string): void {
    let a = this.seedA ^ Math.imul(ns + 1, 0x9e3779b1)
    let b = this.seedB ^ ns
    const n = key.length
    for (let i = 0; i < n; i++) {
      const c = key.charCodeAt(i)
      a = Math.imul(a ^ c, 0x01000193)
      b = (b + c) | 0
      b = (b << 7) | (b >>> 25)
    }
    this.hash[0] = fmix(a ^ n)
    this.hash[1] = fmix(b ^ Math.imul(n, 0x85ebca77)) & (LOW_BITS - 1)
  }

  /** The home index slot of a stored fingerprint: the low bits of hash1. */
  private homeOf(fp: number): number {
    return (Math.floor(fp * INV_LOW_BITS) | 0) & this.mask
  }

  /** The index slot of the fingerprint in `hash`, or, when absent, the free slot that ends its probe (as -1 - slot). */
  private find(): number {
    const { hash, index, entries, entryBits, entryMask, mask } = this
    const h1 = hash[0] as number
    const fp = h1 * LOW_BITS + (hash[1] as number)
    const tag = (hash[1] as number) & this.tagMask
    let s = h1 & mask
    for (;;) {
      const v = index[s] as number
      if (v === 0) return -1 - s
      if (v >>> entryBits === tag && entries[2 * ((v & entryMask) - 1)] === fp) return s
      s = (s + 1) & mask
    }
  }

  /** The index slot that points at entry `e` (which is live). */
  private slotOf(e: number): number {
    let s = this.homeOf(this.entries[2 * e] as number)
    while (((this.index[s] as number) & this.entryMask) !== e + 1) s = (s + 1) & this.mask
    return s
  }

  /** Empties index slot `s`, shifting back the slots probed past it so that none becomes unreachable. */
  private unindex(s: number): void {
    const { index, entries, entryMask, mask } = this
    let hole = s
    let j = s
    for (;;) {
      j = (j + 1) & mask
      const v = index[j] as number
      if (v === 0) break
      const home = this.homeOf(entries[2 * ((v & entryMask) - 1)] as number)
      // The slot at j may fill the hole only if its home is not cyclically within (hole, j].
      if (hole <= j ? hole < home && home <= j : hole < home || home <= j) continue
      index[hole] = v
      hole = j
    }
    index[hole] = 0
  }

  /** Puts entry `e` (its fingerprint already stored) into the index. */
  private place(e: number): void {
    const fp = this.entries[2 * e] as number
    let s = this.homeOf(fp)
    while (this.index[s] !== 0) s = (s + 1) & this.mask
    this.index[s] = (((fp % LOW_BITS) & this.tagMask) << this.entryBits) | (e + 1)
  }

  /** Takes live entry `e` out of the index and onto the free list. */
  private release(e: number): void {
    this.unindex(this.slotOf(e))
    this.entries[2 * e] = REMOVED
    this.entries[2 * e + 1] = this.freeList
    this.freeList = e
    this.count--
  }

  /** Doubles the entry arrays (up to maxKeys) and rebuilds the index over them. */
  private grow(): void {
    const capacity = Math.min(this.maxKeys, this.capacity * 2)
    const entries = new Float64Array(capacity * 2)
    entries.set(this.entries)
    this.entries = entries
    this.capacity = capacity
    this.index = new Int32Array(indexSizeFor(capacity))
    this.mask = this.index.length - 1
    for (let e = 0; e < this.used; e++) if ((entries[2 * e] as number) !== REMOVED) this.place(e)
  }

  /**
   * Frees an entry when the store holds maxKeys keys: the clock hand sweeps
   * the entries in order; within the next EVICTION_WINDOW, the first bucket
   * that has refilled by `now` is dropped, else the one closest to full (the
   * earliest arrival time) is evicted.
   */
  private makeRoom(now: number): void {
    const entries = this.entries
    let best = NONE
    let bestTat = Number.POSITIVE_INFINITY
    for (let seen = 0; seen < EVICTION_WINDOW; ) {
      const e = this.hand
      this.hand = e + 1 === this.used ? 0 : e + 1
      if ((entries[2 * e] as number) === REMOVED) continue
      seen++
      const tat = entries[2 * e + 1] as number
      if (tat <= now) {
        this.dropped++
        this.release(e)
        return
      }
      if (tat < bestTat) {
        bestTat = tat
        best = e
      }
    }
    this.evictions++
    this.release(best)
  }

  /** A key not in the store (its fingerprint in `hash`): decide for a full bucket and keep the state if it carries information. */
  private insert(
    bucket: TokenBucket,
    now: number,
    cost: number,
    out?: TokenBucketDecision,
  ): TokenBucketDecision {
    const d = bucket.take(Number.NEGATIVE_INFINITY, now, cost, out)
    this.insertState(d.state, now)
    return d
  }

  /** Stores `state` for the fingerprint in `hash` (absent from the store), unless the bucket is full at `now`. */
  private insertState(state: number, now: number): void {
    // A bucket still full carries no information: keep nothing.
    if (!(state > now)) return
    if (this.freeList === NONE) {
      if (this.count < this.maxKeys) {
        if (this.used === this.capacity) this.grow()
      } else this.makeRoom(now)
    }
    let e: number
    if (this.freeList !== NONE) {
      e = this.freeList
      this.freeList = this.entries[2 * e + 1] as number
    } else e = this.used++
    this.entries[2 * e] = (this.hash[0] as number) * LOW_BITS + (this.hash[1] as number)
    this.entries[2 * e + 1] = state
    this.place(e)
    this.count++
  }

  take(
    policy: string,
    key: string,
    bucket: TokenBucket,
    now: number,
    cost: number,
    out?: TokenBucketDecision,
  ): TokenBucketDecision {
    this.fingerprint(this.namespace(policy), key)
    const s = this.find()
    if (s < 0) return this.insert(bucket, now, cost, out)
    const e = ((this.index[s] as number) & this.entryMask) - 1
    const entries = this.entries
    const d = bucket.take(entries[2 * e + 1] as number, now, cost, out)
    entries[2 * e + 1] = d.state
    return d
  }

  /** The entry holding (`id`, `key`), or -1: the fingerprint stays in `hash` for an `insert`. */
  private entryOf(id: string, key: string): number {
    this.fingerprint(this.namespace(id), key)
    const s = this.find()
    return s < 0 ? -1 : ((this.index[s] as number) & this.entryMask) - 1
  }

  /**
   * Each limit keeps its own entry under its id (so memory per key and limit
   * is one entry, as for a single-rate policy). Reads every state, decides
   * with `@cortex/core`'s arithmetic, and writes the new states only when
   * every limit admits (`take`).
   */
  takeLimits(
    _policy: string,
    key: string,
    limits: readonly StoreLimit[],
    now: number,
    costs: readonly number[],
    mode: LimitsMode,
  ): StoreLimitsAnswer {
    const n = limits.length
    const states: number[] = new Array(n)
    const found = this.limitEntries
    const scratch = this.limitScratch
    let allowed = true
    for (let i = 0; i < n; i++) {
      const e = this.entryOf((limits[i] as StoreLimit).id, key)
      found[i] = e
      const state = e < 0 ? Number.NEGATIVE_INFINITY : (this.entries[2 * e + 1] as number)
      states[i] = state
      if (allowed && !(limits[i] as StoreLimit).bucket.take(state, now, costs[i] as number, scratch).allowed)
        allowed = false
    }
    if (allowed && mode === 'take') {
      // Entries held are written in place first; new ones are inserted after, since an insertion may
      // evict (and so free) an entry of this very key.
      for (let i = 0; i < n; i++) {
        const e = found[i] as number
        const cost = costs[i] as number
        if (e < 0 || cost === 0) continue
        const bucket = (limits[i] as StoreLimit).bucket
        this.entries[2 * e + 1] = bucket.take(states[i] as number, now, cost, scratch).state
      }
      for (let i = 0; i < n; i++) {
        const cost = costs[i] as number
        if ((found[i] as number) >= 0 || cost === 0) continue
        const limit = limits[i] as StoreLimit
        if (this.entryOf(limit.id, key) < 0) this.insert(limit.bucket, now, cost, scratch)
      }
    }
    return { allowed, states, now }
  }

  chargeLimits(
    _policy: string,
    key: string,
    limits: readonly StoreLimit[],
    now: number,
    costs: readonly number[],
  ): void {
    for (let i = 0; i < limits.length; i++) {
      const cost = costs[i] as number
      if (cost === 0 || !Number.isFinite(cost)) continue
      const limit = limits[i] as StoreLimit
      const e = this.entryOf(limit.id, key)
      if (e >= 0) {
        this.entries[2 * e + 1] = limit.bucket.charge(this.entries[2 * e + 1] as number, now, cost)
      } else if (cost > 0) {
        this.insertState(limit.bucket.charge(Number.NEGATIVE_INFINITY, now, cost), now)
      }
    }
  }

  reset(policy: string, key: string, limits?: readonly StoreLimit[]): void {
    if (limits !== undefined) {
      for (const limit of limits) {
        const e = this.entryOf(limit.id, key)
        if (e >= 0) this.release(e)
      }
      return
    }
    this.fingerprint(this.namespace(policy), key)
    const s = this.find()
    if (s >= 0) this.release(((this.index[s] as number) & this.entryMask) - 1)
  }

  /** Forgets every key. */
  clear(): void {
    this.index.fill(0)
    this.used = 0
    this.count = 0
    this.hand = 0
    this.freeList = NONE
  }
}
