import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { energyDashboard } from './energy-dashboard.js'
import { createEnergyMeter } from './energy-meter.js'

describe('energyDashboard', () => {
  it('queries only metric names the meter exposes, with the prefix and selector', async () => {
    const registry = new Registry()
    const meter = createEnergyMeter({
      sources: [
        {
          name: 'fixed',
          kind: 'modelled',
          component: 'cpu',
          available: async () => ({ available: true as const }),
          read: async () => ({ watts: 10 }),
        },
      ],
      powerBudgetWatts: 100,
    })
    meter.registerMetrics(registry, { prefix: 'app_' })
    const exposed = new Set((await registry.getMetricsAsJSON()).map((m) => m.name))
    const dashboard = energyDashboard({ prefix: 'app_', selector: 'job="api"' })
    const names = dashboard.panels.flatMap((p) =>
      p.targets.flatMap((t) => t.expr.match(/app_[a-z0-9_]+/g) ?? []),
    )
    expect(names.length).toBeGreaterThan(5)
    for (const name of names) expect(exposed.has(name.replace(/_(sum|count)$/, ''))).toBe(true)
    for (const p of dashboard.panels) for (const t of p.targets) expect(t.expr).toContain('job="api"')
    expect(dashboard.templating.list[0]).toMatchObject({ name: 'datasource', type: 'datasource' })
    meter.stop()
  })

  it('rejects an unknown option', () => {
    expect(() => energyDashboard({ colour: 'green' } as never)).toThrow('`colour`')
  })
})
