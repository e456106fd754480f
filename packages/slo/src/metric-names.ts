/**
 * The metric names and label conventions the tracker exposes and the
 * generated rules and dashboard query: one place, so they cannot drift.
 */

/** Histogram of request durations, labels `method`, `route`, `status_code` (express-prom-bundle's names). */
export const DURATION_METRIC = 'http_request_duration_seconds'

/** Bucket upper bounds (seconds) every tracker exposes, plus each objective's threshold. */
export const DEFAULT_BUCKETS_SECONDS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]

/**
 * The `le` label of a bucket whose upper bound is `ms` milliseconds, as the
 * tracker writes it (JavaScript's shortest round-trip form of the seconds).
 */
export function leLabel(ms: number): string {
  return String(ms / 1000)
}

/**
 * A PromQL matcher for that `le` bucket. Prometheus 3 rewrites integer
 * bounds as `2.0` on ingestion, so whole seconds match both spellings.
 */
export function leMatcher(ms: number): string {
  const le = leLabel(ms)
  return /^\d+$/.test(le) ? `le=~"${le}(?:[.]0)?"` : `le="${le}"`
}

/** Turns status patterns (`'5xx'`, `'429'`) into a PromQL regex: `5..|429`. */
export function statusRegex(patterns: readonly string[]): string {
  return patterns.map((p) => p.replace(/x/g, '.')).join('|')
}

/** True when `code` matches one of the patterns. */
export function statusMatches(patterns: readonly string[], code: number): boolean {
  const text = String(code)
  return patterns.some((p) => p.length === 3 && [...p].every((c, i) => c === 'x' || c === text[i]))
}
