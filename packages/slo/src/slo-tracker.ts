/**
 * The in-process side of an SLO: records every request in its own bounded
 * structures (a quantile sketch and exact bucket counts per route, exact
 * good/total counts per objective in sliding windows), reports percentiles,
 * SLIs, error budgets and burn rates, evaluates the same burn-rate alerts as
 * the generated Prometheus rules, and exposes it all to a prom-client
 * registry at scrape time. Nothing goes through prom-client per request.
 *
 * This file holds `record`, the one hot path, and wires the parts together:
 * the route table (`route-table.ts`), the histogram buckets
 * (`histogram-buckets.ts`), the objective windows (`objective-windows.ts`),
 * the alerts (`slo-alerts.ts`), the report (`slo-report.ts`) and the metrics
 * (`slo-tracker-metrics.ts`). On a known route and status `record` reads
 * the tracker's own fields only (the parts' maps and arrays are referenced
 * from here, not reached through the parts); it calls into the route table
 * for a new route or status code, and into the windows when a record given
 * its end time is past the slot. A record without one reads no clock: the
 * slot timer (`slot-timer.ts`) moves the windows at each slot boundary.
 */
import type { PromRegistryLike } from '@cortex/core'
import { defineSlos, type SloConfig, type SloDefinitions } from './define-slos.js'
import { bucketBoundsMs, SEARCH_BUCKET, slotBuckets } from './histogram-buckets.js'
import { ObjectiveWindows } from './objective-windows.js'
import {
  KNOWN_METHODS,
  type RouteEntry,
  type RouteStats,
  RouteTable,
  STATUS_MIN,
  STATUS_SPAN,
} from './route-table.js'
import { type ObjectiveAlertState, type SloAlertListener, SloAlerts } from './slo-alerts.js'
import { buildReport, type SloReport } from './slo-report.js'
import { registerSloMetrics } from './slo-tracker-metrics.js'
import { OPTIONS_WHERE, resolveTrackerOptions, type SloTrackerOptions } from './slo-tracker-options.js'
import { SlotTimer } from './slot-timer.js'

export type { ObjectiveAlertState, SloAlert, SloAlertListener } from './slo-alerts.js'
export type { ObjectiveReport, RouteReport, SloReport } from './slo-report.js'
export type { SloTrackerOptions } from './slo-tracker-options.js'

/** One finished request, as an adapter (or you) reports it. */
export interface RequestRecord {
  /** Upper-case HTTP method. */
  method: string
  /** The matched route template (`/users/:id`), or undefined when nothing matched (a 404). Never a raw URL. */
  route: string | undefined
  statusCode: number
  /** Wall time of the request in milliseconds. NaN, negative or infinite: counted as invalid. */
  durationMs: number
  /**
   * When it ended, on the tracker's clock (ms); the adapters pass it. Without
   * it the record counts in the windows' current 10-s slot, which a timer
   * moves at each boundary (no clock read per record; see the `timers` option).
   */
  at?: number
}

export interface SloTracker {
  readonly definitions: SloDefinitions
  /** Adds one request. Allocation-free on known routes; never throws. */
  record(request: RequestRecord): void
  /** The tracker's clock (ms). */
  now(): number
  report(now?: number): SloReport
  /** Evaluates the burn-rate alert tiers now, emits transitions, returns the state per objective. */
  evaluateAlerts(now?: number): ObjectiveAlertState[]
  on(event: 'alert' | 'resolve', listener: SloAlertListener): SloTracker
  off(event: 'alert' | 'resolve', listener: SloAlertListener): SloTracker
  /** The histogram's bucket upper bounds in seconds (sorted). */
  readonly buckets: readonly number[]
  /**
   * Registers the metrics `options.registry` gets on another registry: a
   * second prom-client Registry, or an adapter such as @cortex/otel's.
   */
  registerMetrics(registry: PromRegistryLike): void
  /** Stops the slot and alert timers and drops listeners. */
  close(): void
}

/**
 * Creates a tracker for a set of SLOs.
 *
 * @example
 * const tracker = createSloTracker(slos, { registry })
 * tracker.record({ route: '/embed/multimodal', method: 'POST', statusCode: 200, durationMs: 12.5 })
 * tracker.report().objectives[0] // → { name: 'embed-latency', sli: 1, met: true, burnRates: { '5m': 0, … }, … }
 * tracker.on('alert', (a) => pager.notify(`${a.slo} burns its budget (${a.severity})`))
 */
export function createSloTracker(
  slos: SloConfig | SloDefinitions,
  options: SloTrackerOptions = {},
): SloTracker {
  return new Tracker(defineSlos(slos), options)
}

class Tracker implements SloTracker {
  readonly definitions: SloDefinitions
  readonly buckets: readonly number[]
  readonly clock: () => number
  readonly table: RouteTable
  readonly windows: ObjectiveWindows
  readonly startedAt: number
  invalidCount = 0
  private readonly alerts: SloAlerts
  // The fields `record` reads, held here rather than reached through the parts.
  private readonly byRoute: Map<string, RouteEntry>
  private readonly unmatched: RouteEntry
  private readonly boundsMs: Float64Array
  /** Counts per status: the buckets (the last is +Inf), then the sum of durations at this index. */
  private readonly sumIndex: number
  /**
   * Per sketch slot: the histogram bucket of its values, and the one bound
   * inside the slot (values above it go one bucket up; +∞ when none).
   * SEARCH_BUCKET where a slot holds several bounds or is open-ended.
   */
  private readonly bucketOfSlot: Uint8Array
  private readonly boundInSlot: Float64Array
  /**
   * The windows' slot end as of this tracker's last roll: a record at or
   * after it asks the windows to roll. It may lag behind when a report
   * rolled the windows meanwhile; `advance` is then a no-op that catches up.
   */
  private slotEnd = Number.NEGATIVE_INFINITY
  /** True when a record without an end time reads the clock: a clock was given without timers. */
  private readonly clockPerRecord: boolean
  /** Moves the windows at each slot boundary; undefined when records read the clock instead. */
  private readonly slotTimer: SlotTimer | undefined

  constructor(definitions: SloDefinitions, options: SloTrackerOptions) {
    const config = resolveTrackerOptions(options)
    this.definitions = definitions
    this.clock = config.clock
    const boundsMs = bucketBoundsMs(options.buckets, definitions.objectives, OPTIONS_WHERE)
    this.boundsMs = Float64Array.from(boundsMs)
    this.sumIndex = boundsMs.length + 1
    this.buckets = Object.freeze(boundsMs.map((b) => b / 1000))
    const slots = slotBuckets(config.relativeAccuracy, boundsMs)
    this.bucketOfSlot = slots.bucketOfSlot
    this.boundInSlot = slots.boundInSlot

    const windows = new ObjectiveWindows(definitions.objectives, definitions.windowMs, boundsMs)
    this.windows = windows
    this.table = new RouteTable(config.maxRoutes, config.relativeAccuracy, boundsMs.length + 2, (stats) =>
      windows.addRoute(stats),
    )
    this.byRoute = this.table.byRoute
    this.unmatched = this.table.unmatched
    this.alerts = new SloAlerts(
      definitions,
      windows,
      this.clock,
      config.timers,
      config.alertIntervalMs,
      config.onListenerError,
    )

    // Objective routes always exist, so the cap can never push them out.
    for (const o of definitions.objectives) {
      if (o.path === undefined) continue
      for (const method of o.method === undefined ? KNOWN_METHODS : [o.method]) {
        this.table.addRoute(method, o.path)
      }
    }

    this.startedAt = this.clock()
    this.slotEnd = windows.advance(this.startedAt)
    this.clockPerRecord = config.clockPerRecord
    this.slotTimer = config.clockPerRecord ? undefined : new SlotTimer(windows, this.clock, config.timers)
    if (options.registry !== undefined) registerSloMetrics(options.registry, this)
  }

  registerMetrics(registry: PromRegistryLike): void {
    registerSloMetrics(registry, this)
  }

  now(): number {
    return this.clock()
  }

  record(request: RequestRecord): void {
    if (typeof request !== 'object' || request === null) {
      this.invalidCount++
      return
    }
    const durationMs = request.durationMs
    const code = request.statusCode
    if (
      !(durationMs >= 0 && durationMs < Number.POSITIVE_INFINITY) ||
      !(code >= STATUS_MIN && code < STATUS_MIN + STATUS_SPAN) ||
      (code | 0) !== code
    ) {
      this.invalidCount++
      return
    }
    const method = request.method
    const route = request.route
    const entry = route === undefined ? this.unmatched : this.byRoute.get(route)
    let stats: RouteStats | undefined
    if (entry !== undefined) {
      const methods = entry.methods
      for (let i = 0; i < methods.length; i++) {
        if (methods[i] === method) {
          stats = entry.stats[i]
          break
        }
      }
    }
    if (stats === undefined) stats = this.table.slowLookup(method, route)

    // Without an end time the record counts in the current slot, kept current by the slot timer.
    let at = request.at
    if (at === undefined && this.clockPerRecord) at = this.clock()
    if (at !== undefined && at >= this.slotEnd) this.slotEnd = this.windows.advance(at)

    // The sketch's slot gives the histogram bucket without searching the bounds.
    const slot = stats.sketch.record(durationMs)
    let bucket = this.bucketOfSlot[slot]!
    if (bucket === SEARCH_BUCKET) {
      const bounds = this.boundsMs
      bucket = 0
      while (bucket < bounds.length && durationMs > bounds[bucket]!) bucket++
    } else if (durationMs > this.boundInSlot[slot]!) bucket++
    let status = stats.byStatus[code - STATUS_MIN]
    if (status === undefined) status = this.table.addStatus(stats, code)
    status[bucket]!++
    status[this.sumIndex]! += durationMs
    // Objectives read these exact counts when a window slot ends (the windows' roll), not here.
  }

  report(now: number = this.clock()): SloReport {
    return buildReport(this, now)
  }

  evaluateAlerts(now: number = this.clock()): ObjectiveAlertState[] {
    return this.alerts.evaluate(now)
  }

  on(event: 'alert' | 'resolve', listener: SloAlertListener): SloTracker {
    this.alerts.on(event, listener)
    return this
  }

  off(event: 'alert' | 'resolve', listener: SloAlertListener): SloTracker {
    this.alerts.off(event, listener)
    return this
  }

  close(): void {
    this.slotTimer?.stop()
    this.alerts.close()
  }
}
