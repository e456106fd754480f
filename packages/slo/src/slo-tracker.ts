/**
 * The in-process side of an SLO: records every request in its own bounded
 * structures (a quantile sketch and exact bucket counts per route, exact
 * good/total counts per objective in sliding windows), reports percentiles,
 * SLIs, error budgets and burn rates, evaluates the same burn-rate alerts as
 * the generated Prometheus rules, and exposes it all to a prom-client
 * registry at scrape time. Nothing goes through prom-client per request.
 */
import {
  type BurnRateSeverity,
  type BurnRateTierResult,
  burnRate,
  CortexConfigError,
  checkKnownKeys,
  checkNumber,
  checkObject,
  errorBudget,
  errorRatio,
  evaluateBurnRateAlerts,
  histogramSamples,
  type PromRegistryLike,
  type PromSample,
  parseDuration,
  QuantileSketch,
  registerCollector,
  sliRatio,
  UNMATCHED_ROUTE,
  WindowedCounter,
} from '@cortex/core'
import {
  defineSlos,
  HTTP_METHODS,
  type Objective,
  type SloConfig,
  type SloDefinitions,
} from './define-slos.js'
import { HOUR_MS, MINUTE_MS, REPORT_WINDOWS, type ReportWindow } from './durations.js'
import { DEFAULT_BUCKETS_SECONDS, DURATION_METRIC, statusMatches } from './metric-names.js'

/** One finished request, as an adapter (or you) reports it. */
export interface RequestRecord {
  /** Upper-case HTTP method. */
  method: string
  /** The matched route template (`/users/:id`), or undefined when nothing matched (a 404). Never a raw URL. */
  route: string | undefined
  statusCode: number
  /** Wall time of the request in milliseconds. NaN, negative or infinite: counted as invalid. */
  durationMs: number
  /** When it ended, on the tracker's clock (ms). Default: `clock()`; adapters pass it to save a clock read. */
  at?: number
}

export interface SloTrackerOptions {
  /** A prom-client `Registry`: the histogram and SLO gauges are registered there, computed at scrape time. */
  registry?: PromRegistryLike
  /** Milliseconds, monotonic (default `performance.now()`): windows, rates and adapter-measured durations. */
  clock?: () => number
  /** Distinct (method, route) pairs tracked besides objective routes; more collapse into `__unmatched__` (default 200). */
  maxRoutes?: number
  /** Histogram bucket upper bounds in seconds (default prom-client's); every objective threshold is added. */
  buckets?: readonly number[]
  /** Relative accuracy of the per-route quantile sketch (default 0.01: p50/p95/p99 within 1 %). */
  relativeAccuracy?: number
  /** How often `on('alert')` listeners are evaluated (default `'30s'`). */
  alertInterval?: string | number
  /** Receives errors thrown by alert listeners (default: `console.error`). They never reach the timer. */
  onListenerError?: (error: unknown) => void
}

export interface RouteReport {
  method: string
  /** Route template, or `__unmatched__`. */
  route: string
  count: number
  /** Requests per second since the tracker was created. */
  requestRate: number
  /** Fraction of 5xx responses. */
  errorRate: number
  /** Percentiles in milliseconds (within the sketch's relative accuracy); NaN without requests. */
  p50: number
  p95: number
  p99: number
  /** Requests per exact status code. */
  statusCodes: Record<string, number>
}

export interface ObjectiveReport {
  name: string
  route: string
  kind: 'latency' | 'availability'
  /** Fraction of good requests promised, e.g. 0.95. */
  target: number
  /** Fraction of good requests over the SLO period (as far as this process has seen); 1 without traffic. */
  sli: number
  met: boolean
  good: number
  total: number
  /** 1 − consumed budget; negative once the SLO is missed. */
  errorBudgetRemaining: number
  /** Error ratio over the window ÷ (1 − target). */
  burnRates: Record<ReportWindow, number>
  /** Latency objectives: the threshold (ms) and percentile. */
  thresholdMs?: number
  percentile?: number
}

export interface SloReport {
  service: string
  window: string
  /** Clock reading the report was computed at (ms). */
  at: number
  routes: RouteReport[]
  objectives: ObjectiveReport[]
  /** Records refused (bad duration, status or shape). */
  invalid: number
  /** Records collapsed into `__unmatched__` because `maxRoutes` was reached. */
  overflow: number
}

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
  /** Stops the alert timer and drops listeners. */
  close(): void
}

const FINE_SLOT_MS = 10_000
const FINE_HORIZON_MS = 6 * HOUR_MS
const LONG_SLOT_MS = 5 * MINUTE_MS
const STATUS_MIN = 100
const STATUS_SPAN = 500
const MAX_ROUTE_LENGTH = 256
const OTHER_METHOD = 'OTHER'
const KNOWN_METHODS: readonly string[] = [...HTTP_METHODS, 'CONNECT', 'TRACE']

/**
 * One (route, method, status) series: non-cumulative counts per histogram
 * bucket (the last one is +Inf), then the sum of durations in ms. One typed
 * array, so `record` touches no boxed number fields; the count is the sum of
 * the buckets, computed when read.
 */
type StatusStats = Float64Array

function seriesCount(status: StatusStats): number {
  let n = 0
  for (let b = 0; b < status.length - 1; b++) n += status[b]!
  return n
}

class RouteEntry {
  readonly methods: string[] = []
  readonly stats: RouteStats[] = []
  find(method: string): RouteStats | undefined {
    const i = this.methods.indexOf(method)
    return i === -1 ? undefined : this.stats[i]
  }
}

class RouteStats {
  /** Every recorded duration of this (method, route), for its percentiles. */
  readonly sketch: QuantileSketch
  readonly byStatus: (StatusStats | undefined)[] = new Array(STATUS_SPAN).fill(undefined)
  /** Status codes seen, in order of first appearance (for scrape-time iteration). */
  readonly codes: number[] = []
  constructor(
    readonly method: string,
    readonly route: string,
    relativeAccuracy: number,
  ) {
    this.sketch = new QuantileSketch({ relativeAccuracy })
  }
}

/** Where an objective's good and total counts come from: its routes' exact histograms. */
interface ObjectiveSource {
  readonly routes: RouteStats[]
  /** Latency: requests in histogram buckets 0..thresholdBucket are good. −1 for availability. */
  readonly thresholdBucket: number
}

/** The histogram bucket of each sketch slot: see `record`. */
const SEARCH_BUCKET = 255

const TRACKER_KEYS = [
  'registry',
  'clock',
  'maxRoutes',
  'buckets',
  'relativeAccuracy',
  'alertInterval',
  'onListenerError',
] as const

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
  private readonly clock: () => number
  private readonly boundsMs: Float64Array
  private readonly bucketCount: number
  private readonly maxRoutes: number
  private readonly relativeAccuracy: number
  private readonly objectives: readonly Objective[]
  /** Per objective × status offset: 1 when that status is bad for the objective. */
  private readonly badStatus: Uint8Array
  private readonly fine: WindowedCounter[]
  private readonly long: WindowedCounter[]
  /** Per objective: the routes it counts and how. */
  private readonly sources: ObjectiveSource[]
  /** Per objective: cumulative good/total already added to the windows (the rest is the current slot). */
  private readonly rolledGood: Float64Array
  private readonly rolledTotal: Float64Array
  /**
   * Per sketch slot: the histogram bucket of its values, and the one bound
   * inside the slot (values above it go one bucket up; +∞ when none).
   * SEARCH_BUCKET where a slot holds several bounds or is open-ended.
   */
  private readonly bucketOfSlot: Uint8Array
  private readonly boundInSlot: Float64Array
  private slotStart = Number.NEGATIVE_INFINITY
  private slotEnd = Number.NEGATIVE_INFINITY
  /** method → route template → stats. */
  /** route template → its stats per method (a short list scanned with ===). */
  private readonly byRoute = new Map<string, RouteEntry>()
  private readonly unmatched = new RouteEntry()
  private readonly routes: RouteStats[] = []
  private dynamicRoutes = 0
  private invalidCount = 0
  private overflowCount = 0
  private readonly startedAt: number
  private readonly listeners = { alert: new Set<SloAlertListener>(), resolve: new Set<SloAlertListener>() }
  private readonly alertIntervalMs: number
  private readonly onListenerError: (error: unknown) => void
  private timer: ReturnType<typeof setInterval> | undefined
  private readonly alertStates: { since: number | undefined; firing: boolean }[][]

  constructor(definitions: SloDefinitions, options: SloTrackerOptions) {
    const where = 'createSloTracker options'
    checkObject(options, 'options', where)
    checkKnownKeys(options, TRACKER_KEYS, where)
    this.definitions = definitions
    this.objectives = definitions.objectives
    if (options.clock !== undefined && typeof options.clock !== 'function') {
      throw new CortexConfigError('clock', options.clock, 'a function returning milliseconds', where)
    }
    this.clock = options.clock ?? (() => performance.now())
    this.maxRoutes = checkNumber(options.maxRoutes ?? 200, 'maxRoutes', {
      min: 0,
      max: 100_000,
      integer: true,
      where,
    })
    this.relativeAccuracy = checkNumber(options.relativeAccuracy ?? 0.01, 'relativeAccuracy', {
      min: 0.0001,
      max: 0.5,
      where,
    })
    this.alertIntervalMs = parseDuration(options.alertInterval ?? '30s', 'alertInterval', where)
    if (options.onListenerError !== undefined && typeof options.onListenerError !== 'function') {
      throw new CortexConfigError('onListenerError', options.onListenerError, 'a function', where)
    }
    this.onListenerError =
      options.onListenerError ?? ((error) => console.error('@cortex/slo alert listener failed:', error))

    // Buckets: defaults (or the user's) plus every latency threshold, exactly.
    const secondsIn = options.buckets ?? DEFAULT_BUCKETS_SECONDS
    if (!Array.isArray(secondsIn))
      throw new CortexConfigError('buckets', secondsIn, 'an array of seconds', where)
    const ms = new Set<number>()
    for (const s of secondsIn) ms.add(checkNumber(s, 'buckets', { min: 0, exclusiveMin: true, where }) * 1000)
    for (const o of this.objectives) if (o.thresholdMs !== undefined) ms.add(o.thresholdMs)
    const sorted = [...ms].sort((a, b) => a - b)
    if (sorted.length > 64)
      throw new CortexConfigError('buckets', secondsIn, 'at most 64 bucket bounds', where)
    this.boundsMs = Float64Array.from(sorted)
    this.bucketCount = sorted.length + 1
    this.buckets = Object.freeze(sorted.map((b) => b / 1000))

    const n = this.objectives.length
    this.badStatus = new Uint8Array(n * STATUS_SPAN)
    this.fine = []
    this.long = []
    this.alertStates = []
    this.objectives.forEach((o, k) => {
      if (o.kind === 'availability') {
        for (let code = STATUS_MIN; code < STATUS_MIN + STATUS_SPAN; code++) {
          if (statusMatches(o.errorStatusCodes, code)) this.badStatus[k * STATUS_SPAN + code - STATUS_MIN] = 1
        }
      }
      this.fine.push(new WindowedCounter({ slot: FINE_SLOT_MS, horizon: FINE_HORIZON_MS }))
      this.long.push(new WindowedCounter({ slot: LONG_SLOT_MS, horizon: definitions.windowMs }))
      this.alertStates.push([
        { since: undefined, firing: false },
        { since: undefined, firing: false },
      ])
    })
    this.rolledGood = new Float64Array(n)
    this.rolledTotal = new Float64Array(n)
    this.sources = this.objectives.map((o) => ({
      routes: [],
      thresholdBucket: o.thresholdMs === undefined ? -1 : sorted.indexOf(o.thresholdMs),
    }))

    // Slot → bucket: slots never decrease with the value, so bounds in earlier
    // slots are below every value of a slot and bounds in later ones above.
    const probe = new QuantileSketch({ relativeAccuracy: this.relativeAccuracy })
    const slots = probe.bucketCount
    this.bucketOfSlot = new Uint8Array(slots)
    this.boundInSlot = new Float64Array(slots).fill(Number.POSITIVE_INFINITY)
    const boundSlots = sorted.map((b) => probe.slotOf(b))
    let below = 0
    for (let slot = 0; slot < slots; slot++) {
      while (below < boundSlots.length && boundSlots[below]! < slot) below++
      let inside = 0
      while (below + inside < boundSlots.length && boundSlots[below + inside] === slot) inside++
      if (inside > 1 || slot === 0 || slot === slots - 1) this.bucketOfSlot[slot] = SEARCH_BUCKET
      else {
        this.bucketOfSlot[slot] = below
        if (inside === 1) this.boundInSlot[slot] = sorted[below]!
      }
    }

    // Objective routes always exist, so the cap can never push them out.
    for (const o of this.objectives) {
      if (o.path === undefined) continue
      for (const method of o.method === undefined ? KNOWN_METHODS : [o.method]) {
        this.addRoute(method, o.path)
      }
    }

    this.startedAt = this.clock()
    this.roll(this.startedAt)
    if (options.registry !== undefined) this.register(options.registry)
  }

  registerMetrics(registry: PromRegistryLike): void {
    this.register(registry)
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
    if (stats === undefined) stats = this.slowLookup(method, route)

    let at = request.at
    if (at === undefined) at = this.clock()
    if (at >= this.slotEnd) this.roll(at)

    // The sketch's slot gives the histogram bucket without searching the bounds.
    const slot = stats.sketch.record(durationMs)
    let bucket = this.bucketOfSlot[slot]!
    if (bucket === SEARCH_BUCKET) {
      const bounds = this.boundsMs
      bucket = 0
      while (bucket < bounds.length && durationMs > bounds[bucket]!) bucket++
    } else if (durationMs > this.boundInSlot[slot]!) bucket++
    let status = stats.byStatus[code - STATUS_MIN]
    if (status === undefined) status = this.addStatus(stats, code)
    status[bucket]!++
    status[this.bucketCount]! += durationMs
    // Objectives read these exact counts when a window slot ends (`roll`), not here.
  }

  report(now: number = this.clock()): SloReport {
    const elapsedSeconds = (now - this.startedAt) / 1000
    const routes: RouteReport[] = []
    for (const stats of this.routes) {
      let count = 0
      let errors = 0
      const statusCodes: Record<string, number> = {}
      for (const code of [...stats.codes].sort((a, b) => a - b)) {
        const c = seriesCount(stats.byStatus[code - STATUS_MIN]!)
        statusCodes[String(code)] = c
        count += c
        if (code >= 500) errors += c
      }
      if (count === 0) continue
      routes.push({
        method: stats.method,
        route: stats.route,
        count,
        requestRate: elapsedSeconds > 0 ? count / elapsedSeconds : 0,
        errorRate: errors / count,
        p50: stats.sketch.quantile(0.5),
        p95: stats.sketch.quantile(0.95),
        p99: stats.sketch.quantile(0.99),
        statusCodes,
      })
    }
    const objectives = this.objectives.map((o, k): ObjectiveReport => {
      const { good, total } = this.windowCounts(k, this.definitions.windowMs, now)
      const budget = errorBudget({ objective: o.target, good, total })
      const burnRates = {} as Record<ReportWindow, number>
      for (const w of REPORT_WINDOWS) burnRates[w] = this.burnRateOver(k, windowMs(w), now)
      const report: ObjectiveReport = {
        name: o.name,
        route: o.route,
        kind: o.kind,
        target: o.target,
        sli: sliRatio(good, total),
        met: sliRatio(good, total) >= o.target,
        good,
        total,
        errorBudgetRemaining: budget.remaining,
        burnRates,
      }
      if (o.thresholdMs !== undefined) {
        report.thresholdMs = o.thresholdMs
        report.percentile = o.percentile as number
      }
      return report
    })
    return {
      service: this.definitions.service,
      window: this.definitions.window,
      at: now,
      routes,
      objectives,
      invalid: this.invalidCount,
      overflow: this.overflowCount,
    }
  }

  evaluateAlerts(now: number = this.clock()): ObjectiveAlertState[] {
    const results: ObjectiveAlertState[] = []
    this.objectives.forEach((o, k) => {
      const table = o.alerting.table
      if (table.length === 0) return
      const evaluation = evaluateBurnRateAlerts({
        objective: o.target,
        table,
        errorRatioFor: (w) => this.errorRatioOver(k, w, now),
      })
      results.push({ slo: o.name, ...evaluation })
      ;(['page', 'ticket'] as const).forEach((severity, s) => {
        const state = this.alertStates[k]![s]!
        const firingNow = evaluation[severity]
        if (firingNow) {
          if (state.since === undefined) state.since = now
          if (!state.firing && now - state.since >= o.alerting.forMs) {
            state.firing = true
            this.emit('alert', {
              slo: o.name,
              service: this.definitions.service,
              severity,
              firing: true,
              at: now,
              tiers: evaluation.tiers.filter((t) => t.firing && t.tier.severity === severity),
              objective: o,
            })
          }
        } else {
          state.since = undefined
          if (state.firing) {
            state.firing = false
            this.emit('resolve', {
              slo: o.name,
              service: this.definitions.service,
              severity,
              firing: false,
              at: now,
              tiers: [],
              objective: o,
            })
          }
        }
      })
    })
    return results
  }

  on(event: 'alert' | 'resolve', listener: SloAlertListener): SloTracker {
    this.listenerSet(event).add(listener)
    if (this.timer === undefined) {
      this.timer = setInterval(() => {
        try {
          this.evaluateAlerts()
        } catch (error) {
          this.onListenerError(error)
        }
      }, this.alertIntervalMs)
      this.timer.unref?.()
    }
    return this
  }

  off(event: 'alert' | 'resolve', listener: SloAlertListener): SloTracker {
    this.listenerSet(event).delete(listener)
    if (this.listeners.alert.size === 0 && this.listeners.resolve.size === 0) this.stopTimer()
    return this
  }

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
    if (this.timer !== undefined) clearInterval(this.timer)
    this.timer = undefined
  }

  private emit(event: 'alert' | 'resolve', alert: SloAlert): void {
    for (const listener of this.listeners[event]) {
      try {
        listener(alert)
      } catch (error) {
        this.onListenerError(error)
      }
    }
  }

  private addStatus(stats: RouteStats, code: number): StatusStats {
    const status: StatusStats = new Float64Array(this.bucketCount + 1)
    stats.byStatus[code - STATUS_MIN] = status
    stats.codes.push(code)
    return status
  }

  /**
   * Objective k's good and total counts since the tracker started, summed from
   * its routes' exact histograms: the threshold is a bucket bound, so "≤
   * threshold" is a prefix of buckets; availability counts the statuses the
   * objective does not call bad.
   */
  private cumulative(k: number): { good: number; total: number } {
    const { routes, thresholdBucket } = this.sources[k]!
    let good = 0
    let total = 0
    for (const stats of routes) {
      for (const code of stats.codes) {
        const status = stats.byStatus[code - STATUS_MIN]!
        const count = seriesCount(status)
        total += count
        if (thresholdBucket >= 0) {
          for (let b = 0; b <= thresholdBucket; b++) good += status[b]!
        } else if (this.badStatus[k * STATUS_SPAN + code - STATUS_MIN] === 0) good += count
      }
    }
    return { good, total }
  }

  /** Moves the current fine slot to the one holding `at`, adding the counts of the slot that ended to the windows. */
  private roll(at: number): void {
    const start = Math.floor(at / FINE_SLOT_MS) * FINE_SLOT_MS
    if (!Number.isFinite(start)) return
    for (let k = 0; k < this.objectives.length; k++) {
      const { good, total } = this.cumulative(k)
      if (total === this.rolledTotal[k]) continue
      this.fine[k]!.add(this.slotStart, good - this.rolledGood[k]!, total - this.rolledTotal[k]!)
      this.long[k]!.add(this.slotStart, good - this.rolledGood[k]!, total - this.rolledTotal[k]!)
      this.rolledGood[k] = good
      this.rolledTotal[k] = total
    }
    this.slotStart = start
    this.slotEnd = start + FINE_SLOT_MS
  }

  /** Good and total counts of objective k over the last `windowMs`, including the current slot. */
  private windowCounts(k: number, windowMs: number, now: number): { good: number; total: number } {
    if (now >= this.slotEnd) this.roll(now)
    const counter = windowMs <= FINE_HORIZON_MS ? this.fine[k]! : this.long[k]!
    const inWindows = counter.sum(now, windowMs)
    const current = this.cumulative(k)
    return {
      good: inWindows.good + current.good - this.rolledGood[k]!,
      total: inWindows.total + current.total - this.rolledTotal[k]!,
    }
  }

  private errorRatioOver(k: number, windowMs: number, now: number): number {
    const { good, total } = this.windowCounts(k, windowMs, now)
    return errorRatio(total - good, total)
  }

  private burnRateOver(k: number, windowMs: number, now: number): number {
    return burnRate(this.errorRatioOver(k, windowMs, now), this.objectives[k]!.target)
  }

  /** First request of a (method, route) pair, an unknown method, or a route beyond the cap. */
  private slowLookup(method: unknown, route: unknown): RouteStats {
    const upper = typeof method === 'string' ? method.toUpperCase() : ''
    const name = KNOWN_METHODS.includes(upper) ? upper : OTHER_METHOD
    if (typeof route === 'string' && route.length > 0 && route.length <= MAX_ROUTE_LENGTH) {
      const existing = this.byRoute.get(route)?.find(name)
      if (existing) return existing
      if (this.dynamicRoutes < this.maxRoutes) {
        this.dynamicRoutes++
        return this.addRoute(name, route)
      }
    }
    if (route !== undefined) this.overflowCount++
    return this.unmatched.find(name) ?? this.addRoute(name, UNMATCHED_ROUTE)
  }

  private addRoute(method: string, template: string): RouteStats {
    const isUnmatched = template === UNMATCHED_ROUTE
    let entry = isUnmatched ? this.unmatched : this.byRoute.get(template)
    const existing = entry?.find(method)
    if (existing) return existing
    // A property key is an internalized string: lookups with the framework's
    // (usually internalized) template then compare pointers, not characters.
    const route = Object.keys({ [template]: 0 })[0] ?? template
    if (entry === undefined) {
      entry = new RouteEntry()
      this.byRoute.set(route, entry)
    }
    const matching = this.objectives.flatMap((o, k) =>
      o.path === undefined ||
      (!isUnmatched && o.path === route && (o.method === undefined || o.method === method))
        ? [k]
        : [],
    )
    const stats = new RouteStats(method, route, this.relativeAccuracy)
    for (const k of matching) this.sources[k]!.routes.push(stats)
    // Methods arrive as the framework's literals ('GET'): the entry keeps the internalized name.
    entry.methods.push(Object.keys({ [method]: 0 })[0] ?? method)
    entry.stats.push(stats)
    this.routes.push(stats)
    return stats
  }

  private register(registry: PromRegistryLike): void {
    if (typeof registry !== 'object' || registry === null || typeof registry.registerMetric !== 'function') {
      throw new CortexConfigError('registry', registry, 'a prom-client Registry', 'createSloTracker options')
    }
    const names = [
      DURATION_METRIC,
      'slo_objective_ratio',
      'slo_sli_ratio',
      'slo_error_budget_remaining_ratio',
      'slo_burn_rate',
      'slo_invalid_records_total',
      'slo_route_overflow_total',
    ]
    for (const name of names) {
      if (registry.getSingleMetric?.(name) !== undefined) {
        throw new CortexConfigError(
          'registry',
          `a registry that already has ${name}`,
          `a registry without a metric named ${name} (one tracker per registry; remove other HTTP duration metrics)`,
          'createSloTracker options',
        )
      }
    }
    registerCollector(registry, {
      name: DURATION_METRIC,
      help: 'Duration of HTTP requests in seconds, by method, route template and status code.',
      type: 'histogram',
      collect: () => this.histogram(),
    })
    const perObjective = (value: (o: Objective, k: number, now: number) => number) => (): PromSample[] => {
      const now = this.clock()
      return this.objectives.map((o, k) => ({ labels: { slo: o.name }, value: value(o, k, now) }))
    }
    registerCollector(registry, {
      name: 'slo_objective_ratio',
      help: 'Fraction of good requests each SLO promises.',
      type: 'gauge',
      collect: perObjective((o) => o.target),
    })
    registerCollector(registry, {
      name: 'slo_sli_ratio',
      help: 'Fraction of good requests over the SLO period, as seen by this process.',
      type: 'gauge',
      collect: perObjective((_o, k, now) => {
        const { good, total } = this.windowCounts(k, this.definitions.windowMs, now)
        return sliRatio(good, total)
      }),
    })
    registerCollector(registry, {
      name: 'slo_error_budget_remaining_ratio',
      help: 'Error budget left over the SLO period (negative once overspent), as seen by this process.',
      type: 'gauge',
      collect: perObjective((o, k, now) => {
        const { good, total } = this.windowCounts(k, this.definitions.windowMs, now)
        return errorBudget({ objective: o.target, good, total }).remaining
      }),
    })
    registerCollector(registry, {
      name: 'slo_burn_rate',
      help: 'Error ratio over the window divided by the error budget (1 − objective), as seen by this process.',
      type: 'gauge',
      collect: () => {
        const now = this.clock()
        return this.objectives.flatMap((o, k) =>
          REPORT_WINDOWS.map((w) => ({
            labels: { slo: o.name, window: w },
            value: this.burnRateOver(k, windowMs(w), now),
          })),
        )
      },
    })
    registerCollector(registry, {
      name: 'slo_invalid_records_total',
      help: 'Requests refused by the SLO tracker (NaN or negative duration, bad status code).',
      type: 'counter',
      collect: () => [{ labels: {}, value: this.invalidCount }],
    })
    registerCollector(registry, {
      name: 'slo_route_overflow_total',
      help: 'Requests recorded as __unmatched__ because the tracker reached maxRoutes.',
      type: 'counter',
      collect: () => [{ labels: {}, value: this.overflowCount }],
    })
  }

  private histogram(): PromSample[] {
    const samples: PromSample[] = []
    const bounds = this.buckets
    const cumulative = new Float64Array(bounds.length)
    for (const stats of this.routes) {
      for (const code of stats.codes) {
        const status = stats.byStatus[code - STATUS_MIN]!
        let running = 0
        for (let i = 0; i < bounds.length; i++) {
          running += status[i]!
          cumulative[i] = running
        }
        // `le` is rendered as String(seconds): the same text leLabel() gives the generated rules.
        const labels = { method: stats.method, route: stats.route, status_code: String(code) }
        samples.push(
          ...histogramSamples(
            DURATION_METRIC,
            labels,
            bounds,
            cumulative,
            seriesCount(status),
            status[this.bucketCount]! / 1000,
          ),
        )
      }
    }
    return samples
  }
}

function windowMs(w: ReportWindow): number {
  return { '5m': 5 * MINUTE_MS, '30m': 30 * MINUTE_MS, '1h': HOUR_MS, '6h': 6 * HOUR_MS }[w]
}
