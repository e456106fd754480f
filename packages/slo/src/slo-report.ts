/**
 * `tracker.report()`: per-route counts, rates and percentiles from the route
 * table, and per-objective SLIs, error budgets and burn rates from the
 * objective windows, as plain data.
 */
import { errorBudget, sliRatio } from '@cortex/core'
import type { SloDefinitions } from './define-slos.js'
import { REPORT_WINDOWS, type ReportWindow } from './durations.js'
import { type ObjectiveWindows, reportWindowMs } from './objective-windows.js'
import { type RouteTable, STATUS_MIN, seriesCount } from './route-table.js'

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

/** What a report reads. */
export interface SloReportSource {
  readonly definitions: SloDefinitions
  readonly windows: ObjectiveWindows
  readonly table: RouteTable
  /** Clock reading when the tracker was created: request rates are per second since then. */
  readonly startedAt: number
  readonly invalidCount: number
}

export function buildReport(source: SloReportSource, now: number): SloReport {
  const { definitions, windows } = source
  return {
    service: definitions.service,
    window: definitions.window,
    at: now,
    routes: routeReports(source.table, (now - source.startedAt) / 1000),
    objectives: definitions.objectives.map((o, k): ObjectiveReport => {
      const { good, total } = windows.counts(k, definitions.windowMs, now)
      const budget = errorBudget({ objective: o.target, good, total })
      const burnRates = {} as Record<ReportWindow, number>
      for (const w of REPORT_WINDOWS) burnRates[w] = windows.burnRate(k, reportWindowMs(w), now)
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
    }),
    invalid: source.invalidCount,
    overflow: source.table.overflowCount,
  }
}

/** Routes that saw requests, in order of first appearance; status codes in ascending order. */
function routeReports(table: RouteTable, elapsedSeconds: number): RouteReport[] {
  const routes: RouteReport[] = []
  for (const stats of table.routes) {
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
  return routes
}
