/**
 * The same objectives for k6 users: thresholds keyed per endpoint tag, and a
 * ready-to-run script with the seed's load profile (ramp to 100 VUs over
 * 2 minutes, hold 5, ramp down 2) whose requests carry those tags.
 */
import { CortexConfigError } from '@cortex/core'
import { defineSlos, type SloConfig, type SloDefinitions } from './define-slos.js'
import {
  formatK6MetricName,
  formatK6ThresholdExpression,
  type K6Aggregation,
  parseK6MetricName,
  parseK6ThresholdExpression,
} from './k6-threshold.js'
import { statusRegex } from './metric-names.js'
import { sampleRequests } from './sample-requests.js'

/**
 * k6 `thresholds`: latency objectives on `http_req_duration`, availability
 * ones on `http_req_failed`; route objectives on the sub-metric of their
 * `endpoint` tag (`http_req_duration{endpoint:POST /embed/multimodal}`),
 * `'*'` objectives on the whole metric.
 *
 * @example
 * k6Thresholds(slos)
 * // → { 'http_req_duration{endpoint:POST /embed/multimodal}': ['p(95)<200'], http_req_failed: ['rate<0.005'] }
 */
export function k6Thresholds(
  input: SloConfig | SloDefinitions,
  options: { endpoints?: readonly string[] } = {},
): Record<string, string[]> {
  const slos = defineSlos(input)
  const out: Record<string, string[]> = {}
  for (const o of slos.objectives) {
    // With an endpoint filter, keep that endpoint's objectives and the service-wide ones.
    if (
      options.endpoints &&
      o.path !== undefined &&
      !options.endpoints.includes(`${o.method ?? 'GET'} ${o.path}`)
    ) {
      continue
    }
    const metric = o.kind === 'latency' ? 'http_req_duration' : 'http_req_failed'
    const tags: [string, string][] = o.path === undefined ? [] : [['endpoint', endpointTag(o.method, o.path)]]
    const key = checkedKey(metric, tags, o.name, o.route)
    const threshold = checkedThreshold(o.k6Threshold, o.kind === 'latency' ? 'p' : 'rate', o.name)
    const list = out[key] ?? []
    if (!list.includes(threshold)) list.push(threshold)
    out[key] = list
  }
  return out
}

/**
 * The threshold key, checked with k6's own parsing rules: k6 must read back
 * the same metric and tags, or the threshold would silently apply to another
 * submetric (a `,` in a route splits k6's tag list).
 */
function checkedKey(metric: string, tags: [string, string][], name: string, route: string): string {
  const key = formatK6MetricName({ metric, tags })
  const parsed = parseK6MetricName(key)
  if (
    parsed?.metric !== metric ||
    parsed.tags.length !== tags.length ||
    parsed.tags.some(([k, v], i) => k !== tags[i]?.[0] || v !== tags[i]?.[1])
  ) {
    throw new CortexConfigError(
      'route',
      route,
      'a route k6 can select as a submetric tag (no `,`, no leading or trailing quote or space)',
      `k6Thresholds, objective "${name}"`,
    )
  }
  return key
}

/** The threshold string, checked with k6's grammar: it must parse, use `aggregation`, and print back unchanged. */
function checkedThreshold(threshold: string, aggregation: K6Aggregation, name: string): string {
  const parsed = parseK6ThresholdExpression(threshold)
  if (parsed?.aggregation !== aggregation || formatK6ThresholdExpression(parsed) !== threshold) {
    throw new CortexConfigError(
      'threshold',
      threshold,
      `a k6 threshold on ${aggregation === 'p' ? 'p(N)' : aggregation} in k6's syntax`,
      `k6Thresholds, objective "${name}"`,
    )
  }
  return threshold
}

/** The `endpoint` tag value of a route: `'POST /x'`, or the bare path for any-method objectives. */
export function endpointTag(method: string | undefined, path: string): string {
  return method === undefined ? path : `${method} ${path}`
}

export interface K6ScriptOptions {
  /** Default base URL (the script reads `BASE_URL` from the environment first). Default `http://localhost:3000`. */
  baseUrl?: string
  /** Load profile: default ramp 2m to 100 VUs, hold 5m, ramp down 2m. */
  stages?: { duration: string; target: number }[]
  /** Only these endpoints (`'POST /x'`) and their thresholds, plus service-wide ones. Default: every endpoint. */
  endpoints?: readonly string[]
}

/** The seed's load profile. */
export const DEFAULT_K6_STAGES: readonly { duration: string; target: number }[] = Object.freeze([
  { duration: '2m', target: 100 },
  { duration: '5m', target: 100 },
  { duration: '2m', target: 0 },
])

/**
 * A k6 script driving every endpoint of the objectives (with the sample
 * requests of `requests`), tagged so `k6Thresholds` apply; k6 exits 99 when
 * a threshold fails.
 *
 * @example
 * await writeFile('load.js', k6Script(slos, { baseUrl: 'http://localhost:3000' }))
 * // k6 run -e BASE_URL=https://staging.example load.js
 */
export function k6Script(input: SloConfig | SloDefinitions, options: K6ScriptOptions = {}): string {
  const slos = defineSlos(input)
  const endpoints = sampleRequests(slos)
    .filter((e) => !options.endpoints || options.endpoints.includes(e.endpoint))
    .map((e) => {
      const objective = slos.objectives.find((o) => o.path === e.route && (o.method ?? 'GET') === e.method)
      // The tag must match the threshold key: any-method objectives are keyed by their bare path.
      const tag = objective ? endpointTag(objective.method, e.route) : e.endpoint
      return { ...e, tag }
    })
  const failing = slos.objectives.find((o) => o.kind === 'availability')
  const expected =
    failing && statusRegex(failing.errorStatusCodes) === '5..'
      ? 'http.setResponseCallback(http.expectedStatuses({ min: 100, max: 499 }))\n'
      : ''
  const requests = endpoints.map((e) => {
    const hasBody = e.body !== undefined
    const headers =
      hasBody && typeof e.body !== 'string' ? { 'content-type': 'application/json', ...e.headers } : e.headers
    const body = !hasBody
      ? 'null'
      : typeof e.body === 'string'
        ? JSON.stringify(e.body)
        : `JSON.stringify(${JSON.stringify(e.body)})`
    return `  http.request(${JSON.stringify(e.method)}, BASE_URL + ${JSON.stringify(e.path)}, ${body}, { headers: ${JSON.stringify(headers)}, tags: { endpoint: ${JSON.stringify(e.tag)} } })`
  })
  const baseUrl = options.baseUrl ?? 'http://localhost:3000'
  return `// Generated by @cortex/slo for service ${JSON.stringify(slos.service)}. Run: k6 run -e BASE_URL=${oneLine(baseUrl)} this-file.js
// Thresholds are the service's SLOs; k6 exits with code 99 when one fails.
import http from 'k6/http'

const BASE_URL = __ENV.BASE_URL || ${JSON.stringify(baseUrl)}
${expected}
/** @type {import('k6/options').Options} */
export const options = {
  stages: [
${(options.stages ?? DEFAULT_K6_STAGES).map((st) => `    { duration: ${JSON.stringify(st.duration)}, target: ${st.target} },`).join('\n')}
  ],
  thresholds: ${JSON.stringify(k6Thresholds(slos, { endpoints: options.endpoints }), null, 2).replace(/\n/g, '\n  ')},
}

export default function () {
${requests.join('\n')}
}
`
}

/** A value safe inside a `//` comment: no line breaks. */
function oneLine(text: string): string {
  return text.replace(/[\r\n\u2028\u2029]+/g, ' ')
}
