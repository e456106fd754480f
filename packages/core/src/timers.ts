/**
 * The timer port: the four timer functions a @cortex/* package that owns a
 * timer (the power-mode controller, the energy meter, the batcher) takes as
 * its `timers` option, so tests drive time with a fake and no package hides
 * a global timer. The algorithms here never start one; `realTimers` is only
 * the default that packages above fall back to.
 */
import { CortexConfigError } from './errors.js'

/**
 * The host's timer functions, or a fake with the same shape. Handles are
 * opaque: whatever `setTimeout`/`setInterval` return is handed back to the
 * matching `clear` function.
 *
 * @example
 * const power = createPowerModeController({ modes, initial: 'normal', clock: () => now, timers: fakeTimers })
 */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown
  clearTimeout(handle: unknown): void
  setInterval(fn: () => void, ms: number): unknown
  clearInterval(handle: unknown): void
}

const TIMER_KEYS = ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] as const

/**
 * The host's global timers. Each call looks the global up when it is made, so
 * fake-timer libraries installed after this module loaded still apply.
 *
 * @example
 * const handle = realTimers.setTimeout(flush, 50)
 * realTimers.clearTimeout(handle)
 */
export const realTimers: Timers = Object.freeze({
  setTimeout: (fn: () => void, ms: number): unknown => globalThis.setTimeout(fn, ms),
  clearTimeout: (handle: unknown): void =>
    globalThis.clearTimeout(handle as Parameters<typeof globalThis.clearTimeout>[0]),
  setInterval: (fn: () => void, ms: number): unknown => globalThis.setInterval(fn, ms),
  clearInterval: (handle: unknown): void =>
    globalThis.clearInterval(handle as Parameters<typeof globalThis.clearInterval>[0]),
})

/**
 * The timers to use from an injected, possibly partial set: each function
 * given is used, each missing one comes from `realTimers`. A member that is
 * present but not a function throws CortexConfigError naming it.
 *
 * @example
 * const timers = resolveTimers(options.timers, 'createPowerModeController')
 */
export function resolveTimers(timers: Partial<Timers> | undefined, where?: string): Timers {
  if (timers === undefined) return realTimers
  if (typeof timers !== 'object' || timers === null) {
    throw new CortexConfigError('timers', timers, `an object with ${TIMER_KEYS.join(', ')}`, where)
  }
  for (const key of TIMER_KEYS) {
    const fn = timers[key]
    if (fn !== undefined && typeof fn !== 'function') {
      throw new CortexConfigError(`timers.${key}`, fn, 'a function', where)
    }
  }
  return {
    setTimeout: timers.setTimeout ?? realTimers.setTimeout,
    clearTimeout: timers.clearTimeout ?? realTimers.clearTimeout,
    setInterval: timers.setInterval ?? realTimers.setInterval,
    clearInterval: timers.clearInterval ?? realTimers.clearInterval,
  }
}

/**
 * Lets the process exit while the timer behind `handle` is pending: calls the
 * handle's `unref()` (Node, Bun, most fakes) and does nothing for a handle
 * without one (browsers, plain numbers).
 *
 * @example
 * unrefTimer(realTimers.setInterval(sample, 1000))
 */
export function unrefTimer(handle: unknown): void {
  if (typeof handle !== 'object' || handle === null) return
  const unref = (handle as { unref?: unknown }).unref
  if (typeof unref === 'function') unref.call(handle)
}
