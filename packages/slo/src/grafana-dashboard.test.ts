import { describe, expect, it } from 'vitest'
import { dashboardQueries, grafanaDashboard } from './grafana-dashboard.js'

const slos = {
  service: 'cortex-api',
  objectives: [
    { name: 'embed-latency', route: 'POST /embed/multimodal', latency: { percentile: 95, thresholdMs: 200 } },
    { name: 'availability', route: '*', availability: { errorRate: 0.005 } },
  ],
}

describe('grafanaDashboard', () => {
  it('has a datasource variable every query uses, and the per-route and per-SLO panels', () => {
    const dashboard = grafanaDashboard(slos)
    expect(dashboard.templating.list).toContainEqual(
      expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }),
    )
    const targets = dashboard.panels.flatMap((p) => p.targets ?? [])
    expect(targets.every((t) => t.datasource.uid === `\${datasource}`)).toBe(true)
    const titles = dashboard.panels.map((p) => p.title)
    for (const title of ['Request rate', 'Error rate (5xx)', 'p50 latency', 'p95 latency', 'p99 latency'])
      expect(titles).toContain(title)
    for (const name of ['embed-latency', 'availability']) {
      expect(titles).toContain(`${name}: SLI vs objective`)
      expect(titles).toContain(`${name}: error budget remaining (30d)`)
      expect(titles).toContain(`${name}: burn rate`)
    }
    const queries = dashboardQueries(dashboard, '5m')
    expect(
      queries.some((q) =>
        q.startsWith(
          'histogram_quantile(0.99, sum by (le, method, route) (rate(http_request_duration_seconds_bucket{}[5m])))',
        ),
      ),
    ).toBe(true)
    expect(queries.join('\n')).not.toContain('$__rate_interval')
    // panels never overlap
    const cells = new Set<string>()
    for (const p of dashboard.panels) {
      for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++) {
        for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
          expect(cells.has(`${x},${y}`), p.title).toBe(false)
          cells.add(`${x},${y}`)
        }
      }
    }
  })
})
