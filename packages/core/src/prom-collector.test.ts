import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { histogramSamples, registerCollector } from './prom-collector.js'

describe('registerCollector', () => {
  it('exposes scrape-time samples through a real prom-client registry', async () => {
    const registry = new Registry()
    let watts = 42
    registerCollector(registry, {
      name: 'power_watts',
      help: 'Power',
      type: 'gauge',
      collect: () => [{ value: watts, labels: { component: 'cpu' } }],
    })
    expect(await registry.metrics()).toContain('power_watts{component="cpu"} 42')
    watts = 7
    expect(await registry.metrics()).toContain('power_watts{component="cpu"} 7')
  })

  it('renders histogram samples with le buckets, _sum and _count', async () => {
    const registry = new Registry()
    registerCollector(registry, {
      name: 'http_request_duration_seconds',
      help: 'Duration',
      type: 'histogram',
      collect: () =>
        histogramSamples('http_request_duration_seconds', { route: '/x' }, [0.1, 0.2], [3, 5], 7, 1.25),
    })
    const text = await registry.metrics()
    expect(text).toContain('http_request_duration_seconds_bucket{route="/x",le="0.2"} 5')
    expect(text).toContain('http_request_duration_seconds_bucket{route="/x",le="+Inf"} 7')
    expect(text).toContain('http_request_duration_seconds_count{route="/x"} 7')
  })
})

describe('histogramSamples', () => {
  it('lists one _bucket per bound, then +Inf, _sum and _count, in that order', () => {
    expect(histogramSamples('h', { route: '/x' }, [0.1, 0.2], [3, 5], 7, 1.25)).toEqual([
      { metricName: 'h_bucket', labels: { route: '/x', le: 0.1 }, value: 3 },
      { metricName: 'h_bucket', labels: { route: '/x', le: 0.2 }, value: 5 },
      { metricName: 'h_bucket', labels: { route: '/x', le: '+Inf' }, value: 7 },
      { metricName: 'h_sum', labels: { route: '/x' }, value: 1.25 },
      { metricName: 'h_count', labels: { route: '/x' }, value: 7 },
    ])
  })
})
