/**
 * The tracker's burn-rate alerts: the same tiers the generated Prometheus
 * rules use (`evaluateBurnRateAlerts` from core), evaluated over the
 * tracker's own windows, with Prometheus' `for:` hold per severity. A
 * transition is emitted to `on('alert')` (firing) or `on('resolve')`
 * listeners; a timer evaluates every `alertInterval` while any listener is
 * registered (unref'd, so it never keeps the process alive). A listener that
 * throws is reported to `onListenerError` and never reaches the timer.
 */
import {
  type BurnRateSeverity,
  type BurnRateTierResult,
  CortexConfigError,
  evaluateBurnRateAlerts,
  type Timers,
  unrefTimer,
} from '@cortex/core'
import type { Objective, SloDefinitions } from './define-slos.js'
import type { ObjectiveWindows } from './objective-windows.js'

/** An alert transition, emitted to `on('alert')` (firing) and `on('resolve')` listeners. */
export interface SloAlert {
  slo: string
  service: string
  severity: BurnRateSeverity
  firing: boolean
  at: number
  /** The tiers of this severity that fire (empty when resolved). */
  tiers: BurnRateTierResult[]
  objective: Objective
}

/** What `evaluateAlerts` found for one objective. */
export interface ObjectiveAlertState {
  slo: string
  page: boolean
  ticket: boolean
  severity: BurnRateSeverity | null
  tiers: BurnRateTierResult[]
}

export type SloAlertListener = (alert: SloAlert) => void

export type SloAlertEvent = 'alert' | 'resolve'

const SEVERITIES = ['page', 'ticket'] as const

export class SloAlerts {
  private readonly listeners = { alert: new Set<SloAlertListener>(), resolve: new Set<SloAlertListener>() }
  /** Per objective, per severity (page, ticket): since when the condition holds, and whether it fired. */
  private readonly states: { since: number | undefined; firing: boolean }[][]
  private timer: unknown

  constructor(
    private readonly definitions: SloDefinitions,
    private readonly windows: ObjectiveWindows,
    private readonly clock: () => number,
    private readonly timers: Timers,
    private readonly intervalMs: number,
    private readonly onListenerError: (error: unknown) => void,
  ) {
    this.states = definitions.objectives.map(() => [
      { since: undefined, firing: false },
      { since: undefined, firing: false },
    ])
  }

  /** Evaluates the burn-rate alert tiers at `now`, emits transitions, returns the state per objective. */
  evaluate(now: number): ObjectiveAlertState[] {
    const results: ObjectiveAlertState[] = []
    this.definitions.objectives.forEach((o, k) => {
      const table = o.alerting.table
      if (table.length === 0) return
      const evaluation = evaluateBurnRateAlerts({
        objective: o.target,
        table,
        errorRatioFor: (w) => this.windows.errorRatio(k, w, now),
      })
      results.push({ slo: o.name, ...evaluation })
      const service = this.definitions.service
      const alert = (severity: BurnRateSeverity, firing: boolean, tiers: BurnRateTierResult[]): SloAlert => ({
        slo: o.name,
        service,
        severity,
        firing,
        at: now,
        tiers,
        objective: o,
      })
      SEVERITIES.forEach((severity, s) => {
        const state = this.states[k]![s]!
        if (evaluation[severity]) {
          if (state.since === undefined) state.since = now
          if (!state.firing && now - state.since >= o.alerting.forMs) {
            state.firing = true
            const tiers = evaluation.tiers.filter((t) => t.firing && t.tier.severity === severity)
            this.emit('alert', alert(severity, true, tiers))
          }
        } else {
          state.since = undefined
          if (state.firing) {
            state.firing = false
            this.emit('resolve', alert(severity, false, []))
          }
        }
      })
    })
    return results
  }

  on(event: SloAlertEvent, listener: SloAlertListener): void {
    this.listenerSet(event).add(listener)
    if (this.timer === undefined) {
      this.timer = this.timers.setInterval(() => {
        try {
          this.evaluate(this.clock())
        } catch (error) {
          this.onListenerError(error)
        }
      }, this.intervalMs)
      unrefTimer(this.timer)
    }
  }

  off(event: SloAlertEvent, listener: SloAlertListener): void {
    this.listenerSet(event).delete(listener)
    if (this.listeners.alert.size === 0 && this.listeners.resolve.size === 0) this.stopTimer()
  }

  /** Stops the timer and drops listeners. */
  close(): void {
    this.listeners.alert.clear()
    this.listeners.resolve.clear()
    this.stopTimer()
  }

  private listenerSet(event: string): Set<SloAlertListener> {
    if (event !== 'alert' && event !== 'resolve') {
      throw new CortexConfigError('event', event, '"alert" or "resolve"', 'SloTracker.on')
    }
    return this.listeners[event]
  }

  private stopTimer(): void {
    if (this.timer !== undefined) this.timers.clearInterval(this.timer)
    this.timer = undefined
  }

  private emit(event: SloAlertEvent, alert: SloAlert): void {
    for (const listener of this.listeners[event]) {
      try {
        listener(alert)
      } catch (error) {
        this.onListenerError(error)
      }
    }
  }
}
