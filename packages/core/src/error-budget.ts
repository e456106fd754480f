/**
 * Error budgets and burn rates for ratio SLOs ("99.9% of requests are good"),
 * plus the multi-window, multi-burn-rate alert table of the SRE Workbook
 * (Sloth's defaults). @cortex/slo evaluates alerts in process with this table
 * and renders its Prometheus rules from the same table, so the two agree.
 *
 * Also a fixed-memory sliding-window counter for computing in-process burn
 * rates over 5m … 3d windows. Time is a parameter (milliseconds); nothing here
 * reads a clock.
 */
import { CortexConfigError } from './errors.js'
import { checkKnownKeys, checkNumber, checkObject, checkOneOf, parseDuration } from './validate.js'

const HOUR_MS = 3_600_000
const DAY_MS = 24 * HOUR_MS

/**
 * Fraction of good events, in [0, 1].
 *
 * - No traffic (`total` ≤ 0 or NaN) counts as 1: no requests, no errors, no
 *   budget spent.
 * - `good` above `total` (counters scraped a moment apart) is clamped to 1,
 *   negative `good` to 0.
 * - NaN `good` gives NaN ("no data"); burn-rate alerts never fire on NaN.
 *
 * @example
 * sliRatio(999, 1000) // → 0.999
 * sliRatio(0, 0)      // → 1
 */
export function sliRatio(good: number, total: number): number {
  if (!(total > 0)) return 1
  return clampUnit(good / total)
}

/**
 * Fraction of bad events, in [0, 1]. No traffic (`total` ≤ 0 or NaN) counts
 * as 0; out-of-range ratios are clamped; NaN `bad` gives NaN.
 *
 * @example
 * errorRatio(1, 1000) // → 0.001
 * errorRatio(0, 0)    // → 0
 */
export function errorRatio(bad: number, total: number): number {
  if (!(total > 0)) return 0
  return clampUnit(bad / total)
}

function clampUnit(x: number): number {
  // Math.min/max keep NaN, which is what we want: NaN means "no data".
  return Math.min(1, Math.max(0, x))
}

/** Validates an SLO objective: a ratio strictly between 0 and 1, e.g. 0.999. */
function checkObjective(objective: unknown, where?: string): number {
  const ok = typeof objective === 'number' && objective > 0 && objective < 1
  if (!ok) {
    throw new CortexConfigError('objective', objective, 'a ratio in (0, 1) exclusive, such as 0.999', where)
  }
  return objective
}

export interface ErrorBudgetInput {
  /** Target fraction of good events, in (0, 1) exclusive, e.g. 0.999. */
  objective: number
  /** Good events over the SLO period. */
  good: number
  /** All events over the SLO period. */
  total: number
}

export interface ErrorBudget {
  /** good / total (1 with no traffic). */
  sli: number
  /** bad / total (0 with no traffic), computed from `total − good` for precision near 1. */
  errorRatio: number
  /** 1 − objective: the error ratio the SLO tolerates. */
  allowedErrorRatio: number
  /** Fraction of the budget spent: errorRatio / (1 − objective). Exceeds 1 once the SLO is missed. */
  consumed: number
  /** 1 − consumed. Negative once the SLO is missed: −0.5 means 150% of the budget is spent. */
  remaining: number
  /** `remaining` clamped to [0, 1], for gauges that cannot show overspending. */
  clampedRemaining: number
}

/**
 * The error budget of a ratio SLO over one period.
 *
 * `objective` is configuration: outside (0, 1) it throws CortexConfigError.
 * Counts are data and never throw (see `sliRatio`).
 *
 * @example
 * const b = errorBudget({ objective: 0.999, good: 99_950, total: 100_000 })
 * // b.errorRatio ≈ 0.0005, b.consumed ≈ 0.5, b.remaining ≈ 0.5
 */
export function errorBudget(input: ErrorBudgetInput): ErrorBudget {
  checkObject(input, 'input', 'errorBudget')
  const objective = checkObjective(input.objective, 'errorBudget')
  const { good, total } = input
  const ratio = errorRatio(total - good, total)
  const allowed = 1 - objective
  const consumed = ratio / allowed
  const remaining = 1 - consumed
  return {
    sli: sliRatio(good, total),
    errorRatio: ratio,
    allowedErrorRatio: allowed,
    consumed,
    remaining,
    clampedRemaining: Math.min(1, Math.max(0, remaining)),
  }
}

/**
 * How fast the budget burns: errorRatio / (1 − objective). A burn rate of 1
 * spends exactly the whole budget over the SLO period; 14.4 spends a 30-day
 * budget in 50 hours. Over the whole period it equals `errorBudget().consumed`.
 *
 * @example
 * burnRate(0.0144, 0.999) // → 14.4
 */
export function burnRate(ratio: number, objective: number): number {
  return ratio / (1 - checkObjective(objective, 'burnRate'))
}

/** Who gets told: `page` wakes someone up, `ticket` can wait for working hours. */
export type BurnRateSeverity = 'page' | 'ticket'

/** One tier of a burn-rate alert table, as written by a user. */
export interface BurnRateTierInput {
  severity: BurnRateSeverity
  /** Long window: milliseconds or a duration such as `'1h'`. */
  longWindow: number | string
  /** Short window (shorter than the long one; it makes the alert reset quickly once fixed). */
  shortWindow: number | string
  /** Fraction of the period's budget that, spent within the long window, fires the tier, in (0, 1]. */
  budgetConsumed: number
}

/** One tier of a resolved burn-rate alert table. */
export interface BurnRateAlertTier {
  severity: BurnRateSeverity
  longWindowMs: number
  shortWindowMs: number
  budgetConsumed: number
  /** Burn-rate threshold: budgetConsumed × period / longWindow. */
  factor: number
}

/**
 * The SRE Workbook's tiers (Sloth's defaults): page on 2% of the budget in
 * 1h (checked over 5m too) or 5% in 6h (30m); ticket on 10% in 1d (2h) or
 * 10% in 3d (6h).
 */
export const DEFAULT_BURN_RATE_TIERS: readonly Readonly<BurnRateTierInput>[] = Object.freeze([
  Object.freeze({ severity: 'page', longWindow: HOUR_MS, shortWindow: 5 * 60_000, budgetConsumed: 0.02 }),
  Object.freeze({
    severity: 'page',
    longWindow: 6 * HOUR_MS,
    shortWindow: 30 * 60_000,
    budgetConsumed: 0.05,
  }),
  Object.freeze({ severity: 'ticket', longWindow: DAY_MS, shortWindow: 2 * HOUR_MS, budgetConsumed: 0.1 }),
  Object.freeze({
    severity: 'ticket',
    longWindow: 3 * DAY_MS,
    shortWindow: 6 * HOUR_MS,
    budgetConsumed: 0.1,
  }),
] as const)

const TIER_KEYS = ['severity', 'longWindow', 'shortWindow', 'budgetConsumed'] as const

/**
 * Resolves a multi-window, multi-burn-rate alert table for an SLO period:
 * each tier's factor is budgetConsumed × period hours / long-window hours
 * (30d → 14.4, 6, 3, 1; 28d → 13.44, 5.6, 2.8, 0.9333…). Pass `tiers` to use
 * your own (e.g. to drop a tier); they are validated and CortexConfigError
 * names the offending tier. An empty table is allowed (no burn-rate alerts).
 *
 * @example
 * burnRateAlertTable('30d').map((t) => t.factor) // → [14.4, 6, 3, 1]
 * burnRateAlertTable(28 * 86_400_000, [{ severity: 'page', longWindow: '1h', shortWindow: '5m', budgetConsumed: 0.02 }])
 */
export function burnRateAlertTable(
  period: number | string,
  tiers: readonly Readonly<BurnRateTierInput>[] = DEFAULT_BURN_RATE_TIERS,
): BurnRateAlertTier[] {
  const periodMs = parseDuration(period, 'period', 'burnRateAlertTable')
  if (!Array.isArray(tiers))
    throw new CortexConfigError('tiers', tiers, 'an array of tiers', 'burnRateAlertTable')
  return tiers.map((raw, i) => {
    const where = `burn-rate tier ${i}`
    const tier = checkObject(raw, `tiers[${i}]`, 'burnRateAlertTable')
    checkKnownKeys(tier, TIER_KEYS, where)
    const severity = checkOneOf(tier.severity, 'severity', ['page', 'ticket'], where)
    const longWindowMs = parseDuration(tier.longWindow, 'longWindow', where)
    const shortWindowMs = parseDuration(tier.shortWindow, 'shortWindow', where)
    const budgetConsumed = checkNumber(tier.budgetConsumed, 'budgetConsumed', {
      min: 0,
      max: 1,
      exclusiveMin: true,
      where,
    })
    if (longWindowMs > periodMs) {
      throw new CortexConfigError(
        'longWindow',
        tier.longWindow,
        `a window no longer than the period (${periodMs} ms)`,
        where,
      )
    }
    if (shortWindowMs >= longWindowMs) {
      throw new CortexConfigError(
        'shortWindow',
        tier.shortWindow,
        `a window shorter than longWindow (${longWindowMs} ms)`,
        where,
      )
    }
    // Multiply before dividing: it gives the reference figures exactly (5.6, not 5.6000000000000005).
    const factor = (budgetConsumed * periodMs) / longWindowMs
    return { severity, longWindowMs, shortWindowMs, budgetConsumed, factor }
  })
}

/** How one tier fared in an evaluation. */
export interface BurnRateTierResult {
  tier: BurnRateAlertTier
  /** Position of the tier in the table. */
  index: number
  /** Error ratio both windows must exceed: factor × (1 − objective). */
  threshold: number
  longErrorRatio: number
  shortErrorRatio: number
  /** True when both windows exceed the threshold. */
  firing: boolean
}

export interface BurnRateAlertEvaluation {
  /** True when any page tier fires. */
  page: boolean
  /** True when any ticket tier fires. */
  ticket: boolean
  /** The most urgent firing severity, or null. */
  severity: BurnRateSeverity | null
  /** One entry per tier, in table order. */
  tiers: BurnRateTierResult[]
}

export interface BurnRateAlertInput {
  objective: number
  table: readonly BurnRateAlertTier[]
  /**
   * Error ratio over the last `windowMs` (e.g. from `WindowedCounter.sum`).
   * Called once per distinct window. Return NaN for "no data": it never fires.
   */
  errorRatioFor: (windowMs: number) => number
}

/**
 * Evaluates a burn-rate alert table: a tier fires when the error ratio over
 * both its long and its short window is strictly above factor × (1 − objective),
 * the same comparison, computed in the same order, as the generated
 * Prometheus rules. Pure: the caller supplies the ratios.
 *
 * @example
 * const table = burnRateAlertTable('30d')
 * const r = evaluateBurnRateAlerts({ objective: 0.999, table, errorRatioFor: (w) => ratios.get(w) ?? Number.NaN })
 * if (r.page) notify(r.tiers.filter((t) => t.firing))
 */
export function evaluateBurnRateAlerts(input: BurnRateAlertInput): BurnRateAlertEvaluation {
  const objective = checkObjective(input.objective, 'evaluateBurnRateAlerts')
  const allowed = 1 - objective
  const cache = new Map<number, number>()
  const ratioFor = (windowMs: number): number => {
    let r = cache.get(windowMs)
    if (r === undefined) {
      r = input.errorRatioFor(windowMs)
      cache.set(windowMs, r)
    }
    return r
  }
  let page = false
  let ticket = false
  const tiers = input.table.map((tier, index): BurnRateTierResult => {
    const threshold = tier.factor * allowed
    const longErrorRatio = ratioFor(tier.longWindowMs)
    const shortErrorRatio = ratioFor(tier.shortWindowMs)
    const firing = longErrorRatio > threshold && shortErrorRatio > threshold
    if (firing && tier.severity === 'page') page = true
    if (firing && tier.severity === 'ticket') ticket = true
    return { tier, index, threshold, longErrorRatio, shortErrorRatio, firing }
  })
  return { page, ticket, severity: page ? 'page' : ticket ? 'ticket' : null, tiers }
}

export interface WindowedCounterOptions {
  /** Slot width: milliseconds or a duration such as `'10s'`. Window edges are accurate to one slot. */
  slot: number | string
  /** Longest window you will ask for, e.g. `'3d'`. Sums over longer windows are cut to this. */
  horizon: number | string
}

/** Most slots a counter may have (16 MB of Float64Arrays); use a coarser slot beyond. */
export const MAX_WINDOW_SLOTS = 1_000_000

/**
 * Good/total counts over sliding windows in fixed memory: a ring of time
 * slots, two Float64Arrays allocated once. Meant for in-process burn rates
 * (5m … 3d windows) in the SLO tracker.
 *
 * Window semantics, exactly: with `slotMs` the slot width and
 * s = floor(now / slotMs), `sum(now, windowMs)` returns the counts added with
 * timestamps in slots s − k + 1 … s, where k = min(slotCount, ceil(windowMs / slotMs)).
 * That is the current (partial) slot plus k − 1 whole ones: for windows up to
 * the horizon, every event in
 * [now − windowMs + slotMs, now] is counted and none before now − windowMs − slotMs,
 * so the old edge is off by less than one slot. Pick slots much smaller than
 * the shortest window (e.g. 10 s for 5m … 3d: 25,920 slots).
 *
 * Time is a parameter. The counter never goes back in time: an `add` or `sum`
 * with a `now` earlier than the latest slot seen (clock stepped backwards,
 * out-of-order events) or a non-finite `now` counts as that latest slot, so
 * nothing is corrupted or lost. Odd counts never throw: NaN/negative are
 * taken as 0 and good is capped at total.
 *
 * `add` is O(1) amortised; `sum` is O(k), so call it when evaluating, not per request.
 *
 * @example
 * const counter = new WindowedCounter({ slot: '10s', horizon: '3d' })
 * counter.add(performance.now(), ok ? 1 : 0, 1)
 * const { good, total } = counter.sum(performance.now(), 3_600_000)
 * const ratio1h = errorRatio(total - good, total)
 */
export class WindowedCounter {
  readonly slotMs: number
  readonly slotCount: number
  private readonly good: Float64Array
  private readonly total: Float64Array
  /** Index (floor(t / slotMs)) of the latest slot written; -Infinity before the first add. */
  private head = Number.NEGATIVE_INFINITY

  constructor(options: WindowedCounterOptions) {
    const where = 'WindowedCounter'
    checkObject(options, 'options', where)
    checkKnownKeys(options, ['slot', 'horizon'], where)
    this.slotMs = parseDuration(options.slot, 'slot', where)
    const horizonMs = parseDuration(options.horizon, 'horizon', where)
    const slots = Math.ceil(horizonMs / this.slotMs)
    if (slots > MAX_WINDOW_SLOTS) {
      throw new CortexConfigError(
        'slot',
        options.slot,
        `a slot of at least ${Math.ceil(horizonMs / MAX_WINDOW_SLOTS)} ms (horizon / ${MAX_WINDOW_SLOTS} slots)`,
        where,
      )
    }
    this.slotCount = slots
    this.good = new Float64Array(slots)
    this.total = new Float64Array(slots)
  }

  /** Bytes held by the slots; fixed at construction whatever is added. */
  get memoryBytes(): number {
    return this.good.byteLength + this.total.byteLength
  }

  /** Longest window a sum can cover, in milliseconds. */
  get horizonMs(): number {
    return this.slotCount * this.slotMs
  }

  /**
   * Adds `good` of `total` events at time `now` (ms).
   *
   * @example
   * counter.add(now, 0, 1) // one bad request
   */
  add(now: number, good: number, total: number): void {
    const t = total > 0 && total !== Number.POSITIVE_INFINITY ? total : 0
    const g = good > 0 ? Math.min(good, t) : 0
    let slot = Math.floor(now / this.slotMs)
    if (!Number.isFinite(slot) || slot < this.head) {
      if (this.head === Number.NEGATIVE_INFINITY) return // nowhere to put it yet
      slot = this.head
    }
    if (slot > this.head) this.advance(slot)
    const i = this.ring(slot)
    this.good[i] = (this.good[i] as number) + g
    this.total[i] = (this.total[i] as number) + t
  }

  /**
   * Good and total events over the last `windowMs` at time `now` (see the
   * class comment for the exact edges). Zero for windowMs ≤ 0 or NaN.
   *
   * @example
   * const { good, total } = counter.sum(now, 5 * 60_000)
   */
  sum(now: number, windowMs: number): { good: number; total: number } {
    let good = 0
    let total = 0
    if (this.head === Number.NEGATIVE_INFINITY || !(windowMs > 0)) return { good, total }
    let slot = Math.floor(now / this.slotMs)
    if (!Number.isFinite(slot) || slot < this.head) slot = this.head
    const k = Math.min(this.slotCount, Math.ceil(windowMs / this.slotMs))
    // Slots after head hold nothing yet (they are cleared when head reaches them), so
    // walk back from head. Counting steps, not slot indices, keeps the loop finite
    // for timestamps so large that index + 1 rounds to itself.
    const count = k - (slot - this.head)
    // One ring index, then a decrement per step: `%` on a slot index (a double) is a
    // floating-point remainder, and a 30-day window of 5-minute slots has 8,640 of them.
    let i = this.ring(this.head)
    const last = this.slotCount - 1
    for (let j = 0; j < count; j++) {
      good += this.good[i] as number
      total += this.total[i] as number
      i = i === 0 ? last : i - 1
    }
    return { good, total }
  }

  private ring(slot: number): number {
    const i = slot % this.slotCount
    return i < 0 ? i + this.slotCount : i
  }

  /** Moves head forward to `slot`, clearing the slots it passes (they hold counts one ring-turn old). */
  private advance(slot: number): void {
    if (slot - this.head >= this.slotCount) {
      this.good.fill(0)
      this.total.fill(0)
    } else {
      const steps = slot - this.head
      for (let j = 1; j <= steps; j++) {
        const i = this.ring(this.head + j)
        this.good[i] = 0
        this.total[i] = 0
      }
    }
    this.head = slot
  }
}
