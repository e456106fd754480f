import { isCortexError } from '@cortex/core'
import { createEnergyMeter, type EnergySource } from '@cortex/energy'
import { createPowerModeController } from '@cortex/low-power'
import { createSloTracker, defineSlos } from '@cortex/slo'
import { createRateLimiter, memoryStore } from '@cortex/token-bucket'
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus'
import { MeterProvider } from '@opentelemetry/sdk-metrics'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { histogramProducer, publishMetrics, unitOf } from './publish-metrics.js'

const T0 = 1_700_000_000_000

const slos = defineSlos({
  service: 'api',
  window: '30d',
  objectives: [
    { name: 'embed-latency', route: 'POST /embed', latency: { percentile: 95, thresholdMs: 200 } },
    { name: 'plan-latency', route: 'POST /plan', threshold: 'p(99)<1234' },
    { name: 'availability', route: '*', availability: { errorRate: 0.01 } },
  ],
})

/** The four objects in a known state, their metrics on `registry` (prom-client) when given. */
async function world(registry?: Registry) {
  let now = T0
  const clock = () => now
  const tracker = createSloTracker(slos, { clock, ...(registry ? { registry } : {}) })
  const requests: [string, string | undefined, number, number][] = [
    ['POST', '/embed', 120, 200],
    ['POST', '/embed', 199, 200],
    ['POST', '/embed', 200, 200],
    ['POST', '/embed', 350, 503],
    ['POST', '/plan', 1234, 200],
    ['POST', '/plan', 1500, 200],
    ['GET', undefined, 3, 404],
  ]
  for (const [method, route, durationMs, statusCode] of requests) {
    tracker.record({ method, route, statusCode, durationMs })
    now += 1000
  }

  const source: EnergySource = {
    name: 'fake-cpu',
    kind: 'measured',
    component: 'cpu',
    available: async () => ({ available: true }),
    read: async () => ({ watts: 42 }),
  }
  const energy = createEnergyMeter({ sources: [source], clock, carbonIntensity: 400, powerBudgetWatts: 60 })
  if (registry) energy.registerMetrics(registry)
  await energy.sample()
  const endRequest = energy.startRequest('POST /embed')
  now += 5000
  await energy.sample()
  endRequest(undefined, undefined, 200)

  const limiter = createRateLimiter({
    policies: { 'POST /embed': { limit: 2, window: '1m' } },
    store: memoryStore(),
    clock,
    ...(registry ? { registry } : {}),
  })
  for (let i = 0; i < 3; i++) limiter.consume('client-a', 'POST /embed')

  const controller = createPowerModeController({
    modes: { normal: { concurrency: 4 }, low: { concurrency: 1 } },
    initial: 'normal',
    clock,
    timers: { setInterval: () => 0, clearInterval: () => {} },
    ...(registry ? { registry } : {}),
  })
  controller.set('low', { reason: 'test' })
  return {
    sources: { tracker, energy, limiter, controller },
    tracker,
    limiter,
    controller,
    close: () => tracker.close(),
  }
}

/** Every sample of a Prometheus text exposition: `name{sorted labels}` → value. */
function series(text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    if (!m) throw new Error(`unparsed line: ${line}`)
    const labels = [...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)]
      .map(([, k, v]) => `${k}=${JSON.stringify(v)}`)
      .sort()
    out.set(`${m[1]}{${labels.join(',')}}`, Number(m[3]))
  }
  return out
}

async function scrape(exporter: PrometheusExporter): Promise<string> {
  return new Promise((resolve) => {
    exporter.getMetricsRequestHandler(
      {} as never,
      { statusCode: 0, setHeader() {}, end: (text: string) => resolve(text) } as never,
    )
  })
}

function exporterFor(options: ConstructorParameters<typeof PrometheusExporter>[0] = {}) {
  const exporter = new PrometheusExporter({
    preventServerStart: true,
    withoutScopeInfo: true,
    withoutTargetInfo: true,
    ...options,
  })
  const provider = new MeterProvider({ readers: [exporter] })
  return { exporter, meter: provider.getMeter('@cortex/otel'), provider }
}

describe('publishMetrics', () => {
  it('the OpenTelemetry Prometheus exporter serves the series prom-client serves: same names, labels and values', async () => {
    const registry = new Registry()
    const prom = await world(registry)
    const expected = series(await registry.metrics())
    prom.close()

    const otel = await world()
    const { exporter, meter, provider } = exporterFor()
    publishMetrics(meter, otel.sources)
    const got = series(await scrape(exporter))
    otel.close()
    await provider.shutdown()

    // The comparison covers every package and the exact-threshold buckets.
    for (const key of [
      'http_request_duration_seconds_bucket{le="0.2",method="POST",route="/embed",status_code="200"}',
      'http_request_duration_seconds_bucket{le="1.234",method="POST",route="/plan",status_code="200"}',
      'http_request_duration_seconds_sum{method="POST",route="/embed",status_code="503"}',
      'slo_burn_rate{slo="availability",window="5m"}',
      'energy_joules_total{component="cpu"}',
      // The SLO metrics' method and route labels, and the outcome.
      'energy_per_request_joules_sum{method="POST",route="/embed",status_class="2xx"}',
      'host_power_watts{component="cpu"}',
      'power_budget_watts{}',
      'cortex_rate_limit_decisions_total{outcome="denied",policy="POST /embed"}',
      'power_mode{mode="low"}',
      'power_mode_changes_total{from="normal",reason="manual:test",to="low"}',
    ]) {
      expect(expected.has(key), key).toBe(true)
    }
    expect(
      expected.get(
        'http_request_duration_seconds_bucket{le="0.2",method="POST",route="/embed",status_code="200"}',
      ),
    ).toBe(3)
    expect(got).toEqual(expected)
  })

  it('with histogramProducer, the latency histogram is a native OpenTelemetry histogram with the tracker’s bounds, and the text is the same', async () => {
    const registry = new Registry()
    const prom = await world(registry)
    const expected = series(await registry.metrics())
    prom.close()

    const otel = await world()
    const histograms = histogramProducer({ tracker: otel.tracker })
    const { exporter, meter, provider } = exporterFor({ metricProducers: [histograms] })
    publishMetrics(meter, otel.sources, { histogram: false })
    const text = await scrape(exporter)
    expect(text).toContain('# TYPE http_request_duration_seconds histogram')
    expect(series(text)).toEqual(expected)

    const { resourceMetrics } = await histograms.collect()
    const [metric] = resourceMetrics.scopeMetrics[0]!.metrics
    expect(metric!.descriptor).toMatchObject({ name: 'http_request_duration_seconds', unit: 's' })
    expect(metric!.dataPoints[0]!.value.buckets.boundaries).toEqual([...otel.tracker.buckets])
    expect(otel.tracker.buckets).toEqual(expect.arrayContaining([0.2, 1.234]))
    otel.close()
    await provider.shutdown()
  })

  it('reads at collection time: later requests and decisions show in the next scrape', async () => {
    const otel = await world()
    const { exporter, meter, provider } = exporterFor()
    publishMetrics(meter, otel.sources)
    const key = 'cortex_rate_limit_decisions_total{outcome="denied",policy="POST /embed"}'
    expect(series(await scrape(exporter)).get(key)).toBe(1)
    otel.limiter.consume('client-a', 'POST /embed')
    expect(series(await scrape(exporter)).get(key)).toBe(2)
    otel.close()
    await provider.shutdown()
  })

  it('unpublish stops reading the objects: later changes no longer show', async () => {
    const otel = await world()
    const { exporter, meter, provider } = exporterFor()
    const published = publishMetrics(meter, { controller: otel.controller })
    expect(published.names).toEqual(['power_mode', 'power_mode_changes_total'])
    expect(series(await scrape(exporter)).get('power_mode{mode="low"}')).toBe(1)
    otel.controller.set('normal', { reason: 'test' })
    expect(series(await scrape(exporter)).get('power_mode{mode="normal"}')).toBe(1)
    published.unpublish()
    otel.controller.set('low', { reason: 'test' })
    // OpenTelemetry keeps the last cumulative points of an instrument; they no longer move.
    expect(series(await scrape(exporter)).get('power_mode{mode="normal"}')).not.toBe(0)
    otel.close()
    await provider.shutdown()
  })

  it('refuses a non-meter, unknown or empty sources, a source without registerMetrics, and a second publication of the same metrics', async () => {
    const otel = await world()
    const { meter, provider } = exporterFor()
    const code = (f: () => unknown) => {
      try {
        f()
      } catch (err) {
        return isCortexError(err, 'ERR_CORTEX_CONFIG') ? (err as Error).message : `not a config error: ${err}`
      }
      return 'did not throw'
    }
    expect(code(() => publishMetrics({} as never, otel.sources))).toMatch(/`meter`/)
    expect(code(() => publishMetrics(meter, {}))).toMatch(/`sources`.*at least one of tracker/)
    expect(code(() => publishMetrics(meter, { registry: otel.tracker } as never))).toMatch(
      /`registry`.*no such option/,
    )
    expect(code(() => publishMetrics(meter, { tracker: {} as never }))).toMatch(/`sources.tracker`/)
    expect(code(() => publishMetrics(meter, otel.sources, { histogram: 'no' as never }))).toMatch(
      /`histogram`/,
    )
    publishMetrics(meter, { controller: otel.controller })
    expect(code(() => publishMetrics(meter, { controller: otel.controller }))).toMatch(/power_mode/)
    otel.close()
    await provider.shutdown()
  })
})

describe('unitOf', () => {
  it('states the unit a metric name carries, in UCUM', () => {
    expect(unitOf('http_request_duration_seconds')).toBe('s')
    expect(unitOf('energy_joules_total')).toBe('J')
    expect(unitOf('power_watts')).toBe('W')
    expect(unitOf('co2_grams_total')).toBe('g')
    expect(unitOf('carbon_intensity_grams_per_kwh')).toBe('g/kW.h')
    expect(unitOf('slo_sli_ratio')).toBe('1')
    expect(unitOf('slo_burn_rate')).toBe('')
    expect(unitOf('power_mode_changes_total')).toBe('')
  })
})
