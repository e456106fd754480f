/**
 * The in-process store: one float per key (the GCRA "theoretical arrival
 * time") in a Float64Array slab, a Map from key to slot per policy, and an
 * intrusive least-recently-used list in one Int32Array (a slot's previous and
 * next links side by side, so a hit touches one cache line for them). No object and no
 * timer per key; the slab grows by doubling up to `maxKeys` and never beyond.
 *
 * When a new key needs a slot and the store is full, a key whose bucket has
 * refilled (it carries no information: forgetting it changes no decision) is
 * dropped first — the least recently used keys are checked — and only then
 * is the least recently used key evicted and counted.
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

const NONE = -1
/** How many least-recently-used keys are examined for a refilled bucket before evicting. */
const RECLAIM_SCAN = 16
const MIN_CAPACITY = 1024
const MAX_NAMESPACES = 0xffff

interface Namespace {
  readonly index: number
  readonly map: Map<string, number>
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

  let capacity = Math.min(maxKeys, MIN_CAPACITY)
  let tats = new Float64Array(capacity)
  /** links[2s] = previous (more recent) slot, links[2s + 1] = next (less recent) slot. */
  let links = new Int32Array(capacity * 2)
  let owner = new Uint16Array(capacity)
  let keys: (string | undefined)[] = new Array(capacity)
  /** Slots never used yet start at `used`; freed slots form a list through `next`. */
  let used = 0
  let freeHead = NONE
  let head = NONE // most recently used
  let tail = NONE // least recently used
  let size = 0
  let evictions = 0
  let dropped = 0

  const namespaces = new Map<string, Namespace>()
  const byIndex: Namespace[] = []
  let lastName: string | undefined
  let lastNs: Namespace | undefined

  function namespace(policy: string): Namespace {
    if (policy === lastName) return lastNs as Namespace
    let ns = namespaces.get(policy)
    if (ns === undefined) {
      // A policy name is configuration, so this bound is never reached in practice.
      const index = byIndex.length < MAX_NAMESPACES ? byIndex.length : MAX_NAMESPACES - 1
      ns = byIndex[index] ?? { index, map: new Map() }
      byIndex[index] = ns
      namespaces.set(policy, ns)
    }
    lastName = policy
    lastNs = ns
    return ns
  }

  function unlink(slot: number): void {
    const p = links[2 * slot] as number
    const n = links[2 * slot + 1] as number
    if (p === NONE) head = n
    else links[2 * p + 1] = n
    if (n === NONE) tail = p
    else links[2 * n] = p
  }

  function linkHead(slot: number): void {
    links[2 * slot] = NONE
    links[2 * slot + 1] = head
    if (head !== NONE) links[2 * head] = slot
    head = slot
    if (tail === NONE) tail = slot
  }

  function free(slot: number): void {
    unlink(slot)
    const k = keys[slot] as string
    ;(byIndex[owner[slot] as number] as Namespace).map.delete(k)
    keys[slot] = undefined
    links[2 * slot + 1] = freeHead
    freeHead = slot
    size--
  }

  function grow(): void {
    const nextCapacity = Math.min(maxKeys, capacity * 2)
    const t = new Float64Array(nextCapacity)
    t.set(tats)
    tats = t
    const l = new Int32Array(nextCapacity * 2)
    l.set(links)
    links = l
    const o = new Uint16Array(nextCapacity)
    o.set(owner)
    owner = o
    keys.length = nextCapacity
    capacity = nextCapacity
  }

  /** A slot for a new key, dropping refilled buckets first and evicting the LRU key last. */
  function allocate(now: number): number {
    if (freeHead !== NONE) {
      const slot = freeHead
      freeHead = links[2 * slot + 1] as number
      return slot
    }
    if (used < capacity) return used++
    if (capacity < maxKeys) {
      grow()
      return used++
    }
    let slot = tail
    for (let i = 0; i < RECLAIM_SCAN && slot !== NONE; i++) {
      if ((tats[slot] as number) <= now) {
        free(slot)
        dropped++
        return allocate(now)
      }
      slot = links[2 * slot] as number
    }
    evictions++
    free(tail)
    return allocate(now)
  }

  function take(
    policy: string,
    key: string,
    bucket: TokenBucket,
    now: number,
    cost: number,
    out?: TokenBucketDecision,
  ): TokenBucketDecision {
    const ns = namespace(policy)
    const slot = ns.map.get(key)
    if (slot !== undefined) {
      const d = bucket.take(tats[slot] as number, now, cost, out)
      tats[slot] = d.state
      if (slot !== head) {
        unlink(slot)
        linkHead(slot)
      }
      return d
    }
    const d = bucket.take(Number.NEGATIVE_INFINITY, now, cost, out)
    // A bucket still full after this call carries no information: keep nothing.
    if (!(d.state > now)) return d
    const fresh = allocate(now)
    tats[fresh] = d.state
    keys[fresh] = key
    owner[fresh] = ns.index
    ns.map.set(key, fresh)
    linkHead(fresh)
    size++
    return d
  }

  function reset(policy: string, key: string): void {
    const slot = namespace(policy).map.get(key)
    if (slot !== undefined) free(slot)
  }

  function clear(): void {
    for (const ns of byIndex) ns.map.clear()
    keys = new Array(capacity)
    used = 0
    freeHead = NONE
    head = NONE
    tail = NONE
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
