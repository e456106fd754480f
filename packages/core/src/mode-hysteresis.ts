/**
 * Hysteresis for a two-state mode (normal/low power, budget ok/exceeded):
 * enter when a signal stays above one threshold for a while, leave when it
 * stays below a lower one for a while, and never switch twice within a
 * minimum dwell time. Without the gap between the thresholds and the timers a
 * signal hovering around one threshold would flip the mode on every sample.
 *
 * Used by the low-power controller (enter above 100 W, exit below 85 W, for
 * 30 s, dwell 60 s) and by the energy meter's budget event. Pure state steps:
 * time is a parameter (milliseconds); nothing here reads a clock.
 */
import { CortexConfigError } from './errors.js'
import { checkKnownKeys, checkNumber, checkObject, parseOptionalDuration } from './validate.js'

/** A mode and when it began: all a dwell gate needs. */
export interface DwellState {
  /** True in the "active" mode (entered above `enterAbove`). */
  readonly active: boolean
  /** When the current mode began (ms); -Infinity if it never changed, so the first change is never held back. */
  readonly since: number
}

export interface HysteresisState extends DwellState {
  /**
   * When the signal first crossed toward the other mode in the current run of
   * crossing samples (ms); NaN when not pending.
   */
  readonly pendingSince: number
  /** Latest time seen (ms); -Infinity initially. Earlier timestamps count as this one. */
  readonly lastAt: number
}

export interface HysteresisOptions {
  /** Enter the active mode when the signal is strictly above this. */
  enterAbove: number
  /** Leave the active mode when the signal is strictly below this; at most `enterAbove`. */
  exitBelow: number
  /** How long the signal must keep crossing before the mode changes: ms or `'30s'`. Default 0 (at once). */
  forMs?: number | string
  /** Least time between two mode changes: ms or `'60s'`. Default 0. */
  minDwellMs?: number | string
}

export interface Hysteresis {
  readonly enterAbove: number
  readonly exitBelow: number
  readonly forMs: number
  readonly minDwellMs: number
  /** A state in the given mode (default inactive) with no change pending and no dwell to wait out. */
  initial(active?: boolean): HysteresisState
  /**
   * The state after observing `signal` at time `now`. Returns a new object
   * when anything changed, else `state` itself; the mode changed iff
   * `next.active !== state.active`.
   *
   * Rules, with "crossing" meaning `signal > enterAbove` while inactive or
   * `signal < exitBelow` while active:
   * - A crossing sample starts a pending change (or continues one); any other
   *   sample cancels it. So a signal in the dead band [exitBelow, enterAbove]
   *   never changes the mode.
   * - The mode changes at the first sample where the crossing has lasted
   *   `forMs` (from the first crossing sample of the run to this one) and the
   *   current mode has lasted `minDwellMs`. A change held back by the dwell
   *   happens later if the crossing continues.
   * - NaN `signal` is no reading: it neither starts nor cancels anything
   *   (returns `state`). ±Infinity are ordinary readings.
   * - Time never runs backwards: a `now` earlier than `lastAt` counts as
   *   `lastAt`, so a clock stepping back can delay a change but never cause one
   *   sooner than forMs/minDwellMs allow. Non-finite `now` returns `state`.
   *   Feed it a monotonic clock (`performance.now()`).
   */
  step(state: HysteresisState, now: number, signal: number): HysteresisState
}

/**
 * Creates a hysteresis for a two-state mode. Thresholds must be finite with
 * `exitBelow ≤ enterAbove` (equal means no dead band); durations non-negative.
 *
 * @example
 * const power = createHysteresis({ enterAbove: 100, exitBelow: 85, forMs: '30s', minDwellMs: '60s' })
 * let state = power.initial()
 * state = power.step(state, performance.now(), watts)
 * if (state.active) enterLowPower()
 */
export function createHysteresis(options: HysteresisOptions): Hysteresis {
  const where = 'createHysteresis'
  checkObject(options, 'options', where)
  checkKnownKeys(options, ['enterAbove', 'exitBelow', 'forMs', 'minDwellMs'], where)
  const enterAbove = checkNumber(options.enterAbove, 'enterAbove', { where })
  const exitBelow = checkNumber(options.exitBelow, 'exitBelow', { where })
  if (exitBelow > enterAbove) {
    throw new CortexConfigError(
      'exitBelow',
      exitBelow,
      `a threshold at most enterAbove (${enterAbove}); an exit threshold above the enter one would flap`,
      where,
    )
  }
  const forMs = parseOptionalDuration(options.forMs, 'forMs', 0, where)
  const minDwellMs = parseOptionalDuration(options.minDwellMs, 'minDwellMs', 0, where)

  return {
    enterAbove,
    exitBelow,
    forMs,
    minDwellMs,
    initial(active = false) {
      return {
        active,
        since: Number.NEGATIVE_INFINITY,
        pendingSince: Number.NaN,
        lastAt: Number.NEGATIVE_INFINITY,
      }
    },
    step(state, now, signal) {
      if (Number.isNaN(signal) || !Number.isFinite(now)) return state
      const t = Math.max(now, state.lastAt)
      const crossing = state.active ? signal < exitBelow : signal > enterAbove
      if (!crossing) {
        if (Number.isNaN(state.pendingSince) && t === state.lastAt) return state
        return { active: state.active, since: state.since, pendingSince: Number.NaN, lastAt: t }
      }
      const pendingSince = Number.isNaN(state.pendingSince) ? t : state.pendingSince
      if (t - pendingSince >= forMs && t - state.since >= minDwellMs) {
        return { active: !state.active, since: t, pendingSince: Number.NaN, lastAt: t }
      }
      if (pendingSince === state.pendingSince && t === state.lastAt) return state
      return { active: state.active, since: state.since, pendingSince, lastAt: t }
    },
  }
}

export interface DwellGate {
  readonly minDwellMs: number
  /** A state in the given mode (default inactive) that may change at once. */
  initial(active?: boolean): DwellState
  /**
   * True when the mode may change at `now`: at least `minDwellMs` since the
   * last change. False for a `now` before the last change (clock stepped
   * back) or non-finite.
   */
  canChange(state: DwellState, now: number): boolean
  /**
   * The state after asking for mode `active` at `now`: a new state if the mode
   * changes, else `state` itself (already in that mode, or held by the dwell).
   */
  request(state: DwellState, now: number, active: boolean): DwellState
}

/**
 * A dwell gate: "no two mode changes closer than minDwellMs, whatever asks
 * for them". For a controller that decides the mode from several triggers
 * and manual overrides, each trigger can be a `createHysteresis` with no
 * dwell, and the gate holds the combined mode.
 *
 * @example
 * const gate = createDwellGate({ minDwellMs: '60s' })
 * let mode = gate.initial()
 * const want = override ?? (power.active || thermal.active)
 * mode = gate.request(mode, performance.now(), want)
 */
export function createDwellGate(options: { minDwellMs: number | string }): DwellGate {
  const where = 'createDwellGate'
  checkObject(options, 'options', where)
  checkKnownKeys(options, ['minDwellMs'], where)
  const minDwellMs = parseOptionalDuration(options.minDwellMs, 'minDwellMs', 0, where)
  const canChange = (state: DwellState, now: number): boolean =>
    Number.isFinite(now) && now - state.since >= minDwellMs
  return {
    minDwellMs,
    initial(active = false) {
      return { active, since: Number.NEGATIVE_INFINITY }
    },
    canChange,
    request(state, now, active) {
      if (state.active === active || !canChange(state, now)) return state
      return { active, since: now }
    },
  }
}
