/**
 * The tracker's route table: one `RouteStats` per (method, route template),
 * each with a quantile sketch and exact histogram counts per status code.
 *
 * Routes are keyed by template in a Map; each entry keeps its methods in a
 * short list the tracker's `record` scans with `===` (a few pointer compares
 * on internalized strings). Objective routes are added up front; other
 * routes on first sight, up to `maxRoutes`, after which requests collapse
 * into `__unmatched__` and are counted as overflow, so the table never grows
 * without bound. Methods outside the known list are recorded as `OTHER`.
 */
import { QuantileSketch, UNMATCHED_ROUTE } from '@cortex/core'
import { HTTP_METHODS } from './define-slos.js'

/** Status codes 100..599 index `byStatus` and the objectives' status tables from 0. */
export const STATUS_MIN = 100
export const STATUS_SPAN = 500
const MAX_ROUTE_LENGTH = 256
const OTHER_METHOD = 'OTHER'
export const KNOWN_METHODS: readonly string[] = [...HTTP_METHODS, 'CONNECT', 'TRACE']

/**
 * One (route, method, status) series: non-cumulative counts per histogram
 * bucket (the last one is +Inf), then the sum of durations in ms. One typed
 * array, so `record` touches no boxed number fields; the count is the sum of
 * the buckets, computed when read.
 */
export type StatusStats = Float64Array

export function seriesCount(status: StatusStats): number {
  let n = 0
  for (let b = 0; b < status.length - 1; b++) n += status[b]!
  return n
}

/** One route template's stats, per method (a short list scanned with ===). */
export class RouteEntry {
  readonly methods: string[] = []
  readonly stats: RouteStats[] = []
  find(method: string): RouteStats | undefined {
    const i = this.methods.indexOf(method)
    return i === -1 ? undefined : this.stats[i]
  }
}

export class RouteStats {
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

export class RouteTable {
  /** Route template → its stats per method. */
  readonly byRoute = new Map<string, RouteEntry>()
  readonly unmatched = new RouteEntry()
  /** Every (method, route) in order of creation: reports and scrapes iterate it. */
  readonly routes: RouteStats[] = []
  /** Records collapsed into `__unmatched__` because `maxRoutes` was reached. */
  overflowCount = 0
  private dynamicRoutes = 0

  constructor(
    private readonly maxRoutes: number,
    private readonly relativeAccuracy: number,
    /** Counts per status: one per histogram bucket (+Inf included), then the sum. */
    private readonly statusLength: number,
    /** Called once for each new (method, route), before it records anything. */
    private readonly onNewRoute: (stats: RouteStats) => void,
  ) {}

  /** First request of a (method, route) pair, an unknown method, or a route beyond the cap. */
  slowLookup(method: unknown, route: unknown): RouteStats {
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

  /** Adds (or finds) a route outside the cap: objective routes always exist, so the cap never pushes them out. */
  addRoute(method: string, template: string): RouteStats {
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
    const stats = new RouteStats(method, route, this.relativeAccuracy)
    this.onNewRoute(stats)
    // Methods arrive as the framework's literals ('GET'): the entry keeps the internalized name.
    entry.methods.push(Object.keys({ [method]: 0 })[0] ?? method)
    entry.stats.push(stats)
    this.routes.push(stats)
    return stats
  }

  /** The first request with this status on the route. */
  addStatus(stats: RouteStats, code: number): StatusStats {
    const status: StatusStats = new Float64Array(this.statusLength)
    stats.byStatus[code - STATUS_MIN] = status
    stats.codes.push(code)
    return status
  }
}
