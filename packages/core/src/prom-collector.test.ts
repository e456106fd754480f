import { AggregatorRegistry, Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { isCortexError } from './errors.js'
import { histogramSamples, type PromCollectorSpec, registerCollector } from './prom-collector.js'

describe('registerCollector', () => {
  it('exposes scrape-time samples through a real prom-client registry', async () => {
    const registry = new Registry()
    let watts = 42
    registerCollector(registry, {
      name: 'power_watts',
      help: 'Power',
      type: 'gauge',
      aggregator: 'sum',
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

/** Two workers' registries, each with one collector from `spec(worker)`, merged as a cluster primary does. */
async function aggregated(spec: (worker: number) => PromCollectorSpec): Promise<string> {
  const workers = await Promise.all(
    [0, 1].map((worker) => {
      const registry = new Registry()
      registerCollector(registry, spec(worker))
      return registry.getMetricsAsJSON()
    }),
  )
  return AggregatorRegistry.aggregate(workers).metrics()
}

describe('registerCollector: aggregation across cluster workers', () => {
  it.each([
    ['sum', 5],
    ['first', 2],
    ['min', 2],
    ['max', 3],
    ['average', 2.5],
  ] as const)(
    "a gauge declaring '%s' aggregates two workers' 2 and 3 to %d",
    async (aggregator, expected) => {
      const text = await aggregated((worker) => ({
        name: 'g',
        help: 'G',
        type: 'gauge',
        aggregator,
        collect: () => [{ value: 2 + worker, labels: {} }],
      }))
      expect(text).toContain(`\ng ${expected}\n`)
    },
  )

  it("a gauge declaring 'omit' is left out of the cluster's metrics", async () => {
    const text = await aggregated(() => ({
      name: 'g',
      help: 'G',
      type: 'gauge',
      aggregator: 'omit',
      collect: () => [{ value: 1, labels: {} }],
    }))
    expect(text).not.toContain('g 1')
  })

  it('counters and histograms sum across workers by default', async () => {
    const text = await aggregated(() => ({
      name: 'c_total',
      help: 'C',
      type: 'counter',
      collect: () => [{ value: 4, labels: { route: '/x' } }],
    }))
    expect(text).toContain('c_total{route="/x"} 8')
  })

  it('refuses a gauge without an aggregator, naming the option and the allowed values', () => {
    const registry = new Registry()
    const spec = { name: 'g', help: 'G', type: 'gauge', collect: () => [] }
    let error: unknown
    try {
      registerCollector(registry, spec as unknown as PromCollectorSpec)
    } catch (err) {
      error = err
    }
    expect(isCortexError(error, 'ERR_CORTEX_CONFIG')).toBe(true)
    expect(String(error)).toMatch(/aggregator.*g.*sum, first, min, max, average, omit.*undefined/s)
    expect(registry.getSingleMetric('g')).toBeUndefined()
  })

  it('refuses an aggregator prom-client does not know', () => {
    const spec = { name: 'c', help: 'C', type: 'counter', aggregator: 'median', collect: () => [] }
    expect(() => registerCollector(new Registry(), spec as unknown as PromCollectorSpec)).toThrow(
      /aggregator.*sum, first, min, max, average, omit.*"median"/s,
    )
  })

  it('requires a gauge to declare its aggregator at the type level', () => {
    // @ts-expect-error a gauge must say how it aggregates across cluster workers
    const gauge: PromCollectorSpec = { name: 'g', help: 'G', type: 'gauge', collect: () => [] }
    const counter: PromCollectorSpec = { name: 'c', help: 'C', type: 'counter', collect: () => [] }
    expect([gauge.type, counter.type]).toEqual(['gauge', 'counter'])
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
