/**
 * A mergeable quantile sketch for latencies (DDSketch-style): a fixed array
 * of logarithmic buckets whose width gives every quantile estimate a bounded
 * *relative* error, whatever the spread of the data. It is what an HTTP
 * server records every request duration into, and what the SLO package reads
 * p50/p95/p99 and Prometheus histogram buckets from.
 *
 * Bucket `i` holds the values in (γ^(i-1), γ^i], with γ = (1+α)/(1-α); its
 * representative (1-α)·γ^i = 2γ^i/(γ+1) is within α of every value in it.
 * The array is sized once from [minValue, maxValue] and α, so memory never
 * grows, and `record` allocates nothing.
 *
 * `record` does not call `Math.log`: a table indexed by the value's exponent
 * and top mantissa bits gives the slot of the first value with those bits,
 * and the one bucket boundary that can fall inside that narrow range is
 * stored next to it. Both are computed from the log formula itself (the
 * boundary by bisection over doubles), so the slot is exactly the one the
 * formula gives, at a fraction of its cost. Sketches with the same options
 * share one table (≈ 60 KB for the defaults).
 */
import { CortexConfigError } from './errors.js'
import { checkKnownKeys, checkNumber, checkObject } from './validate.js'

export interface QuantileSketchOptions {
  /**
   * α in (0, 1): every quantile estimate is within α × (true value) of the
   * recorded value of that rank. Default 0.01 (1 %).
   */
  relativeAccuracy?: number
  /**
   * Smallest value tracked with the α guarantee, > 0. Smaller values (and 0)
   * share one "zero" bucket whose estimate is the smallest value recorded.
   * Default 1e-3 (1 µs when values are milliseconds).
   */
  minValue?: number
  /**
   * Largest value tracked with the α guarantee, > minValue. Larger values
   * share one overflow bucket whose estimate is the largest value recorded;
   * `min`, `max` and `sum` still see them exactly. Default 1e9 (≈ 11.6 days in ms).
   */
  maxValue?: number
}

const WHERE = 'QuantileSketch options'

/** Reads a double's high 32 bits (sign, exponent, top 20 mantissa bits) without allocating. */
const bitsView = new Float64Array(1)
const wordsView = new Uint32Array(bitsView.buffer)
bitsView[0] = 1
/** Index of the high word: 1 on little-endian machines. */
const HIGH_WORD = wordsView[0] === 0x3ff00000 ? 0 : 1
/** Largest slot table built (entries); wider ranges or finer α fall back to `Math.log`. */
const MAX_TABLE_ENTRIES = 1 << 16
/** Mantissa bits the table may use (the high word holds 20). */
const MAX_TABLE_BITS = 16

/** The lookup `record` uses instead of the log formula (see the module comment). */
interface SlotTable {
  /** Right shift applied to the high word: what is left is exponent and top mantissa bits. */
  readonly shift: number
  /** Key of the first entry; smaller keys are in the zero slot. */
  readonly firstKey: number
  /** Slot of the smallest value of each key. */
  readonly slots: Int32Array
  /** The largest value of each key still in `slots[key]`; larger ones are in the next slot. +∞ when the key's range is one slot. */
  readonly splits: Float64Array
}

/** Tables by options, shared by every sketch with those options (a few per process in practice). */
const slotTables = new Map<string, SlotTable | null>()
const MAX_CACHED_TABLES = 32

function highWord(value: number): number {
  bitsView[0] = value
  return wordsView[HIGH_WORD]!
}

/** The next double above a positive finite `value`. */
function nextUp(value: number): number {
  bitsView[0] = value
  const low = wordsView[1 - HIGH_WORD]!
  if (low === 0xffffffff) {
    wordsView[1 - HIGH_WORD] = 0
    wordsView[HIGH_WORD]! += 1
  } else wordsView[1 - HIGH_WORD] = low + 1
  return bitsView[0]!
}

/** The next double below a positive `value`. */
function nextDown(value: number): number {
  bitsView[0] = value
  const low = wordsView[1 - HIGH_WORD]!
  if (low === 0) {
    wordsView[1 - HIGH_WORD] = 0xffffffff
    wordsView[HIGH_WORD]! -= 1
  } else wordsView[1 - HIGH_WORD] = low - 1
  return bitsView[0]!
}

/** The double whose high word is `high` and low word 0. */
function fromHighWord(high: number): number {
  wordsView[HIGH_WORD] = high
  wordsView[1 - HIGH_WORD] = 0
  return bitsView[0]!
}
const KNOWN_OPTIONS = ['relativeAccuracy', 'minValue', 'maxValue'] as const

/**
 * The most buckets one sketch may allocate (8 bytes each). The defaults need
 * about 1,400; this only rejects settings such as α = 1e-9 that would
 * otherwise try to allocate gigabytes.
 */
export const MAX_SKETCH_BUCKETS = 1_000_000

/**
 * A fixed-memory, mergeable histogram of non-negative values with relative
 * accuracy α.
 *
 * Guarantees, for values in [minValue, maxValue]:
 * - `quantile(q)` is within α × v of v, the recorded value of rank
 *   ⌊q·(count-1)⌋ (0-based, in ascending order);
 * - `countAtOrBelow(t)` counts every value ≤ t/(1+α), and no value > t/(1-α).
 *
 * `count`, `invalid`, `min` and `max` are exact; `sum` is the floating-point sum.
 *
 * @example
 * const sketch = new QuantileSketch({ relativeAccuracy: 0.01 })
 * sketch.record(12.5) // on every request: no allocation, never throws
 * sketch.quantile(0.99) // → p99 in ms, within 1 %
 * sketch.countAtOrBelow(300) // → requests that took ≤ 300 ms (± 1 % of 300)
 */
export class QuantileSketch {
  /** α, as given. */
  readonly relativeAccuracy: number
  readonly minValue: number
  readonly maxValue: number

  private readonly invLogGamma: number
  private readonly logGamma: number
  /** Bucket index of minValue and of maxValue: the tracked range. */
  private readonly minIndex: number
  private readonly maxIndex: number
  /** Slot of the overflow bucket; slot 0 is the zero bucket, slot k is index minIndex + k - 1. */
  private readonly overflowSlot: number
  /** Float64 rather than Uint32 so counts stay exact past 2^32 (up to 2^53) and merges never wrap. */
  private readonly counts: Float64Array
  /** The fast path of `slotOf`, or null when α or the range make the table too large. */
  private readonly table: SlotTable | null

  private recorded = 0
  private total = 0
  private smallest = Number.POSITIVE_INFINITY
  private largest = Number.NEGATIVE_INFINITY
  private rejected = 0

  constructor(options: QuantileSketchOptions = {}) {
    checkObject(options, 'options', WHERE)
    checkKnownKeys(options, KNOWN_OPTIONS, WHERE)
    const alpha = options.relativeAccuracy ?? 0.01
    if (!(typeof alpha === 'number' && alpha > 0 && alpha < 1)) {
      throw new CortexConfigError('relativeAccuracy', alpha, 'a number in (0, 1), e.g. 0.01 for 1 %', WHERE)
    }
    const minValue = checkNumber(options.minValue ?? 1e-3, 'minValue', {
      min: 0,
      exclusiveMin: true,
      where: WHERE,
    })
    const maxValue = checkNumber(options.maxValue ?? 1e9, 'maxValue', {
      min: 0,
      exclusiveMin: true,
      where: WHERE,
    })
    if (maxValue <= minValue) {
      throw new CortexConfigError('maxValue', maxValue, `a finite number > minValue (${minValue})`, WHERE)
    }

    // log1p keeps log γ precise when α is small (γ is then close to 1).
    const logGamma = Math.log1p((2 * alpha) / (1 - alpha))
    const invLogGamma = 1 / logGamma
    const minIndex = Math.ceil(Math.log(minValue) * invLogGamma)
    const maxIndex = Math.ceil(Math.log(maxValue) * invLogGamma)
    const buckets = maxIndex - minIndex + 3
    if (!(buckets <= MAX_SKETCH_BUCKETS)) {
      throw new CortexConfigError(
        'relativeAccuracy',
        alpha,
        `a value coarse enough for at most ${MAX_SKETCH_BUCKETS} buckets over [${minValue}, ${maxValue}] (this needs ${buckets}); raise it or narrow minValue/maxValue`,
        WHERE,
      )
    }

    this.relativeAccuracy = alpha
    this.minValue = minValue
    this.maxValue = maxValue
    this.logGamma = logGamma
    this.invLogGamma = invLogGamma
    this.minIndex = minIndex
    this.maxIndex = maxIndex
    this.overflowSlot = buckets - 1
    this.counts = new Float64Array(buckets)
    const cacheKey = `${alpha}/${minValue}/${maxValue}`
    let table = slotTables.get(cacheKey)
    if (table === undefined) {
      table = this.buildTable()
      if (slotTables.size < MAX_CACHED_TABLES) slotTables.set(cacheKey, table)
    }
    this.table = table
  }

  /** The slot the log formula gives: the definition `slotOf` must reproduce. */
  private formulaSlot(value: number): number {
    const index = Math.ceil(Math.log(value) * this.invLogGamma)
    if (index < this.minIndex) return 0
    if (index > this.maxIndex) return this.overflowSlot
    return index - this.minIndex + 1
  }

  /**
   * Allocates the lookup table: the mantissa bits are chosen so that each key
   * covers at most half a bucket, hence holds at most one boundary. Entries
   * are filled on first use (`fillKey`), so creating a sketch stays cheap.
   * Null when the table would be too large.
   */
  private buildTable(): SlotTable | null {
    const gammaMinusOne = (2 * this.relativeAccuracy) / (1 - this.relativeAccuracy)
    const bits = Math.ceil(Math.log2(2 / gammaMinusOne))
    if (!(bits >= 0 && bits <= MAX_TABLE_BITS)) return null
    const shift = 20 - bits
    // Two buckets of margin on each side: keys below are all in the zero slot, above all overflow.
    const gamma2 = (1 + gammaMinusOne) ** 2
    if (!Number.isFinite(this.maxValue * gamma2)) return null
    const firstKey = highWord(this.minValue / gamma2) >>> shift
    const lastKey = highWord(this.maxValue * gamma2) >>> shift
    const size = lastKey - firstKey + 1
    if (!(size > 0 && size <= MAX_TABLE_ENTRIES)) return null
    return { shift, firstKey, slots: new Int32Array(size).fill(-1), splits: new Float64Array(size) }
  }

  /** Computes entry `key` of the table from the log formula; returns its slot. */
  private fillKey(table: SlotTable, key: number): number {
    const high = (table.firstKey + key) << table.shift
    const low = fromHighWord(high)
    const next = fromHighWord(high + (1 << table.shift))
    // The largest double below `next`: `low`'s binade, so one ulp of it down.
    const last = next - (next - low) * 2 ** (-32 - table.shift)
    const lowSlot = this.formulaSlot(low)
    let split = Number.POSITIVE_INFINITY
    if (this.formulaSlot(last) !== lowSlot) {
      // One boundary inside (the key spans half a bucket at most). Start at the
      // bucket's upper bound γ^i and step one double at a time until the formula
      // agrees: the largest value still in lowSlot, next to the first one past it.
      split = Math.min(last, Math.max(low, Math.exp((lowSlot + this.minIndex - 1) * this.logGamma)))
      while (split > low && this.formulaSlot(split) !== lowSlot) split = nextDown(split)
      for (let b = nextUp(split); b <= last && this.formulaSlot(b) === lowSlot; b = nextUp(b)) split = b
    }
    table.splits[key] = split
    table.slots[key] = lowSlot
    return lowSlot
  }

  /**
   * Adds one value. NaN, negative and infinite values are not recorded: they
   * are counted in `invalid` instead (this is called on every request and
   * never throws). Allocation-free.
   *
   * Returns the slot the value was counted in (see `slotOf`), or -1 when it
   * was refused.
   */
  record(value: number): number {
    // Written as a negated comparison so NaN also fails it.
    if (!(value >= 0 && value < Number.POSITIVE_INFINITY)) {
      this.rejected++
      return -1
    }
    value = value + 0 // -0 → 0, so `min` never reports -0 and the bit lookup sees +0
    const slot = this.slotOf(value)
    this.counts[slot]!++
    this.recorded++
    this.total += value
    if (value < this.smallest) this.smallest = value
    if (value > this.largest) this.largest = value
    return slot
  }

  /**
   * The slot `record(value)` counts a valid value in: 0 for values below the
   * tracked range (and 0), `bucketCount - 1` above it, the bucket of index
   * ⌈log_γ(value)⌉ in between. Non-decreasing in `value`: callers that keep
   * their own per-slot data (a histogram bucket per slot) rely on that.
   * Only meaningful for values ≥ 0 and finite.
   */
  slotOf(value: number): number {
    const table = this.table
    if (table === null) return this.formulaSlot(value)
    bitsView[0] = value + 0 // -0 has the sign bit set
    const key = (wordsView[HIGH_WORD]! >>> table.shift) - table.firstKey
    if (key < 0) return 0
    if (key >= table.slots.length) return this.overflowSlot
    let slot = table.slots[key]!
    if (slot < 0) slot = this.fillKey(table, key)
    return value > table.splits[key]! ? slot + 1 : slot
  }

  /** Number of values recorded (invalid ones excluded). */
  get count(): number {
    return this.recorded
  }

  /** Floating-point sum of the values recorded (0 when empty). */
  get sum(): number {
    return this.total
  }

  /** Smallest value recorded, exact; NaN when empty. */
  get min(): number {
    return this.recorded === 0 ? Number.NaN : this.smallest
  }

  /** Largest value recorded, exact; NaN when empty. */
  get max(): number {
    return this.recorded === 0 ? Number.NaN : this.largest
  }

  /** Number of values refused by `record` (NaN, negative, infinite). */
  get invalid(): number {
    return this.rejected
  }

  /** Number of buckets, fixed when the sketch is created (memory is 8 bytes per bucket). */
  get bucketCount(): number {
    return this.counts.length
  }

  /**
   * The value at quantile `q`: an estimate of the recorded value of 0-based
   * rank ⌊q·(count-1)⌋ in ascending order (the "lower" convention: no
   * interpolation). Rank 0 and the last rank return `min` and `max`
   * exactly; any other rank returns its bucket's estimate, within α of the
   * true value when that lies in [minValue, maxValue], clamped to [min, max].
   * A rank whose value is below minValue is estimated as `min`, above
   * maxValue as `max`.
   *
   * q outside [0, 1] is clamped to it; NaN q or an empty sketch gives NaN.
   *
   * @example
   * const p95 = sketch.quantile(0.95)
   */
  quantile(q: number): number {
    if (this.recorded === 0 || Number.isNaN(q)) return Number.NaN
    const clampedQ = Math.min(1, Math.max(0, q))
    const rank = Math.floor(clampedQ * (this.recorded - 1))
    // The extreme ranks are known exactly; a bucket estimate would only blur them.
    if (rank === 0) return this.smallest
    if (rank === this.recorded - 1) return this.largest
    const counts = this.counts
    let seen = 0
    let slot = 0
    for (; slot < counts.length; slot++) {
      seen += counts[slot]!
      if (seen > rank) break
    }
    return this.clampToRange(this.estimateOfSlot(slot))
  }

  /**
   * Number of recorded values ≤ `threshold`, as the sketch sees them: it
   * counts the values whose bucket estimate, clamped to [min, max], is ≤
   * threshold (the zero bucket is estimated as `min`, the overflow bucket as
   * `max`). For values in [minValue, maxValue] that means every value
   * ≤ threshold/(1+α) is counted and no value > threshold/(1-α) is: only
   * values within about α of the threshold can land on the wrong side.
   * Exact at the ends: 0 below `min`, `count` from `max` up. Non-decreasing
   * in `threshold`; NaN threshold gives 0.
   *
   * When a threshold must be exact (an SLO objective), keep a plain counter
   * beside the sketch.
   *
   * @example
   * const fastEnough = sketch.countAtOrBelow(250) // requests served in ≤ 250 ms, ± 1 %
   */
  countAtOrBelow(threshold: number): number {
    if (this.recorded === 0 || !(threshold >= this.smallest)) return 0
    if (threshold >= this.largest) return this.recorded
    const last = this.lastSlotAtOrBelow(threshold)
    const counts = this.counts
    let n = 0
    for (let slot = 0; slot <= last; slot++) n += counts[slot]!
    return n
  }

  /**
   * For each upper bound (ms), `countAtOrBelow(bound)`: the cumulative counts
   * of a Prometheus histogram (`le` buckets; add `+Inf` = `count` yourself).
   * Same accuracy as `countAtOrBelow`: a bound is exact only to within α, so
   * keep exact counters for thresholds that must be exact. Fastest with
   * ascending bounds (one pass), correct in any order. Pass `out` to reuse
   * an array; it must hold at least `upperBounds.length` numbers.
   *
   * @example
   * const bounds = [5, 10, 25, 50, 100, 250, 500, 1000]
   * const cumulative = sketch.cumulativeCounts(bounds)
   * for (let i = 0; i < bounds.length; i++) {
   *   lines.push(`http_request_duration_ms_bucket{le="${bounds[i]}"} ${cumulative[i]}`)
   * }
   */
  cumulativeCounts(upperBounds: readonly number[], out?: Float64Array): Float64Array {
    const result = out ?? new Float64Array(upperBounds.length)
    if (result.length < upperBounds.length) {
      throw new CortexConfigError(
        'out',
        `a Float64Array of length ${result.length}`,
        `a Float64Array of length >= ${upperBounds.length} (one per upper bound)`,
        'QuantileSketch.cumulativeCounts',
      )
    }
    const counts = this.counts
    // Running prefix sum: slots [0, scanned) are already added into `running`.
    let scanned = 0
    let running = 0
    for (let i = 0; i < upperBounds.length; i++) {
      const bound = upperBounds[i]!
      if (this.recorded === 0 || !(bound >= this.smallest)) {
        result[i] = 0
        continue
      }
      if (bound >= this.largest) {
        result[i] = this.recorded
        continue
      }
      const last = this.lastSlotAtOrBelow(bound)
      if (last + 1 < scanned) {
        scanned = 0 // bounds not ascending: start the prefix over
        running = 0
      }
      for (; scanned <= last; scanned++) running += counts[scanned]!
      result[i] = running
    }
    return result
  }

  /**
   * Adds `other`'s values into this sketch, as if they had been recorded
   * here. Both must have the same relativeAccuracy, minValue and maxValue.
   *
   * @example
   * const all = perWorker.reduce((acc, s) => acc.merge(s), new QuantileSketch())
   */
  merge(other: QuantileSketch): this {
    const where = 'QuantileSketch.merge'
    if (other.relativeAccuracy !== this.relativeAccuracy) {
      throw new CortexConfigError(
        'relativeAccuracy',
        other.relativeAccuracy,
        `the same relativeAccuracy as this sketch (${this.relativeAccuracy})`,
        where,
      )
    }
    if (other.minValue !== this.minValue) {
      throw new CortexConfigError(
        'minValue',
        other.minValue,
        `the same minValue as this sketch (${this.minValue})`,
        where,
      )
    }
    if (other.maxValue !== this.maxValue) {
      throw new CortexConfigError(
        'maxValue',
        other.maxValue,
        `the same maxValue as this sketch (${this.maxValue})`,
        where,
      )
    }
    const mine = this.counts
    const theirs = other.counts
    for (let slot = 0; slot < mine.length; slot++) mine[slot]! += theirs[slot]!
    this.recorded += other.recorded
    this.total += other.total
    this.rejected += other.rejected
    if (other.smallest < this.smallest) this.smallest = other.smallest
    if (other.largest > this.largest) this.largest = other.largest
    return this
  }

  /**
   * Forgets every value (and the invalid count); keeps the buckets' memory.
   *
   * @example
   * const p99 = sketch.quantile(0.99); sketch.reset() // one p99 per reporting interval
   */
  reset(): void {
    this.counts.fill(0)
    this.recorded = 0
    this.total = 0
    this.smallest = Number.POSITIVE_INFINITY
    this.largest = Number.NEGATIVE_INFINITY
    this.rejected = 0
  }

  /**
   * An independent copy with the same options and contents.
   *
   * @example
   * const snapshot = sketch.clone(); sketch.reset()
   */
  clone(): QuantileSketch {
    const copy = new QuantileSketch({
      relativeAccuracy: this.relativeAccuracy,
      minValue: this.minValue,
      maxValue: this.maxValue,
    })
    copy.counts.set(this.counts)
    copy.recorded = this.recorded
    copy.total = this.total
    copy.smallest = this.smallest
    copy.largest = this.largest
    copy.rejected = this.rejected
    return copy
  }

  /** The unclamped estimate for the values of a slot. */
  private estimateOfSlot(slot: number): number {
    if (slot === 0) return 0
    if (slot >= this.overflowSlot) return this.largest
    return this.representative(slot + this.minIndex - 1)
  }

  /** (1-α)·γ^i = 2γ^i/(γ+1): within α of every value in (γ^(i-1), γ^i]. */
  private representative(index: number): number {
    return Math.exp(index * this.logGamma) * (1 - this.relativeAccuracy)
  }

  /**
   * The last slot whose estimate is ≤ threshold, for min ≤ threshold < max
   * (so the zero bucket is always in, the overflow bucket never).
   * Representatives increase with the index, so this is a prefix.
   */
  private lastSlotAtOrBelow(threshold: number): number {
    // Solve (1-α)·γ^i ≤ t for i, then step to absorb rounding in log/exp so the
    // answer agrees exactly with `representative`, which `quantile` reports.
    let index = Math.floor(Math.log(threshold / (1 - this.relativeAccuracy)) * this.invLogGamma)
    if (!(index >= this.minIndex - 1)) index = this.minIndex - 1
    if (index > this.maxIndex) index = this.maxIndex
    while (index < this.maxIndex && this.representative(index + 1) <= threshold) index++
    while (index >= this.minIndex && this.representative(index) > threshold) index--
    return index - this.minIndex + 1
  }

  private clampToRange(estimate: number): number {
    if (estimate < this.smallest) return this.smallest
    if (estimate > this.largest) return this.largest
    return estimate
  }
}
