import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { CortexConfigError, isCortexError } from './errors.js'
import { MAX_SKETCH_BUCKETS, QuantileSketch } from './quantile-sketch.js'

// Rounding in log/exp can put a value that sits (to ~1e-15) on a bucket edge
// into the neighbouring bucket; this slack absorbs that and nothing more.
const ROUNDING = 1e-12

const QS = [0, 0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1]

/** Options with α from very fine to very coarse and a tracked range of varying width. */
const sketchOptions = fc
  .record({
    relativeAccuracy: fc.oneof(
      fc.constantFrom(0.001, 0.01, 0.05),
      fc.double({ min: 0.0005, max: 0.5, noNaN: true }),
    ),
    lowExp: fc.integer({ min: -6, max: 2 }),
    decades: fc.integer({ min: 1, max: 14 }),
  })
  .map(({ relativeAccuracy, lowExp, decades }) => ({
    relativeAccuracy,
    minValue: 10 ** lowExp,
    maxValue: 10 ** (lowExp + decades),
  }))

type Options = { relativeAccuracy: number; minValue: number; maxValue: number }

/** Values inside [minValue, maxValue], log-uniform (many orders of magnitude) plus the edges and repeats. */
function trackedValue(o: Options) {
  const lo = Math.log(o.minValue)
  const hi = Math.log(o.maxValue)
  return fc.oneof(
    fc
      .double({ min: lo, max: hi, noNaN: true })
      .map((x) => Math.min(o.maxValue, Math.max(o.minValue, Math.exp(x)))),
    fc.double({ min: o.minValue, max: o.maxValue, noNaN: true }),
    fc.constantFrom(o.minValue, o.maxValue, ...[1, 100].filter((v) => v >= o.minValue && v <= o.maxValue)),
  )
}

function trackedValues(o: Options, maxLength = 300) {
  return fc.array(trackedValue(o), { minLength: 1, maxLength })
}

/** Anything a caller might pass: valid, tiny, huge, zero, negative, NaN, infinite. */
const anyValue = fc.oneof(
  fc.double(),
  fc.double({ min: 0, max: 10_000, noNaN: true }),
  fc.constantFrom(
    0,
    -0,
    1e-300,
    1e300,
    Number.MIN_VALUE,
    Number.MAX_VALUE,
    Number.POSITIVE_INFINITY,
    Number.NaN,
    -5,
  ),
)

function recordAll(sketch: QuantileSketch, values: readonly number[]): QuantileSketch {
  for (const v of values) sketch.record(v)
  return sketch
}

function exactAtOrBelow(sorted: readonly number[], t: number): number {
  let n = 0
  for (const v of sorted) if (v <= t) n++
  return n
}

/** Log-spaced bounds across (and beyond) any range the tests use. */
const GRID = Array.from({ length: 400 }, (_, i) => 10 ** (-8 + (i * 26) / 399))

describe('QuantileSketch', () => {
  it('slotOf (a table lookup, no Math.log) gives exactly the slot of the log formula, also one double either side of every boundary', () => {
    const words = new Float64Array(1)
    const bits = new BigUint64Array(words.buffer)
    const step = (v: number, by: bigint): number => {
      words[0] = v
      bits[0]! += by
      return words[0]!
    }
    fc.assert(
      fc.property(
        sketchOptions.chain((o) =>
          fc.tuple(
            fc.constant(o),
            fc.array(trackedValue(o), { minLength: 1, maxLength: 50 }),
            fc.array(anyValue),
          ),
        ),
        ([o, values, wild]) => {
          const sketch = new QuantileSketch(o)
          const logGamma = Math.log1p((2 * o.relativeAccuracy) / (1 - o.relativeAccuracy))
          const minIndex = Math.ceil(Math.log(o.minValue) / logGamma)
          const maxIndex = Math.ceil(Math.log(o.maxValue) / logGamma)
          const formula = (v: number): number => {
            const i = Math.ceil(Math.log(v) * (1 / logGamma))
            return i < minIndex ? 0 : i > maxIndex ? maxIndex - minIndex + 2 : i - minIndex + 1
          }
          const probes: number[] = []
          for (const v of values) {
            // The bucket edges around v (γ^i as the formula sees it) and the doubles next to them.
            const i = Math.ceil(Math.log(v) / logGamma)
            for (const edge of [Math.exp((i - 1) * logGamma), Math.exp(i * logGamma), v]) {
              for (const d of [-3n, -2n, -1n, 0n, 1n, 2n, 3n]) probes.push(step(edge, d))
            }
          }
          for (const v of wild) if (v >= 0 && v < Number.POSITIVE_INFINITY) probes.push(v)
          probes.push(0, -0, o.minValue, o.maxValue, Number.MIN_VALUE, Number.MAX_VALUE)
          for (const v of probes) {
            if (!(v >= 0 && v < Number.POSITIVE_INFINITY)) continue
            expect(sketch.slotOf(v), `slotOf(${v})`).toBe(formula(v))
          }
          // record counts in the slot slotOf names, and slots never decrease with the value.
          const sorted = probes.filter((v) => v >= 0 && v < Number.POSITIVE_INFINITY).sort((a, b) => a - b)
          for (let k = 1; k < sorted.length; k++) {
            expect(sketch.slotOf(sorted[k]!)).toBeGreaterThanOrEqual(sketch.slotOf(sorted[k - 1]!))
          }
          for (const v of sorted) expect(sketch.record(v)).toBe(sketch.slotOf(v))
          expect(sketch.record(Number.NaN)).toBe(-1)
        },
      ),
      { numRuns: 300 },
    )
  })

  it('every quantile estimate is within the relative accuracy of the true sample value of that rank', () => {
    fc.assert(
      fc.property(
        sketchOptions.chain((o) =>
          fc.tuple(fc.constant(o), trackedValues(o), fc.double({ min: 0, max: 1, noNaN: true })),
        ),
        ([o, values, extraQ]) => {
          const sketch = recordAll(new QuantileSketch(o), values)
          const sorted = [...values].sort((a, b) => a - b)
          for (const q of [...QS, extraQ]) {
            const truth = sorted[Math.floor(q * (sorted.length - 1))]!
            const estimate = sketch.quantile(q)
            expect(Math.abs(estimate - truth)).toBeLessThanOrEqual((o.relativeAccuracy + ROUNDING) * truth)
            expect(estimate).toBeGreaterThanOrEqual(sorted[0]!)
            expect(estimate).toBeLessThanOrEqual(sorted[sorted.length - 1]!)
          }
        },
      ),
      { numRuns: 200 },
    )
  })

  it('merging two sketches equals recording both streams into one', () => {
    fc.assert(
      fc.property(
        sketchOptions,
        fc.array(anyValue, { maxLength: 150 }),
        fc.array(anyValue, { maxLength: 150 }),
        (o, left, right) => {
          const merged = recordAll(new QuantileSketch(o), left).merge(recordAll(new QuantileSketch(o), right))
          const together = recordAll(new QuantileSketch(o), [...left, ...right])
          expect(merged.count).toBe(together.count)
          expect(merged.invalid).toBe(together.invalid)
          expect(merged.min).toBe(together.min)
          expect(merged.max).toBe(together.max)
          if (Number.isFinite(together.sum)) {
            // The same values added in another order: equal up to float rounding, relative to their size.
            const scale = [...left, ...right].reduce(
              (m, v) => (v >= 0 && v < Number.POSITIVE_INFINITY ? Math.max(m, v) : m),
              1,
            )
            expect(Math.abs(merged.sum - together.sum)).toBeLessThanOrEqual(
              1e-12 * scale * (left.length + right.length + 1),
            )
          }
          for (const q of QS) expect(merged.quantile(q)).toBe(together.quantile(q))
          expect(merged.cumulativeCounts(GRID)).toEqual(together.cumulativeCounts(GRID))
        },
      ),
      { numRuns: 150 },
    )
  })

  it('counts are exact: count is the number of valid values, invalid the rest, countAtOrBelow(max) is count and is monotone', () => {
    fc.assert(
      fc.property(
        sketchOptions,
        fc.array(anyValue, { maxLength: 200 }),
        fc.array(anyValue, { maxLength: 30 }),
        (o, values, thresholds) => {
          const sketch = recordAll(new QuantileSketch(o), values)
          // + 0 turns -0 into 0, as the sketch does
          const valid = values.filter((v) => v >= 0 && Number.isFinite(v)).map((v) => v + 0)
          expect(sketch.count).toBe(valid.length)
          expect(sketch.invalid).toBe(values.length - valid.length)
          if (valid.length > 0) {
            expect(sketch.min).toBe(Math.min(...valid))
            expect(sketch.max).toBe(Math.max(...valid))
            expect(sketch.countAtOrBelow(sketch.max)).toBe(valid.length)
          }
          expect(sketch.countAtOrBelow(Number.POSITIVE_INFINITY)).toBe(valid.length)
          expect(sketch.countAtOrBelow(-1)).toBe(0)
          const ascending = [...thresholds, ...GRID.filter((_, i) => i % 8 === 0)]
            .filter((t) => !Number.isNaN(t))
            .sort((a, b) => a - b)
          let previous = 0
          for (const t of ascending) {
            const n = sketch.countAtOrBelow(t)
            expect(n).toBeGreaterThanOrEqual(previous)
            expect(n).toBeLessThanOrEqual(valid.length)
            previous = n
          }
        },
      ),
      { numRuns: 150 },
    )
  })

  it('memory stays bounded for any input range: the bucket array never changes size', () => {
    fc.assert(
      fc.property(sketchOptions, fc.array(anyValue, { maxLength: 300 }), (o, values) => {
        const sketch = new QuantileSketch(o)
        const buckets = sketch.bucketCount
        // γ^i spans [minValue, maxValue] in ⌈ln(max/min)/ln γ⌉ + 1 buckets, plus the zero and overflow buckets.
        const logGamma = Math.log((1 + o.relativeAccuracy) / (1 - o.relativeAccuracy))
        expect(buckets).toBeLessThanOrEqual(Math.ceil(Math.log(o.maxValue / o.minValue) / logGamma) + 4)
        recordAll(sketch, values)
        expect(sketch.bucketCount).toBe(buckets)
        sketch.merge(sketch.clone())
        expect(sketch.bucketCount).toBe(buckets)
      }),
      { numRuns: 150 },
    )
  })

  it('countAtOrBelow(t) counts every value <= t/(1+α) and no value > t/(1-α)', () => {
    fc.assert(
      fc.property(
        sketchOptions.chain((o) =>
          fc.tuple(
            fc.constant(o),
            trackedValues(o),
            fc.array(
              fc.double({ min: Math.log(o.minValue) - 1, max: Math.log(o.maxValue) + 1, noNaN: true }),
              {
                maxLength: 10,
              },
            ),
            // Thresholds within a few α of a recorded value, where misclassification can happen.
            fc.array(fc.tuple(fc.nat(), fc.double({ min: -3, max: 3, noNaN: true })), { maxLength: 10 }),
          ),
        ),
        ([o, values, logThresholds, nearValue]) => {
          const sketch = recordAll(new QuantileSketch(o), values)
          const sorted = [...values].sort((a, b) => a - b)
          const a = o.relativeAccuracy
          const thresholds = [
            ...logThresholds.map(Math.exp),
            ...nearValue.map(([i, k]) => sorted[i % sorted.length]! * (1 + k * a)),
            ...sorted,
          ]
          for (const t of thresholds) {
            const n = sketch.countAtOrBelow(t)
            expect(n).toBeGreaterThanOrEqual(exactAtOrBelow(sorted, (t / (1 + a)) * (1 - ROUNDING)))
            expect(n).toBeLessThanOrEqual(exactAtOrBelow(sorted, (t / (1 - a)) * (1 + ROUNDING)))
          }
        },
      ),
      { numRuns: 200 },
    )
  })

  it('cumulativeCounts gives countAtOrBelow for each bound, in any order, into a reused array', () => {
    fc.assert(
      fc.property(
        sketchOptions.chain((o) =>
          fc.tuple(fc.constant(o), fc.array(fc.oneof(trackedValue(o), anyValue), { maxLength: 200 })),
        ),
        fc.array(fc.oneof(fc.double({ min: 0, max: 1e12, noNaN: true }), anyValue), { maxLength: 20 }),
        // Bounds a few buckets apart (k·α/2 around a recorded value), where an off-by-some prefix shows.
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: -8, max: 8 })), { maxLength: 20 }),
        fc.boolean(),
        ([o, values], farBounds, nearSteps, sortBounds) => {
          const sketch = recordAll(new QuantileSketch(o), values)
          const valid = values.filter((v) => v > 0 && Number.isFinite(v))
          const nearBounds = valid.length
            ? nearSteps.map(([i, k]) => valid[i % valid.length]! * (1 + (k * o.relativeAccuracy) / 2))
            : []
          const bounds = [...farBounds, ...nearBounds]
          if (sortBounds) bounds.sort((x, y) => x - y)
          const out = new Float64Array(bounds.length + 2).fill(-1)
          const result = sketch.cumulativeCounts(bounds, out)
          expect(result).toBe(out)
          for (let i = 0; i < bounds.length; i++) expect(out[i]).toBe(sketch.countAtOrBelow(bounds[i]!))
        },
      ),
      { numRuns: 150 },
    )
  })

  it('estimates a quantile as the rank ⌊q·(count-1)⌋ value, exact at the extreme ranks', () => {
    const sketch = recordAll(new QuantileSketch(), [10, 20, 30, 40])
    expect(sketch.quantile(0)).toBe(10)
    expect(sketch.quantile(1)).toBe(40)
    // rank ⌊0.5·3⌋ = 1 → 20; ⌊0.7·3⌋ = 2 → 30
    expect(Math.abs(sketch.quantile(0.5) - 20)).toBeLessThanOrEqual(0.2)
    expect(Math.abs(sketch.quantile(0.7) - 30)).toBeLessThanOrEqual(0.3)
    // q outside [0, 1] is clamped, NaN gives NaN
    expect(sketch.quantile(-3)).toBe(10)
    expect(sketch.quantile(7)).toBe(40)
    expect(sketch.quantile(Number.NaN)).toBeNaN()
  })

  it('puts values below minValue in a zero bucket and above maxValue in an overflow bucket, keeping min/max/sum exact', () => {
    const sketch = new QuantileSketch({ minValue: 1, maxValue: 1000 })
    for (const v of [0, 0.25, 0.5]) sketch.record(v)
    expect(sketch.quantile(0.5)).toBe(0) // the zero bucket is estimated as min
    expect(sketch.quantile(1)).toBe(0.5) // the extreme ranks are exact
    sketch.record(5e6)
    sketch.record(1e300)
    expect(sketch.count).toBe(5)
    expect(sketch.min).toBe(0)
    expect(sketch.max).toBe(1e300)
    expect(sketch.sum).toBe(0.75 + 5e6 + 1e300)
    expect(sketch.quantile(1)).toBe(1e300)
    expect(sketch.quantile(0.75)).toBe(1e300) // the overflow bucket is estimated as max
    expect(sketch.countAtOrBelow(0.1)).toBe(3) // zero-bucket values are estimated as min (0)
    expect(sketch.countAtOrBelow(1e7)).toBe(3)
    expect(sketch.countAtOrBelow(1e300)).toBe(5)
  })

  it('never reports -0 as min', () => {
    const sketch = new QuantileSketch()
    sketch.record(-0)
    expect(Object.is(sketch.min, 0)).toBe(true)
    expect(sketch.invalid).toBe(0)
  })

  it('reports an empty sketch as empty', () => {
    const sketch = new QuantileSketch()
    expect(sketch.count).toBe(0)
    expect(sketch.sum).toBe(0)
    expect(sketch.invalid).toBe(0)
    expect(sketch.min).toBeNaN()
    expect(sketch.max).toBeNaN()
    expect(sketch.quantile(0.5)).toBeNaN()
    expect(sketch.countAtOrBelow(100)).toBe(0)
    expect([...sketch.cumulativeCounts([1, 10, 100])]).toEqual([0, 0, 0])
    sketch.record(Number.NaN)
    expect(sketch.count).toBe(0)
    expect(sketch.invalid).toBe(1)
    expect(sketch.quantile(0.5)).toBeNaN()
  })

  it('reset forgets everything and clone is independent', () => {
    const sketch = recordAll(new QuantileSketch(), [1, 2, 3, -1])
    const copy = sketch.clone()
    sketch.reset()
    expect(sketch.count).toBe(0)
    expect(sketch.invalid).toBe(0)
    expect(sketch.quantile(1)).toBeNaN()
    expect(copy.count).toBe(3)
    expect(copy.invalid).toBe(1)
    expect(copy.quantile(1)).toBe(3)
    copy.record(100)
    expect(sketch.count).toBe(0)
  })

  it('reset clears the counts themselves, and clone copies them (not only the totals)', () => {
    const sketch = recordAll(new QuantileSketch(), [1, 2, 3])
    const copy = sketch.clone()
    expect([...copy.cumulativeCounts([1.5, 2.5, 10])]).toEqual([1, 2, 3])
    expect(copy.quantile(0.5)).toBeCloseTo(2, 1)
    sketch.reset()
    recordAll(sketch, [1000, 1000, 1000])
    expect([...sketch.cumulativeCounts([1.5, 2.5, 10, 2000])]).toEqual([0, 0, 0, 3])
    expect(sketch.quantile(0.01)).toBeCloseTo(1000, -1)
  })

  it('rejects bad options with CortexConfigError naming the option', () => {
    const bad: Array<[unknown, string]> = [
      [{ relativeAccuracy: 0 }, 'relativeAccuracy'],
      [{ relativeAccuracy: 1 }, 'relativeAccuracy'],
      [{ relativeAccuracy: -0.1 }, 'relativeAccuracy'],
      [{ relativeAccuracy: Number.NaN }, 'relativeAccuracy'],
      [{ relativeAccuracy: '0.01' }, 'relativeAccuracy'],
      [{ relativeAccuracy: 1e-9 }, 'relativeAccuracy'], // would need billions of buckets
      [{ minValue: 0 }, 'minValue'],
      [{ minValue: -1 }, 'minValue'],
      [{ minValue: Number.POSITIVE_INFINITY }, 'minValue'],
      [{ maxValue: 1e-3 }, 'maxValue'],
      [{ minValue: 10, maxValue: 5 }, 'maxValue'],
      [{ maxValue: Number.POSITIVE_INFINITY }, 'maxValue'],
      [{ relativeAcuracy: 0.01 }, 'relativeAcuracy'],
      [null, 'options'],
    ]
    for (const [options, option] of bad) {
      let caught: unknown
      try {
        new QuantileSketch(options as never)
      } catch (err) {
        caught = err
      }
      expect(caught, JSON.stringify(options)).toBeInstanceOf(CortexConfigError)
      expect(isCortexError(caught, 'ERR_CORTEX_CONFIG')).toBe(true)
      expect((caught as CortexConfigError).option).toBe(option)
    }
    expect(MAX_SKETCH_BUCKETS).toBeGreaterThan(new QuantileSketch().bucketCount)
  })

  it('refuses to merge sketches with different accuracy parameters', () => {
    const base = new QuantileSketch()
    expect(() => base.merge(new QuantileSketch({ relativeAccuracy: 0.02 }))).toThrow(CortexConfigError)
    expect(() => base.merge(new QuantileSketch({ minValue: 1 }))).toThrow(CortexConfigError)
    expect(() => base.merge(new QuantileSketch({ maxValue: 1e6 }))).toThrow(CortexConfigError)
    expect(() => base.cumulativeCounts([1, 2], new Float64Array(1))).toThrow(CortexConfigError)
    expect(() => base.merge(new QuantileSketch({ relativeAccuracy: 0.02 }))).toThrow(
      'Invalid `relativeAccuracy` in QuantileSketch.merge: expected the same relativeAccuracy as this sketch (0.01), got 0.02',
    )
    expect(() => base.merge(new QuantileSketch({ minValue: 1 }))).toThrow(
      /^Invalid `minValue` in QuantileSketch\.merge: expected the same minValue as this sketch \(/,
    )
    expect(() => base.merge(new QuantileSketch({ maxValue: 1e6 }))).toThrow(
      'Invalid `maxValue` in QuantileSketch.merge: expected the same maxValue as this sketch (1000000000), got 1000000',
    )
    expect(() => base.cumulativeCounts([1, 2], new Float64Array(1))).toThrow(
      'Invalid `out` in QuantileSketch.cumulativeCounts: expected a Float64Array of length >= 2 (one per upper bound), got "a Float64Array of length 1"',
    )
  })
})
