/**
 * The PromQL the generated rules and dashboard share: selectors for an
 * objective's requests, its good/bad event counts, and the windows the
 * recording rules exist for.
 */
import type { Objective, SloDefinitions } from './define-slos.js'
import { BASE_WINDOW_MS, formatDuration, RULE_WINDOWS_MS } from './durations.js'
import { DURATION_METRIC, leMatcher, statusRegex } from './metric-names.js'

/** Label matchers (inside braces) selecting an objective's requests, plus `extra` matchers. */
export function objectiveMatchers(slos: SloDefinitions, objective: Objective, extra: string[] = []): string {
  const matchers: string[] = []
  if (slos.selector !== undefined) matchers.push(slos.selector)
  if (objective.path !== undefined) matchers.push(`route=${JSON.stringify(objective.path)}`)
  if (objective.method !== undefined) matchers.push(`method="${objective.method}"`)
  matchers.push(...extra)
  return `{${matchers.join(',')}}`
}

/** Matchers for every request of the service (the dashboard's per-route panels). */
export function serviceMatchers(slos: SloDefinitions, extra: string[] = []): string {
  const matchers = slos.selector === undefined ? [...extra] : [slos.selector, ...extra]
  return `{${matchers.join(',')}}`
}

/** Increase of all requests of the objective over `range` (a PromQL duration). */
export function totalEventsExpr(slos: SloDefinitions, o: Objective, range: string): string {
  return `sum(increase(${DURATION_METRIC}_count${objectiveMatchers(slos, o)}[${range}]))`
}

/**
 * Increase of the objective's bad requests over `range`: 5xx (or the
 * configured statuses) for availability; all minus those within the
 * threshold's exact `le` bucket for latency. `or vector(0)` keeps the ratio
 * at 0 (not "no data") while no bad series exists yet.
 */
export function badEventsExpr(slos: SloDefinitions, o: Objective, range: string): string {
  if (o.kind === 'availability') {
    const bad = objectiveMatchers(slos, o, [`status_code=~"${statusRegex(o.errorStatusCodes)}"`])
    return `(sum(increase(${DURATION_METRIC}_count${bad}[${range}])) or vector(0))`
  }
  const within = objectiveMatchers(slos, o, [leMatcher(o.thresholdMs as number)])
  return `(${totalEventsExpr(slos, o, range)} - (sum(increase(${DURATION_METRIC}_bucket${within}[${range}])) or vector(0)))`
}

/** Labels every recording rule of an objective carries. */
export function sloLabels(slos: SloDefinitions, o: Objective): Record<string, string> {
  return { slo: o.name, service: slos.service }
}

/** `{slo="x",service="y"}`: selects an objective's recorded series. */
export function sloSelector(slos: SloDefinitions, o: Objective): string {
  return `{slo=${JSON.stringify(o.name)},service=${JSON.stringify(slos.service)}}`
}

/** The windows (ms) an objective has `slo:sli_error:ratio_rate<w>` rules for, ascending. */
export function ruleWindows(slos: SloDefinitions, o: Objective): number[] {
  const set = new Set<number>([...RULE_WINDOWS_MS, slos.windowMs])
  for (const tier of o.alerting.table) {
    set.add(tier.longWindowMs)
    set.add(tier.shortWindowMs)
  }
  return [...set].filter((w) => w >= BASE_WINDOW_MS && w <= slos.windowMs).sort((a, b) => a - b)
}

/** `slo:sli_error:ratio_rate1h` */
export function errorRatioRecord(windowMs: number): string {
  return `slo:sli_error:ratio_rate${formatDuration(windowMs)}`
}
