/**
 * `cortex baseline`: drives load against every endpoint of an SLO
 * definition with autocannon (one endpoint after the other), measures each
 * response through an SLO tracker — so percentiles, error rates and
 * objective SLIs are computed exactly as in production — and renders the
 * result as JSON (for `cortex compare`) and Markdown.
 */
import { cpus } from 'node:os'
import { CortexConfigError, checkNumber } from '@cortex/core'
import {
  createSloTracker,
  defineSlos,
  type EndpointRequest,
  type SloConfig,
  type SloDefinitions,
  sampleRequests,
} from '@cortex/slo'
import autocannon from 'autocannon'

export interface BaselineOptions {
  /** Base URL of the running service, e.g. `http://127.0.0.1:3000`. */
  url: string
  slos: SloConfig | SloDefinitions
  /** Total load time in seconds, split evenly across the endpoints (default 30). */
  durationSeconds?: number
  /** Concurrent connections (default 10). */
  connections?: number
  /** Called when an endpoint starts, every second while it runs, and when it ends. */
  onProgress?: (progress: BaselineProgress) => void
  /**
   * Simulate many clients: each request carries `header: baseline-client-<n>`,
   * n cycling through `count` values, so per-client rate limits (keyed by an
   * API-key header) see many clients as real traffic would, not one.
   */
  clients?: { header: string; count: number }
}

export interface BaselineProgress {
  endpoint: string
  /** 1-based position of the endpoint, and how many there are. */
  index: number
  total: number
  phase: 'start' | 'tick' | 'done'
  elapsedSeconds: number
  durationSeconds: number
  responses: number
}

export interface BaselineEndpoint {
  endpoint: string
  method: string
  route: string
  path: string
  requests: number
  requestsPerSecond: number
  /** Milliseconds. */
  p50: number
  p95: number
  p99: number
  /** Fraction of 5xx responses and connection errors. */
  errorRate: number
  statusCodes: Record<string, number>
  /** Connection errors and timeouts. */
  errors: number
  /**
   * Responses refused with 429 (rate limited). They are counted here and in
   * `statusCodes` but kept out of the percentiles, the error rate and the
   * objectives: a refusal measures the limiter, not the endpoint's work.
   */
  refused: number
}

export interface BaselineObjective {
  name: string
  route: string
  kind: 'latency' | 'availability'
  /** k6 form of the objective: `p(95)<200` or `rate<0.005`. */
  threshold: string
  target: number
  /** Fraction of good requests measured. */
  sli: number
  met: boolean
  requests: number
}

export interface BaselineResult {
  version: 1
  service: string
  url: string
  createdAt: string
  durationSeconds: number
  connections: number
  environment: { node: string; platform: string; cpus: number; cpuModel: string }
  endpoints: BaselineEndpoint[]
  objectives: BaselineObjective[]
  /** Endpoints whose responses were mostly refusals (429): their figures describe the rate limiter. */
  refusalDominated: string[]
}

/** More than this share of an endpoint's responses refused (429): its run measured the limiter. */
export const REFUSAL_DOMINANCE = 0.5

/** True when most of an endpoint's responses were refusals (older result files count none). */
export function refusalsDominate(e: Pick<BaselineEndpoint, 'requests' | 'refused'>): boolean {
  const refused = e.refused ?? 0
  return e.requests > 0 && refused > REFUSAL_DOMINANCE * e.requests
}

/**
 * Runs the load and measures it.
 *
 * @example
 * const result = await runBaseline({ url: 'http://127.0.0.1:3000', slos, durationSeconds: 30 })
 * await writeFile('baseline.json', JSON.stringify(result, null, 2))
 * console.log(baselineMarkdown(result))
 */
export async function runBaseline(options: BaselineOptions): Promise<BaselineResult> {
  const where = 'runBaseline'
  const slos = defineSlos(options.slos)
  let base: URL
  try {
    base = new URL(options.url)
  } catch {
    throw new CortexConfigError(
      'url',
      options.url,
      'an absolute http(s) URL such as http://127.0.0.1:3000',
      where,
    )
  }
  const durationSeconds = checkNumber(options.durationSeconds ?? 30, 'durationSeconds', {
    min: 0,
    exclusiveMin: true,
    where,
  })
  const connections = checkNumber(options.connections ?? 10, 'connections', {
    min: 1,
    max: 10_000,
    integer: true,
    where,
  })
  let clients: { header: string; count: number } | undefined
  if (options.clients !== undefined) {
    const header = options.clients.header
    if (typeof header !== 'string' || !/^[A-Za-z0-9-]+$/.test(header)) {
      throw new CortexConfigError('clients.header', header, 'an HTTP header name such as "x-api-key"', where)
    }
    const count = checkNumber(options.clients.count, 'clients.count', { min: 1, integer: true, where })
    clients = { header: header.toLowerCase(), count }
  }
  const endpoints = sampleRequests(slos)
  if (endpoints.length === 0) {
    throw new CortexConfigError(
      'objectives',
      slos.objectives.map((o) => o.route),
      "at least one objective with a route (not only '*') or a `requests` entry: the baseline needs endpoints to drive",
      where,
    )
  }
  const tracker = createSloTracker(slos)
  const perEndpoint = durationSeconds / endpoints.length
  const measured: BaselineEndpoint[] = []
  for (const [i, endpoint] of endpoints.entries()) {
    measured.push(
      await drive(
        base,
        endpoint,
        tracker,
        perEndpoint,
        connections,
        i + 1,
        endpoints.length,
        options.onProgress,
        clients,
      ),
    )
  }
  const report = tracker.report()
  for (const m of measured) {
    const route = report.routes.find((r) => r.method === m.method && r.route === m.route)
    if (m.refused > 0) m.statusCodes = { ...m.statusCodes, '429': m.refused }
    if (!route) continue
    m.p50 = route.p50
    m.p95 = route.p95
    m.p99 = route.p99
    m.statusCodes = { ...route.statusCodes, ...(m.refused > 0 ? { '429': m.refused } : {}) }
    const fivexx = Object.entries(route.statusCodes).reduce(
      (n, [code, c]) => (Number(code) >= 500 ? n + c : n),
      0,
    )
    m.errorRate = (fivexx + m.errors) / Math.max(1, route.count + m.errors)
  }
  tracker.close()
  return {
    version: 1,
    service: slos.service,
    url: base.href,
    createdAt: new Date().toISOString(),
    durationSeconds,
    connections,
    environment: {
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
    },
    endpoints: measured,
    refusalDominated: measured.filter(refusalsDominate).map((e) => e.endpoint),
    objectives: report.objectives.map((o) => ({
      name: o.name,
      route: o.route,
      kind: o.kind,
      threshold: slos.objectives.find((d) => d.name === o.name)?.k6Threshold ?? '',
      target: o.target,
      sli: o.sli,
      met: o.met,
      requests: o.total,
    })),
  }
}

function drive(
  base: URL,
  endpoint: EndpointRequest,
  tracker: ReturnType<typeof createSloTracker>,
  durationSeconds: number,
  connections: number,
  index: number,
  total: number,
  onProgress: BaselineOptions['onProgress'],
  clients: { header: string; count: number } | undefined,
): Promise<BaselineEndpoint> {
  const hasBody = endpoint.body !== undefined
  const json = hasBody && typeof endpoint.body !== 'string'
  const headers: Record<string, string> = {
    ...(json ? { 'content-type': 'application/json' } : {}),
    ...endpoint.headers,
  }
  return new Promise((resolve, reject) => {
    let responses = 0
    let errors = 0
    let refused = 0
    const started = performance.now()
    const progress = (phase: BaselineProgress['phase']) =>
      onProgress?.({
        endpoint: endpoint.endpoint,
        index,
        total,
        phase,
        elapsedSeconds: (performance.now() - started) / 1000,
        durationSeconds,
        responses,
      })
    const instance = autocannon(
      {
        url: new URL(endpoint.path, base).href,
        method: endpoint.method as 'GET',
        headers,
        body: hasBody ? (json ? JSON.stringify(endpoint.body) : String(endpoint.body)) : undefined,
        ...(clients ? { requests: [{ setupRequest: rotateClient(clients) }] } : {}),
        connections,
        duration: durationSeconds,
      },
      (err, result) => {
        if (err) {
          reject(err)
          return
        }
        progress('done')
        const seconds = result.duration > 0 ? result.duration : durationSeconds
        resolve({
          endpoint: endpoint.endpoint,
          method: endpoint.method,
          route: endpoint.route,
          path: endpoint.path,
          requests: responses,
          requestsPerSecond: responses / seconds,
          p50: Number.NaN,
          p95: Number.NaN,
          p99: Number.NaN,
          errorRate: errors > 0 ? 1 : 0,
          statusCodes: {},
          errors,
          refused,
        })
      },
    )
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      responses++
      // A refusal is the limiter's answer, not the endpoint's: counted, never timed or judged.
      if (statusCode === 429) refused++
      else
        tracker.record({
          method: endpoint.method,
          route: endpoint.route,
          statusCode,
          durationMs: responseTime,
        })
    })
    instance.on('reqError', () => {
      errors++
    })
    instance.on('tick', () => progress('tick'))
    progress('start')
  })
}

/** An autocannon `setupRequest` that gives each request the next synthetic client id. */
function rotateClient({ header, count }: { header: string; count: number }) {
  let next = 0
  return (request: autocannon.Request): autocannon.Request => {
    request.headers = { ...request.headers, [header]: `baseline-client-${next}` }
    next = (next + 1) % count
    return request
  }
}

const ms = (v: number) => (Number.isFinite(v) ? (v >= 100 ? v.toFixed(0) : v.toFixed(2)) : '–')
const pct = (v: number) => `${+(v * 100).toPrecision(4)}%`

/**
 * The per-endpoint table (Markdown): requests, req/s, P50/P95/P99, error rate.
 *
 * @example
 * console.log(baselineTable(result))
 */
export function baselineTable(result: BaselineResult): string {
  const lines = [
    '| endpoint | requests | req/s | refused (429) | P50 (ms) | P95 (ms) | P99 (ms) | error rate |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
  ]
  for (const e of result.endpoints) {
    const refused = e.refused ?? 0
    const mark = refusalsDominate(e) ? ' ⚠' : ''
    lines.push(
      `| ${e.endpoint} | ${e.requests} | ${e.requestsPerSecond.toFixed(1)} | ${refused}${mark} | ${ms(e.p50)} | ${ms(e.p95)} | ${ms(e.p99)} | ${pct(e.errorRate)} |`,
    )
  }
  return lines.join('\n')
}

/**
 * The whole report (Markdown): context, the endpoint table and each objective's pass/fail.
 *
 * @example
 * await writeFile('baseline.md', baselineMarkdown(result))
 */
export function baselineMarkdown(result: BaselineResult): string {
  const per = result.durationSeconds / Math.max(1, result.endpoints.length)
  const lines = [
    `# Performance baseline: ${result.service}`,
    '',
    `${result.url} · ${result.createdAt} · ${result.durationSeconds} s of load (${+per.toFixed(2)} s per endpoint) · ${result.connections} connections · Node ${result.environment.node} · ${result.environment.cpus} × ${result.environment.cpuModel}`,
    '',
    baselineTable(result),
    '',
    '## Objectives',
    '',
    '| objective | route | objective | measured SLI | target | result |',
    '|---|---|---|---:|---:|---|',
  ]
  for (const o of result.objectives) {
    const verdict = o.requests === 0 ? 'no traffic' : o.met ? 'pass' : '**FAIL**'
    lines.push(`| ${o.name} | ${o.route} | ${o.threshold} | ${pct(o.sli)} | ${pct(o.target)} | ${verdict} |`)
  }
  const dominated = result.endpoints.filter(refusalsDominate)
  if (dominated.length > 0) lines.push('', refusalWarning(dominated))
  const odd = result.endpoints.filter((e) =>
    Object.keys(e.statusCodes).some((c) => c.startsWith('4') && c !== '429'),
  )
  if (odd.length > 0) {
    lines.push(
      '',
      `Note: ${odd.map((e) => e.endpoint).join(', ')} answered 4xx other than 429; check the sample requests (\`requests\` in the SLO config).`,
    )
  }
  return `${lines.join('\n')}\n`
}

/**
 * What to say when refusals dominate: the run measured the rate limiter, and
 * how to give each virtual client its own key instead.
 */
export function refusalWarning(
  endpoints: readonly Pick<BaselineEndpoint, 'endpoint' | 'requests' | 'refused'>[],
): string {
  const list = endpoints
    .map((e) => `${e.endpoint} (${e.refused ?? 0} of ${e.requests} refused with 429)`)
    .join(', ')
  return `WARNING: refusals dominate ${list}. These figures describe the rate limiter, not the endpoint: its percentiles and objectives count only the admitted responses, which are too few to trust. Give each virtual client its own key: run with --clients <n> (header x-api-key, or --client-header), configure the limiter with clientKey: { apiKeyHeader: 'x-api-key', apiKeys } recognising keys baseline-client-0 … baseline-client-<n-1>, or raise the limits for the run. Pass --allow-refusals to accept the result.`
}
