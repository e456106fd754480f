/**
 * A Grafana dashboard for an SLO definition: traffic, errors and latency
 * percentiles per route from the tracker's histogram, and per objective the
 * SLI against its target, the error budget left and the burn rates, from the
 * generated recording rules. Every query is plain PromQL over those names; a
 * `datasource` variable picks the Prometheus.
 */
import { defineSlos, type SloConfig, type SloDefinitions } from './define-slos.js'
import { formatDuration } from './durations.js'
import { DURATION_METRIC } from './metric-names.js'
import { errorRatioRecord, serviceMatchers, sloSelector } from './promql.js'

export interface GrafanaTarget {
  expr: string
  legendFormat: string
  refId: string
  datasource: { type: 'prometheus'; uid: string }
}

export interface GrafanaPanel {
  id: number
  type: 'timeseries' | 'stat' | 'row'
  title: string
  description?: string
  gridPos: { x: number; y: number; w: number; h: number }
  datasource?: { type: 'prometheus'; uid: string }
  targets?: GrafanaTarget[]
  fieldConfig?: Record<string, unknown>
  options?: Record<string, unknown>
}

export interface GrafanaDashboard {
  title: string
  uid: string
  tags: string[]
  timezone: string
  schemaVersion: number
  time: { from: string; to: string }
  refresh: string
  templating: { list: Record<string, unknown>[] }
  panels: GrafanaPanel[]
}

// Grafana's variable syntax, not a template literal.
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana interpolates it
const DATASOURCE = { type: 'prometheus' as const, uid: '${datasource}' }

/**
 * The dashboard JSON (import it in Grafana, or provision it).
 *
 * @example
 * await writeFile('slo-dashboard.json', JSON.stringify(grafanaDashboard(slos), null, 2))
 */
export function grafanaDashboard(input: SloConfig | SloDefinitions): GrafanaDashboard {
  const slos = defineSlos(input)
  const panels: GrafanaPanel[] = []
  let id = 1
  let x = 0
  let y = 0
  const all = serviceMatchers(slos)
  const errors = serviceMatchers(slos, ['status_code=~"5.."'])
  const range = '$__rate_interval'
  const add = (
    type: GrafanaPanel['type'],
    title: string,
    targets: { expr: string; legend: string }[],
    unit: string,
    width: number,
    description?: string,
    extra: Partial<GrafanaPanel> = {},
  ) => {
    if (x + width > 24) {
      x = 0
      y += 8
    }
    const panel: GrafanaPanel = {
      id: id++,
      type,
      title,
      description,
      gridPos: { x, y, w: width, h: 8 },
      datasource: DATASOURCE,
      targets: targets.map((t, i) => ({
        expr: t.expr,
        legendFormat: t.legend,
        refId: String.fromCharCode(65 + i),
        datasource: DATASOURCE,
      })),
      fieldConfig: { defaults: { unit }, overrides: [] },
      ...extra,
    }
    panels.push(panel)
    x += width
  }
  const row = (title: string) => {
    if (panels.length > 0) y += 8
    panels.push({ id: id++, type: 'row', title, gridPos: { x: 0, y, w: 24, h: 1 } })
    x = 0
    y += 1
  }

  row('Traffic, errors and latency per route')
  add(
    'timeseries',
    'Request rate',
    [
      {
        expr: `sum by (method, route) (rate(${DURATION_METRIC}_count${all}[${range}]))`,
        legend: '{{method}} {{route}}',
      },
    ],
    'reqps',
    12,
  )
  add(
    'timeseries',
    'Error rate (5xx)',
    [
      {
        expr: `(sum by (method, route) (rate(${DURATION_METRIC}_count${errors}[${range}])) or sum by (method, route) (rate(${DURATION_METRIC}_count${all}[${range}])) * 0) / sum by (method, route) (rate(${DURATION_METRIC}_count${all}[${range}]))`,
        legend: '{{method}} {{route}}',
      },
    ],
    'percentunit',
    12,
  )
  for (const q of [0.5, 0.95, 0.99]) {
    add(
      'timeseries',
      `p${q * 100} latency`,
      [
        {
          expr: `histogram_quantile(${q}, sum by (le, method, route) (rate(${DURATION_METRIC}_bucket${all}[${range}])))`,
          legend: '{{method}} {{route}}',
        },
      ],
      's',
      8,
    )
  }

  for (const o of slos.objectives) {
    const sel = sloSelector(slos, o)
    row(`SLO ${o.name}: ${o.route} (${o.kind === 'latency' ? o.k6Threshold : `target ${o.target}`})`)
    add(
      'timeseries',
      `${o.name}: SLI vs objective`,
      [
        { expr: `1 - ${errorRatioRecord(slos.windowMs)}${sel}`, legend: `SLI (${slos.window})` },
        { expr: `1 - ${errorRatioRecord(3_600_000)}${sel}`, legend: 'SLI (1h)' },
        { expr: `slo:objective:ratio${sel}`, legend: 'objective' },
      ],
      'percentunit',
      8,
      o.description,
    )
    add(
      'stat',
      `${o.name}: error budget remaining (${slos.window})`,
      [{ expr: `slo:period_error_budget_remaining:ratio${sel}`, legend: 'remaining' }],
      'percentunit',
      8,
      undefined,
      {
        options: { reduceOptions: { calcs: ['lastNotNull'] }, colorMode: 'background' },
        fieldConfig: {
          defaults: {
            unit: 'percentunit',
            thresholds: {
              mode: 'absolute',
              steps: [
                { color: 'red', value: null },
                { color: 'orange', value: 0 },
                { color: 'green', value: 0.25 },
              ],
            },
          },
          overrides: [],
        },
      },
    )
    const windows = [...new Set(o.alerting.table.flatMap((t) => [t.shortWindowMs, t.longWindowMs]))].sort(
      (a, b) => a - b,
    )
    const burnWindows = windows.length > 0 ? windows : [300_000, 3_600_000, 21_600_000]
    add(
      'timeseries',
      `${o.name}: burn rate`,
      burnWindows.map((w) => ({
        expr: `${errorRatioRecord(w)}${sel} / on(slo, service) slo:error_budget:ratio${sel}`,
        legend: formatDuration(w),
      })),
      'none',
      8,
      'Error ratio over the window divided by the error budget: 1 spends exactly the budget over the period.',
    )
  }

  return {
    title: `SLOs: ${slos.service}`,
    uid: `cortex-slo-${slos.service}`.slice(0, 40),
    tags: ['slo', 'cortex', slos.service],
    timezone: 'browser',
    schemaVersion: 39,
    time: { from: 'now-6h', to: 'now' },
    refresh: '30s',
    templating: {
      list: [
        {
          name: 'datasource',
          label: 'Prometheus',
          type: 'datasource',
          query: 'prometheus',
          // No `current`: Grafana selects the default Prometheus data source.
          // (`current: {}` is not a VariableOption: it needs text and value.)
          hide: 0,
        },
      ],
    },
    panels,
  }
}

/**
 * Every PromQL query of a dashboard, with Grafana's `$__rate_interval` set
 * to `rateInterval` so Prometheus can evaluate them directly.
 *
 * @example
 * for (const q of dashboardQueries(grafanaDashboard(slos))) await fetch(`${prom}/api/v1/query?query=${encodeURIComponent(q)}`)
 */
export function dashboardQueries(dashboard: GrafanaDashboard, rateInterval = '1m'): string[] {
  return dashboard.panels.flatMap((p) =>
    (p.targets ?? []).map((t) => t.expr.replaceAll('$__rate_interval', rateInterval)),
  )
}
