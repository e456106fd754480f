/**
 * k6's threshold syntax, both ways: `p(95)<200` is a latency objective
 * ("95% of requests within 200 ms") and `rate<0.005` an availability one
 * (at most 0.5% failed requests, k6's `http_req_failed`). Objectives written
 * either way render back to the same canonical strings.
 *
 * The general grammar is k6's own (metrics/thresholds_parser.go and
 * metrics.ParseMetricName): `aggregation operator value`, where aggregation
 * is `value`, `count`, `rate`, `avg`, `min`, `med`, `max` or `p(N)` with N in
 * [0, 100], and operator one of `<`, `<=`, `>`, `>=`, `==`, `===`, `!=`; a
 * threshold key is a metric name with an optional submetric selector,
 * `http_req_duration{expected_response:true}`. The generator checks every
 * threshold and key it writes against it.
 */

/** A latency threshold string: `p(95)<200` (milliseconds). */
export type K6LatencyThreshold = `p(${number})<${number}` | `p(${number})<=${number}`
/** An error-rate threshold string: `rate<0.005`. */
export type K6RateThreshold = `rate<${number}` | `rate<=${number}`
/** The threshold strings an objective accepts. */
export type K6Threshold = K6LatencyThreshold | K6RateThreshold

/** A k6 threshold string understood as an objective. */
export type ParsedK6Threshold =
  | { kind: 'latency'; percentile: number; thresholdMs: number }
  | { kind: 'availability'; errorRate: number }

export type K6Operator = '<' | '<=' | '>' | '>=' | '==' | '===' | '!='
export type K6Aggregation = 'value' | 'count' | 'rate' | 'avg' | 'min' | 'med' | 'max' | 'p'

/** One parsed k6 threshold expression: `p(95)<200` is `{ aggregation: 'p', percentile: 95, operator: '<', value: 200 }`. */
export interface K6ThresholdExpression {
  aggregation: K6Aggregation
  /** For `p(N)` only. */
  percentile?: number
  operator: K6Operator
  value: number
}

/** A threshold key: `http_req_duration{expected_response:true}` is `{ metric: 'http_req_duration', tags: [['expected_response', 'true']] }`. */
export interface K6MetricName {
  metric: string
  tags: [string, string][]
}

// k6 tries the operators in this order and cuts at the first that leaves a right-hand side.
const OPERATORS: readonly K6Operator[] = ['<=', '<', '>=', '>', '===', '==', '!=']
const AGGREGATIONS: readonly K6Aggregation[] = ['value', 'count', 'rate', 'avg', 'min', 'med', 'max']
// The decimal subset of Go's strconv.ParseFloat that JavaScript prints back.
const FLOAT = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/

function parseFloatStrict(text: string): number | undefined {
  if (!FLOAT.test(text)) return undefined
  const n = Number(text)
  return Number.isFinite(n) ? n : undefined
}

/**
 * Parses one threshold expression as k6 does; undefined when k6 would refuse it.
 *
 * @example
 * parseK6ThresholdExpression('p(95)<200') // → { aggregation: 'p', percentile: 95, operator: '<', value: 200 }
 * parseK6ThresholdExpression('count>10')  // → { aggregation: 'count', operator: '>', value: 10 }
 */
export function parseK6ThresholdExpression(text: string): K6ThresholdExpression | undefined {
  if (typeof text !== 'string') return undefined
  for (const operator of OPERATORS) {
    const at = text.indexOf(operator)
    if (at === -1) continue
    const right = text.slice(at + operator.length)
    if (right === '') continue
    const left = text.slice(0, at).trim()
    const value = parseFloatStrict(right.trim())
    if (value === undefined) return undefined
    if ((AGGREGATIONS as readonly string[]).includes(left)) {
      return { aggregation: left as K6Aggregation, operator, value }
    }
    if (left.startsWith('p(') && left.endsWith(')')) {
      const percentile = parseFloatStrict(left.slice(2, -1))
      if (percentile === undefined || percentile < 0 || percentile > 100) return undefined
      return { aggregation: 'p', percentile, operator, value }
    }
    return undefined
  }
  return undefined
}

/**
 * Writes an expression in k6's syntax (no spaces): the inverse of `parseK6ThresholdExpression`.
 *
 * @example
 * formatK6ThresholdExpression({ aggregation: 'rate', operator: '<', value: 0.005 }) // → 'rate<0.005'
 */
export function formatK6ThresholdExpression(e: K6ThresholdExpression): string {
  const left = e.aggregation === 'p' ? `p(${e.percentile})` : e.aggregation
  return `${left}${e.operator}${e.value}`
}

/**
 * Parses a threshold key as k6 does (`metric` or `metric{tag:value,...}`;
 * spaces around tags and quotes around keys and values are dropped, as k6
 * drops them); undefined when k6 would refuse it.
 *
 * @example
 * parseK6MetricName('http_req_duration{expected_response:true}') // → { metric: 'http_req_duration', tags: [['expected_response', 'true']] }
 */
export function parseK6MetricName(text: string): K6MetricName | undefined {
  if (typeof text !== 'string') return undefined
  const open = text.indexOf('{')
  const close = text.lastIndexOf('}')
  if (open === -1 && close === -1) return text === '' ? undefined : { metric: text, tags: [] }
  if (open === -1 || close === -1 || close < open || close !== text.length - 1) return undefined
  const metric = text.slice(0, open)
  if (metric === '') return undefined
  const tags: [string, string][] = []
  for (const part of text.slice(open + 1, close).split(',')) {
    const colon = part.indexOf(':')
    if (colon === -1 || colon === part.length - 1) return undefined
    const unquote = (s: string) => s.trim().replace(/^["']+|["']+$/g, '')
    tags.push([unquote(part.slice(0, colon)), unquote(part.slice(colon + 1))])
  }
  return { metric, tags }
}

/**
 * Writes a threshold key: the inverse of `parseK6MetricName`.
 *
 * @example
 * formatK6MetricName({ metric: 'http_req_duration', tags: [['endpoint', 'POST /embed']] }) // → 'http_req_duration{endpoint:POST /embed}'
 */
export function formatK6MetricName(name: K6MetricName): string {
  if (name.tags.length === 0) return name.metric
  return `${name.metric}{${name.tags.map(([k, v]) => `${k}:${v}`).join(',')}}`
}

/**
 * Parses `p(N)<T` / `p(N)<=T` (ms) and `rate<R` / `rate<=R`, the thresholds
 * an objective can be written as; anything else gives undefined. Ranges are
 * checked by the caller, which names the objective.
 */
export function parseK6Threshold(text: string): ParsedK6Threshold | undefined {
  const e = parseK6ThresholdExpression(typeof text === 'string' ? text.trim() : text)
  if (e === undefined || (e.operator !== '<' && e.operator !== '<=')) return undefined
  if (e.aggregation === 'p')
    return { kind: 'latency', percentile: e.percentile as number, thresholdMs: e.value }
  if (e.aggregation === 'rate') return { kind: 'availability', errorRate: e.value }
  return undefined
}

/** `p(95)<200`: the canonical k6 form of a latency objective. */
export function formatLatencyThreshold(percentile: number, thresholdMs: number): K6LatencyThreshold {
  return `p(${percentile})<${thresholdMs}`
}

/** `rate<0.005`: the canonical k6 form of an availability objective (on `http_req_failed`). */
export function formatRateThreshold(errorRate: number): K6RateThreshold {
  return `rate<${errorRate}`
}
