/**
 * `cortex compare`: the regression check for CI. Compares two baseline
 * results endpoint by endpoint and objective by objective, with a relative
 * tolerance, and says whether anything got worse.
 */
import { CortexConfigError } from '@cortex/core'
import { type BaselineResult, refusalsDominate } from './baseline.js'

export interface CompareOptions {
  /** Allowed relative change before a metric counts as a regression (default 0.1 = 10 %). */
  tolerance?: number
  /** Latency changes smaller than this many ms never count (default 0). */
  minLatencyDeltaMs?: number
  /** Error-rate increases smaller than this absolute fraction never count (default 0.001). */
  minErrorRateDelta?: number
}

export type ComparedMetric = 'p50' | 'p95' | 'p99' | 'requestsPerSecond' | 'errorRate'

export interface ComparisonRow {
  endpoint: string
  metric: ComparedMetric
  baseline: number
  current: number
  /** (current − baseline) / baseline; NaN when the baseline is 0. */
  change: number
  regression: boolean
  /** Set when the row is shown but not judged: most responses of either run were refusals (429). */
  notCompared?: 'refusals'
}

export interface Comparison {
  tolerance: number
  rows: ComparisonRow[]
  objectives: { name: string; baseline: boolean; current: boolean; regression: boolean }[]
  /** Endpoints of the baseline the current run lacks (counted as regressions). */
  missing: string[]
  regressions: number
  ok: boolean
}

/**
 * Parses `10%`, `0.1` or a number into a fraction in [0, 10].
 *
 * @example
 * parseTolerance('10%') // → 0.1
 */
export function parseTolerance(value: string | number): number {
  const text = String(value).trim()
  const n = text.endsWith('%') ? Number(text.slice(0, -1)) / 100 : Number(text)
  if (!(n >= 0 && n <= 10) || text === '' || (!text.endsWith('%') && n > 1)) {
    throw new CortexConfigError(
      'tolerance',
      value,
      "a percentage such as '10%' or a fraction such as 0.1",
      'cortex compare',
    )
  }
  return n
}

/**
 * Compares `current` against `baseline`. A regression: a percentile above
 * baseline × (1 + tolerance); req/s below baseline × (1 − tolerance); an
 * error rate up by more than max(tolerance × baseline, minErrorRateDelta);
 * an objective that passed and now fails; an endpoint that disappeared.
 *
 * @example
 * const c = compareBaselines(baseline, current, { tolerance: 0.1 })
 * if (!c.ok) process.exitCode = 1
 */
export function compareBaselines(
  baseline: BaselineResult,
  current: BaselineResult,
  options: CompareOptions = {},
): Comparison {
  const tolerance = options.tolerance ?? 0.1
  const minLatency = options.minLatencyDeltaMs ?? 0
  const minError = options.minErrorRateDelta ?? 0.001
  const rows: ComparisonRow[] = []
  const missing: string[] = []
  for (const b of baseline.endpoints) {
    const c = current.endpoints.find((e) => e.endpoint === b.endpoint)
    if (!c) {
      missing.push(b.endpoint)
      continue
    }
    // A run whose responses were mostly 429s measured the limiter: its latency and throughput say
    // nothing about the endpoint, so they are shown but never called a regression.
    const refusals = refusalsDominate(b) || refusalsDominate(c)
    for (const metric of ['p50', 'p95', 'p99', 'requestsPerSecond', 'errorRate'] as const) {
      const before = b[metric]
      const after = c[metric]
      let regression: boolean
      if (metric === 'requestsPerSecond') regression = after < before * (1 - tolerance)
      else if (metric === 'errorRate') regression = after - before > Math.max(before * tolerance, minError)
      else regression = after > before * (1 + tolerance) && after - before > minLatency
      const judged = !refusals || metric === 'errorRate'
      rows.push({
        endpoint: b.endpoint,
        metric,
        baseline: before,
        current: after,
        change: before === 0 ? Number.NaN : (after - before) / before,
        regression: judged && regression,
        ...(judged ? {} : { notCompared: 'refusals' as const }),
      })
    }
  }
  const objectives = baseline.objectives.map((b) => {
    const c = current.objectives.find((o) => o.name === b.name)
    const now = c?.met ?? false
    return { name: b.name, baseline: b.met, current: now, regression: b.met && !now }
  })
  const regressions =
    rows.filter((r) => r.regression).length + objectives.filter((o) => o.regression).length + missing.length
  return { tolerance, rows, objectives, missing, regressions, ok: regressions === 0 }
}

const LABELS: Record<ComparedMetric, string> = {
  p50: 'P50 (ms)',
  p95: 'P95 (ms)',
  p99: 'P99 (ms)',
  requestsPerSecond: 'req/s',
  errorRate: 'error rate',
}

function fmt(metric: ComparedMetric, v: number): string {
  if (!Number.isFinite(v)) return '–'
  if (metric === 'errorRate') return `${+(v * 100).toPrecision(4)}%`
  return v >= 100 ? v.toFixed(0) : v.toFixed(2)
}

/**
 * The comparison as a Markdown table plus a verdict line.
 *
 * @example
 * console.log(formatComparison(compareBaselines(baseline, current)))
 */
export function formatComparison(c: Comparison): string {
  const lines = ['| endpoint | metric | baseline | current | change | |', '|---|---|---:|---:|---:|---|']
  for (const r of c.rows) {
    const change = Number.isNaN(r.change) ? '–' : `${r.change >= 0 ? '+' : ''}${(r.change * 100).toFixed(1)}%`
    lines.push(
      `| ${r.endpoint} | ${LABELS[r.metric]} | ${fmt(r.metric, r.baseline)} | ${fmt(r.metric, r.current)} | ${change} | ${r.regression ? '**REGRESSION**' : r.notCompared ? 'not compared: mostly 429s' : 'ok'} |`,
    )
  }
  for (const e of c.missing) lines.push(`| ${e} | (all) | measured | missing | – | **REGRESSION** |`)
  for (const o of c.objectives) {
    const show = (met: boolean) => (met ? 'pass' : 'fail')
    lines.push(
      `| objective ${o.name} | met | ${show(o.baseline)} | ${show(o.current)} | – | ${o.regression ? '**REGRESSION**' : 'ok'} |`,
    )
  }
  lines.push(
    '',
    c.ok
      ? `No regression (tolerance ${+(c.tolerance * 100).toFixed(2)}%).`
      : `${c.regressions} regression${c.regressions === 1 ? '' : 's'} (tolerance ${+(c.tolerance * 100).toFixed(2)}%).`,
  )
  return `${lines.join('\n')}\n`
}
