/**
 * Grafana's own schema as the judge of the energy dashboard: each
 * configuration's dashboard must type-check as `@grafana/schema`'s
 * `Dashboard` (the examples' committed dashboard is checked by @cortex/slo's
 * grafana-schema test).
 */
import { describe, expect, it } from 'vitest'
import { grafanaSchemaErrors } from '../../../test-support/grafana-schema.js'
import { energyDashboard } from './energy-dashboard.js'

describe("energyDashboard against Grafana's schema (@grafana/schema Dashboard, tsc)", () => {
  it('every configuration gives a Dashboard', async () => {
    const dashboards = {
      defaults: energyDashboard(),
      prefixed: energyDashboard({ prefix: 'app_', selector: 'job="api",env="prod"' }),
      named: energyDashboard({ title: 'Watts', uid: 'watts' }),
    }
    expect(await grafanaSchemaErrors(dashboards)).toBe('')
  })

  it('the check catches a variable whose current value has no text and value', async () => {
    const broken = structuredClone(energyDashboard())
    ;(broken.templating.list[0] as { current?: unknown }).current = {}
    expect(await grafanaSchemaErrors({ broken })).toMatch(
      /missing the following properties[^\n]*: text, value/,
    )
  })
})
