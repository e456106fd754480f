/**
 * A Grafana dashboard for the energy metrics a meter exposes
 * (`meter.registerMetrics(registry)`): the service's and the machine's power
 * by component against the budget, energy and CO₂ over time, grid intensity,
 * joules per request per route and outcome, and whether the figures are
 * measured or modelled. Every query is
 * plain PromQL over the metric names; a `datasource` variable picks the
 * Prometheus.
 */
import { CortexConfigError, checkKnownKeys, checkObject } from '@cortex/core'

export interface EnergyDashboardOptions {
  /** Dashboard title. Default `Energy and carbon`. */
  title?: string
  /** Dashboard uid. Default `cortex-energy`. */
  uid?: string
  /** Metric name prefix given to `registerMetrics`. Default none. */
  prefix?: string
  /** PromQL label matchers added to every query, e.g. `job="api"`. */
  selector?: string
}

interface Panel {
  id: number
  type: 'timeseries' | 'stat'
  title: string
  description: string
  gridPos: { x: number; y: number; w: number; h: number }
  datasource: { type: 'prometheus'; uid: string }
  targets: {
    expr: string
    legendFormat: string
    refId: string
    datasource: { type: 'prometheus'; uid: string }
  }[]
  fieldConfig: { defaults: { unit: string }; overrides: unknown[] }
}

// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana interpolates it
const DATASOURCE = { type: 'prometheus' as const, uid: '${datasource}' }

/**
 * The dashboard JSON (import it in Grafana, or provision it).
 *
 * @example
 * await writeFile('energy-dashboard.json', JSON.stringify(energyDashboard(), null, 2))
 */
export function energyDashboard(options: EnergyDashboardOptions = {}) {
  const where = 'energyDashboard'
  checkObject(options, 'options', where)
  checkKnownKeys(options, ['title', 'uid', 'prefix', 'selector'], where)
  const prefix = options.prefix ?? ''
  if (!/^[a-zA-Z_:]?[a-zA-Z0-9_:]*$/.test(prefix)) {
    throw new CortexConfigError('prefix', prefix, 'a Prometheus metric name prefix', where)
  }
  const selector = options.selector?.trim() ?? ''
  if (/[{}]/.test(selector))
    throw new CortexConfigError('selector', selector, 'label matchers without braces', where)
  const m = (name: string, extra = '') => {
    const labels = [selector, extra].filter(Boolean).join(',')
    return `${prefix}${name}${labels ? `{${labels}}` : ''}`
  }
  const rows: [string, string, string, [string, string][]][] = [
    [
      'Power by component',
      "Watts of each component: this service's share, and the machine's (what the budget is compared with; the highest reported when the selection covers several machines).",
      'watt',
      [
        [`sum by (component) (${m('power_watts')})`, '{{component}} (service)'],
        // Every process on a machine reports the same machine figure: one per instance, not their sum.
        [`max by (component) (${m('host_power_watts')})`, '{{component}} (machine)'],
        [`max(${m('power_budget_watts')})`, 'budget'],
      ],
    ],
    [
      'Energy per second',
      'Joules per second by component, from the cumulative counter.',
      'watt',
      [[`sum by (component) (rate(${m('energy_joules_total')}[5m]))`, '{{component}}']],
    ],
    [
      'Energy per request',
      'Joules per request per route and outcome (status class) over 5 minutes: admitted work (2xx) apart from refusals (4xx).',
      'joule',
      [
        [
          `sum by (method, route, status_class) (rate(${m('energy_per_request_joules_sum')}[5m])) / sum by (method, route, status_class) (rate(${m('energy_per_request_joules_count')}[5m]))`,
          '{{method}} {{route}} {{status_class}}',
        ],
      ],
    ],
    [
      'CO₂ per hour',
      'Grams of CO₂e emitted per hour.',
      'massg',
      [[`sum(rate(${m('co2_grams_total')}[5m])) * 3600`, 'gCO₂e/h']],
    ],
    [
      'Grid carbon intensity',
      'gCO₂e per kWh used for the figures.',
      'none',
      [[`max(${m('carbon_intensity_grams_per_kwh')})`, 'gCO₂e/kWh']],
    ],
    [
      'Modelled figures',
      '1 when any figure comes from a model rather than a sensor.',
      'none',
      [[`max(${m('energy_estimated')})`, 'estimated']],
    ],
  ]
  const panels: Panel[] = rows.map(([title, description, unit, targets], i) => ({
    id: i + 1,
    type: unit === 'none' ? 'stat' : 'timeseries',
    title,
    description,
    gridPos: { x: (i % 2) * 12, y: Math.floor(i / 2) * 8, w: 12, h: 8 },
    datasource: DATASOURCE,
    targets: targets.map(([expr, legendFormat], j) => ({
      expr,
      legendFormat,
      refId: String.fromCharCode(65 + j),
      datasource: DATASOURCE,
    })),
    fieldConfig: { defaults: { unit }, overrides: [] },
  }))
  return {
    title: options.title ?? 'Energy and carbon',
    uid: options.uid ?? 'cortex-energy',
    tags: ['cortex', 'energy', 'carbon'],
    timezone: 'browser',
    schemaVersion: 39,
    time: { from: 'now-6h', to: 'now' },
    refresh: '30s',
    templating: {
      list: [
        // No `current`: Grafana selects the default Prometheus data source.
        // (`current: {}` is not a VariableOption: it needs text and value.)
        { name: 'datasource', type: 'datasource', query: 'prometheus', label: 'Prometheus' },
      ],
    },
    panels,
  }
}
