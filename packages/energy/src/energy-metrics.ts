/**
 * The meter's prom-client metrics, computed at scrape time from its snapshot
 * (nothing is recorded per request). prom-client stays an optional peer:
 * metrics are registered through @cortex/core's duck-typed collector.
 */
import {
  CortexConfigError,
  checkKnownKeys,
  checkObject,
  type PromLabels,
  type PromRegistryLike,
  registerCollector,
} from '@cortex/core'
import type { EnergySnapshot } from './energy-meter.js'
import { STATUS_CLASSES } from './request-ledger.js'
import { ENERGY_COMPONENTS } from './source.js'

export interface EnergyMetricsOptions {
  /** Prepended to every metric name, e.g. `app_`. Default none. */
  prefix?: string
}

/** The metric names (without prefix). */
export const ENERGY_METRIC_NAMES = [
  'energy_joules_total',
  'power_watts',
  'host_power_watts',
  'co2_grams_total',
  'carbon_intensity_grams_per_kwh',
  'energy_per_request_joules',
  'energy_estimated',
  'power_budget_watts',
] as const

/**
 * Registers `energy_joules_total{component}`, `power_watts{component}`
 * (this process's share), `host_power_watts{component}` (the machine's, the
 * figure the budget is compared with), `co2_grams_total`,
 * `carbon_intensity_grams_per_kwh`,
 * `energy_per_request_joules{method,route,status_class}` (a summary with
 * `_sum` and `_count` only; `method` and `route` as the SLO metrics label
 * them), `energy_estimated` (0/1) and `power_budget_watts` (no sample
 * without a budget). Usually called as `meter.registerMetrics(registry)`.
 *
 * @example
 * import { Registry } from 'prom-client'
 * const registry = new Registry()
 * registerEnergyMetrics(meter, registry)
 */
export function registerEnergyMetrics(
  meter: { snapshot(): EnergySnapshot },
  registry: PromRegistryLike,
  options: EnergyMetricsOptions = {},
): void {
  const where = 'registerMetrics'
  checkObject(options, 'options', where)
  checkKnownKeys(options, ['prefix'], where)
  const prefix = options.prefix ?? ''
  if (typeof prefix !== 'string' || !/^[a-zA-Z_:]?[a-zA-Z0-9_:]*$/.test(prefix)) {
    throw new CortexConfigError('prefix', prefix, 'a Prometheus metric name prefix such as "app_"', where)
  }
  if (typeof registry?.registerMetric !== 'function') {
    throw new CortexConfigError('registry', registry, 'a prom-client Registry', where)
  }
  // One snapshot per scrape: prom-client collects every metric in the same tick.
  let cached: EnergySnapshot | undefined
  const snap = (): EnergySnapshot => {
    if (cached === undefined) {
      cached = meter.snapshot()
      queueMicrotask(() => {
        cached = undefined
      })
    }
    return cached
  }
  const usedComponents = (s: EnergySnapshot) => ENERGY_COMPONENTS.filter((c) => s[c].sources.length > 0)

  registerCollector(registry, {
    name: `${prefix}energy_joules_total`,
    help: "This process's energy since the meter started, in joules, by component (its share of machine-wide sources; estimated when energy_estimated is 1).",
    type: 'counter',
    collect: () => {
      const s = snap()
      return usedComponents(s).map((c) => ({ value: s[c].joules, labels: { component: c } }))
    },
  })
  registerCollector(registry, {
    name: `${prefix}power_watts`,
    help: "This process's power over the latest sampling interval, in watts, by component (its share of machine-wide sources).",
    type: 'gauge',
    aggregator: 'sum',
    collect: () => {
      const s = snap()
      return usedComponents(s).map((c) => ({ value: s[c].watts, labels: { component: c } }))
    },
  })
  registerCollector(registry, {
    name: `${prefix}host_power_watts`,
    help: "The machine's power over the latest sampling interval, in watts, by component (what the power budget is compared with).",
    type: 'gauge',
    // Every process of a machine reads the same machine: the cluster shows one reading, not their sum.
    aggregator: 'max',
    collect: () => {
      const s = snap()
      return usedComponents(s).map((c) => ({ value: s.host[c].watts, labels: { component: c } }))
    },
  })
  registerCollector(registry, {
    name: `${prefix}co2_grams_total`,
    help: 'Grams of CO2e emitted by the energy consumed, at the grid intensity of each interval.',
    type: 'counter',
    collect: () => [{ value: snap().co2Grams, labels: {} }],
  })
  registerCollector(registry, {
    name: `${prefix}carbon_intensity_grams_per_kwh`,
    help: 'Grid carbon intensity in use, gCO2e per kWh.',
    type: 'gauge',
    aggregator: 'average',
    collect: () => [{ value: snap().carbonIntensity.gramsPerKWh, labels: {} }],
  })
  registerCollector(registry, {
    name: `${prefix}energy_per_request_joules`,
    help: 'Energy of ended requests by method, route and status class (time in flight share of each closed interval), in joules.',
    type: 'summary',
    collect: () => {
      const samples = []
      for (const r of Object.values(snap().routes)) {
        for (const status_class of STATUS_CLASSES) {
          const o = r.byStatusClass[status_class]
          if (o === undefined) continue
          // A name without a method (the API used directly) has no method label.
          const labels: PromLabels =
            r.method === ''
              ? { route: r.route, status_class }
              : { method: r.method, route: r.route, status_class }
          // Closed intervals only: a counter must never go down, and an estimate can be corrected downwards.
          samples.push({
            metricName: `${prefix}energy_per_request_joules_sum`,
            labels,
            value: o.settledJoules,
          })
          samples.push({ metricName: `${prefix}energy_per_request_joules_count`, labels, value: o.requests })
        }
      }
      return samples
    },
  })
  registerCollector(registry, {
    name: `${prefix}energy_estimated`,
    help: '1 when any energy figure comes from a model rather than a sensor, else 0.',
    type: 'gauge',
    aggregator: 'max',
    collect: () => [{ value: snap().estimated ? 1 : 0, labels: {} }],
  })
  registerCollector(registry, {
    name: `${prefix}power_budget_watts`,
    help: 'Configured average power budget, in watts.',
    type: 'gauge',
    aggregator: 'first',
    collect: () => {
      const budget = snap().powerBudgetWatts
      return budget === null ? [] : [{ value: budget, labels: {} }]
    },
  })
}
