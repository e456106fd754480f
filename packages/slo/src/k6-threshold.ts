/**
 * k6's threshold syntax, both ways: `p(95)<200` is a latency objective
 * ("95% of requests within 200 ms") and `rate<0.005` an availability one
 * (at most 0.5% failed requests, k6's `http_req_failed`). Objectives written
 * either way render back to the same canonical strings.
 */

/** A k6 threshold string understood as an objective. */
export type ParsedK6Threshold =
  | { kind: 'latency'; percentile: number; thresholdMs: number }
  | { kind: 'availability'; errorRate: number }

const NUMBER = String.raw`(\d+(?:\.\d+)?(?:e[+-]?\d+)?)`
const LATENCY = new RegExp(String.raw`^p\(\s*${NUMBER}\s*\)\s*<=?\s*${NUMBER}$`, 'i')
const RATE = new RegExp(String.raw`^rate\s*<=?\s*${NUMBER}$`, 'i')

/**
 * Parses `p(N)<T` / `p(N)<=T` (ms) and `rate<R` / `rate<=R`; anything else
 * gives undefined. Ranges are checked by the caller, which names the objective.
 */
export function parseK6Threshold(text: string): ParsedK6Threshold | undefined {
  const trimmed = text.trim()
  const latency = LATENCY.exec(trimmed)
  if (latency) return { kind: 'latency', percentile: Number(latency[1]), thresholdMs: Number(latency[2]) }
  const rate = RATE.exec(trimmed)
  if (rate) return { kind: 'availability', errorRate: Number(rate[1]) }
  return undefined
}

/** `p(95)<200`: the canonical k6 form of a latency objective. */
export function formatLatencyThreshold(percentile: number, thresholdMs: number): string {
  return `p(${percentile})<${thresholdMs}`
}

/** `rate<0.005`: the canonical k6 form of an availability objective (on `http_req_failed`). */
export function formatRateThreshold(errorRate: number): string {
  return `rate<${errorRate}`
}
