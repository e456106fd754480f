/**
 * Duration helpers shared by the SLO definitions, the tracker and the
 * generators: the windows every part of the package agrees on, and the one
 * way a duration is written into PromQL, rule names and reports.
 */

import type { Duration } from '@cortex/core'

/**
 * A duration string as the options take it: a number and a unit, `'500ms'`,
 * `'30s'`, `'5m'`, `'1h'`, `'1d'` (values are checked when the definition is
 * built: positive, finite). The one type every package shares, from core.
 */
export type { Duration }

export const MINUTE_MS = 60_000
export const HOUR_MS = 60 * MINUTE_MS
export const DAY_MS = 24 * HOUR_MS

/** The windows `report()` gives burn rates for (and the `slo_burn_rate{window}` gauge exposes). */
export const REPORT_WINDOWS = ['5m', '30m', '1h', '6h'] as const
export type ReportWindow = (typeof REPORT_WINDOWS)[number]

/** Sloth's recording-rule windows (plus the SLO period): `slo:sli_error:ratio_rate<window>`. */
export const RULE_WINDOWS_MS: readonly number[] = [
  5 * MINUTE_MS,
  30 * MINUTE_MS,
  HOUR_MS,
  2 * HOUR_MS,
  6 * HOUR_MS,
  DAY_MS,
  3 * DAY_MS,
]

/** The base window every longer window is summed from: increases are recorded over it. */
export const BASE_WINDOW_MS = 5 * MINUTE_MS

/**
 * Writes milliseconds as a Prometheus duration in the largest whole unit:
 * 300000 → `5m`, 86400000 → `1d`, 1500 → `1500ms`.
 */
export function formatDuration(ms: number): string {
  const units: [string, number][] = [
    ['d', DAY_MS],
    ['h', HOUR_MS],
    ['m', MINUTE_MS],
    ['s', 1000],
  ]
  for (const [unit, size] of units) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`
  }
  return `${Math.round(ms)}ms`
}
