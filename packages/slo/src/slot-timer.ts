/**
 * Moves the objective windows to their next slot at each slot boundary, so
 * that `record` needs no clock read: a record made without an end time
 * counts in the windows' current slot, and this timer keeps that slot the
 * one the clock is in.
 *
 * One `setTimeout` per tracker, re-armed for each boundary from the clock's
 * reading when it fires (a timer that fires early re-arms for the rest; one
 * that fires late does not shift the next boundary). A record made between
 * a boundary and the timer's firing counts in the slot before: records land
 * in their slot within the timer's lateness, one slot at most unless the
 * event loop was blocked for longer. The timer is unref'd, so it never keeps
 * the process alive; `stop` clears it.
 */
import { type Timers, unrefTimer } from '@cortex/core'
import type { ObjectiveWindows } from './objective-windows.js'

export class SlotTimer {
  private handle: unknown
  private stopped = false

  constructor(
    private readonly windows: ObjectiveWindows,
    private readonly clock: () => number,
    private readonly timers: Timers,
  ) {
    this.arm(clock())
  }

  /** Clears the timer; nothing moves the windows afterwards except queries and records given their end time. */
  stop(): void {
    this.stopped = true
    if (this.handle !== undefined) this.timers.clearTimeout(this.handle)
    this.handle = undefined
  }

  private readonly fire = (): void => {
    this.handle = undefined
    if (this.stopped) return
    const now = this.clock()
    this.windows.advance(now)
    this.arm(now)
  }

  private arm(now: number): void {
    const wait = this.windows.slotEnd - now
    const slot = this.windows.slotMs
    // At least 1 ms (Node's floor); at most one slot, should the clock step back or read NaN.
    const delay = wait >= 1 && wait <= slot ? wait : wait < 1 ? 1 : slot
    this.handle = this.timers.setTimeout(this.fire, delay)
    unrefTimer(this.handle)
  }
}
