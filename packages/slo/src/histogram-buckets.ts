/**
 * The tracker's histogram buckets: the bounds it exposes (the defaults or
 * the user's, plus every latency threshold, exactly, so "≤ threshold" is a
 * prefix of buckets), and a map from quantile-sketch slot to bucket, so
 * `record` finds a duration's bucket from the slot the sketch already
 * computed instead of searching the bounds.
 */
import { CortexConfigError, checkNumber, QuantileSketch } from '@cortex/core'
import type { Objective } from './define-slos.js'
import { DEFAULT_BUCKETS_SECONDS } from './metric-names.js'

const MAX_BOUNDS = 64

/** In `bucketOfSlot`: the slot holds several bounds or is open-ended, so `record` searches the bounds. */
export const SEARCH_BUCKET = 255

/** The sorted bucket upper bounds in ms: `buckets` (seconds, default prom-client's) plus each objective's threshold. */
export function bucketBoundsMs(
  bucketsSeconds: unknown,
  objectives: readonly Objective[],
  where: string,
): number[] {
  const secondsIn = bucketsSeconds ?? DEFAULT_BUCKETS_SECONDS
  if (!Array.isArray(secondsIn))
    throw new CortexConfigError('buckets', secondsIn, 'an array of seconds', where)
  const ms = new Set<number>()
  for (const s of secondsIn) ms.add(checkNumber(s, 'buckets', { min: 0, exclusiveMin: true, where }) * 1000)
  for (const o of objectives) if (o.thresholdMs !== undefined) ms.add(o.thresholdMs)
  const sorted = [...ms].sort((a, b) => a - b)
  if (sorted.length > MAX_BOUNDS)
    throw new CortexConfigError('buckets', secondsIn, `at most ${MAX_BOUNDS} bucket bounds`, where)
  return sorted
}

export interface SlotBuckets {
  /** Per sketch slot: the histogram bucket of its values, or SEARCH_BUCKET. */
  bucketOfSlot: Uint8Array
  /** Per sketch slot: the one bound inside the slot (values above it go one bucket up); +∞ when none. */
  boundInSlot: Float64Array
}

/**
 * Maps each slot of a sketch with this accuracy to its histogram bucket.
 * Slots never decrease with the value, so bounds in earlier slots are below
 * every value of a slot and bounds in later ones above.
 */
export function slotBuckets(relativeAccuracy: number, boundsMs: readonly number[]): SlotBuckets {
  const probe = new QuantileSketch({ relativeAccuracy })
  const slots = probe.bucketCount
  const bucketOfSlot = new Uint8Array(slots)
  const boundInSlot = new Float64Array(slots).fill(Number.POSITIVE_INFINITY)
  const boundSlots = boundsMs.map((b) => probe.slotOf(b))
  let below = 0
  for (let slot = 0; slot < slots; slot++) {
    while (below < boundSlots.length && boundSlots[below]! < slot) below++
    let inside = 0
    while (below + inside < boundSlots.length && boundSlots[below + inside] === slot) inside++
    if (inside > 1 || slot === 0 || slot === slots - 1) bucketOfSlot[slot] = SEARCH_BUCKET
    else {
      bucketOfSlot[slot] = below
      if (inside === 1) boundInSlot[slot] = boundsMs[below]!
    }
  }
  return { bucketOfSlot, boundInSlot }
}
