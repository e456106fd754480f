/**
 * @cortex/slo against the usual ways of measuring request latency, in one run:
 *  1. the cost of recording one request: our tracker's `record` as users
 *     call it (no end time: no clock read, a slot timer keeps the windows
 *     current) and as the adapters call it (with the end time), against
 *     prom-client Histogram.observe (3 labels and none), Summary,
 *     hdr-histogram-js, DDSketch and our bare QuantileSketch; and one
 *     `performance.now()` read, for scale;
 *  2. the relative error of p50/p95/p99 on 1e6 lognormal latencies (median
 *     20 ms) and on a bimodal set, against the exact sorted values.
 * Targets: record as users call it ≤ 50 ns and ≥ 10× faster than
 * Histogram.observe with 3 labels.
 */

import { QuantileSketch } from '@cortex/core'
import { createSloTracker, defineSlos } from '@cortex/slo'
import { DDSketch } from '@datadog/sketches-js'
import * as hdr from 'hdr-histogram-js'
import { Histogram, Registry, Summary } from 'prom-client'
import { compare, printEnvironment } from '../_lib/compare.js'

const N = 1000
await printEnvironment()

const slos = defineSlos({
  service: 'bench',
  objectives: [
    { name: 'embed-latency', route: 'POST /embed/multimodal', latency: { percentile: 95, thresholdMs: 200 } },
    { name: 'plan-latency', route: 'POST /agents/plan', threshold: 'p(95)<2000' },
    { name: 'availability', route: '*', availability: { errorRate: 0.005 } },
  ],
})

// --- 1. recording cost --------------------------------------------------
function lognormal(median: number, sigma: number): number {
  const u = Math.random() || 1e-12
  const v = Math.random()
  return median * Math.exp(sigma * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v))
}
const values = new Float64Array(1 << 16).map(() => lognormal(20, 0.6))
const mask = values.length - 1
let cursor = 0
const ROUTES = ['/embed/multimodal', '/agents/plan', '/users/:id', '/health'] as const
// One reusable record object per route, as an adapter's closure would hold.
const records = ROUTES.map((route) => ({ method: 'POST', route, statusCode: 200, durationMs: 0, at: 0 }))
// Records without an end time, as users write them, made only when their rows run: created up
// front, they would share the adapter records' hidden class and turn its numeric `at` field into
// a boxed one (an allocation per write) before the adapter path is measured.
type UserRecord = { method: string; route: string; statusCode: number; durationMs: number }
let userRecords: UserRecord[] = []
function userRecordsOnce(): UserRecord[] {
  if (userRecords.length === 0)
    userRecords = ROUTES.map((route) => ({ method: 'POST', route, statusCode: 200, durationMs: 0 }))
  return userRecords
}
let sink = 0
const tracker = createSloTracker(slos)
const userTracker = createSloTracker(slos)
const registry = new Registry()
const labelled = new Histogram({
  name: 'labelled_seconds',
  help: 'x',
  labelNames: ['method', 'route', 'status_code'],
  registers: [registry],
})
const bare = new Histogram({ name: 'bare_seconds', help: 'x', registers: [registry] })
const summary = new Summary({
  name: 'summary_seconds',
  help: 'x',
  maxAgeSeconds: 600,
  ageBuckets: 5,
  registers: [registry],
})
const sketch = new QuantileSketch({ relativeAccuracy: 0.01 })
const dd = new DDSketch({ relativeAccuracy: 0.01 })
const hdrHist = hdr.build({
  lowestDiscernibleValue: 1,
  highestTrackableValue: 3_600_000_000,
  numberOfSignificantValueDigits: 2,
})
let now = 1_000_000

const requestRows = await compare('record one request: tracker vs prom-client (ns per request)', [
  {
    name: 'harness alone: the adapter-path loop without the record call',
    baseline: true,
    opsPerCall: N,
    fn() {
      let c = cursor
      let t = now
      for (let i = 0; i < N; i++) {
        const r = records[i & 3]!
        r.durationMs = values[c++ & mask]!
        r.at = t += 0.01
        sink += r.durationMs
      }
      cursor = c
      now = t
    },
  },
  {
    name: '@cortex/slo tracker.record (adapter path: end time given)',
    ours: true,
    opsPerCall: N,
    fn() {
      let c = cursor
      let t = now
      for (let i = 0; i < N; i++) {
        const r = records[i & 3]!
        r.durationMs = values[c++ & mask]!
        r.at = t += 0.01
        tracker.record(r)
      }
      cursor = c
      now = t
    },
  },
  {
    name: "harness alone: the users' loop without the record call",
    baseline: true,
    opsPerCall: N,
    fn() {
      const records = userRecordsOnce()
      let c = cursor
      for (let i = 0; i < N; i++) {
        const r = records[i & 3]!
        r.durationMs = values[c++ & mask]!
        sink += r.durationMs
      }
      cursor = c
    },
  },
  {
    name: '@cortex/slo tracker.record as users call it (no end time)',
    ours: true,
    opsPerCall: N,
    fn() {
      const records = userRecordsOnce()
      let c = cursor
      for (let i = 0; i < N; i++) {
        const r = records[i & 3]!
        r.durationMs = values[c++ & mask]!
        userTracker.record(r)
      }
      cursor = c
    },
  },
  {
    name: 'one performance.now() read, for scale',
    baseline: true,
    opsPerCall: N,
    fn() {
      let t = 0
      for (let i = 0; i < N; i++) t += performance.now()
      sink += t
    },
  },
  {
    name: 'prom-client Histogram.observe, 3 labels',
    opsPerCall: N,
    fn() {
      let c = cursor
      for (let i = 0; i < N; i++) {
        labelled.observe(
          { method: 'POST', route: ROUTES[i & 3]!, status_code: 200 },
          values[c++ & mask]! / 1000,
        )
      }
      cursor = c
    },
  },
  {
    name: 'prom-client Histogram.observe, no labels',
    opsPerCall: N,
    fn() {
      let c = cursor
      for (let i = 0; i < N; i++) bare.observe(values[c++ & mask]! / 1000)
      cursor = c
    },
  },
  {
    name: 'prom-client Summary.observe (5 age buckets)',
    opsPerCall: N,
    fn() {
      let c = cursor
      for (let i = 0; i < N; i++) summary.observe(values[c++ & mask]! / 1000)
      cursor = c
    },
  },
])
const perRequest = (name: string) => requestRows.find((r) => r.name.startsWith(name))!.nsPerOp
const promLabelled = perRequest('prom-client Histogram.observe, 3 labels')
const summarise = (what: string, ns: number, harnessNs: number) =>
  `tracker.record ${what} costs ${ns.toFixed(1)} ns with the loop (${(ns - harnessNs).toFixed(1)} ns net of the ${harnessNs.toFixed(1)}-ns harness),` +
  ` ${(promLabelled / ns).toFixed(1)}× faster than Histogram.observe with 3 labels`
console.log(
  `\n${summarise('as users call it', perRequest('@cortex/slo tracker.record as users'), perRequest("harness alone: the users'"))} (targets ≤ 50 ns, ≥ 10×);` +
    `\n${summarise('as the adapters call it', perRequest('@cortex/slo tracker.record (adapter'), perRequest('harness alone: the adapter'))}.`,
)
if (sink === 0) console.log('')

await compare('record one latency into a bare sketch (ns per value)', [
  {
    name: 'hdr-histogram-js recordValue (µs, JS)',
    opsPerCall: N,
    fn() {
      let c = cursor
      for (let i = 0; i < N; i++) hdrHist.recordValue(Math.round(values[c++ & mask]! * 1000))
      cursor = c
    },
  },
  {
    name: '@datadog/sketches-js DDSketch.accept',
    opsPerCall: N,
    fn() {
      let c = cursor
      for (let i = 0; i < N; i++) dd.accept(values[c++ & mask]!)
      cursor = c
    },
  },
  {
    name: '@cortex/core QuantileSketch.record (bare)',
    ours: true,
    opsPerCall: N,
    fn() {
      let c = cursor
      for (let i = 0; i < N; i++) sketch.record(values[c++ & mask]!)
      cursor = c
    },
  },
])

// --- 2. quantile error ----------------------------------------------------
const QUANTILES = [0.5, 0.95, 0.99] as const

/** Prometheus's histogram_quantile: linear interpolation inside the bucket. */
function histogramQuantile(q: number, bounds: number[], cumulative: number[], count: number): number {
  const rank = q * count
  let i = 0
  while (i < bounds.length && cumulative[i]! < rank) i++
  if (i === bounds.length) return bounds[bounds.length - 1]!
  const lower = i === 0 ? 0 : bounds[i - 1]!
  const below = i === 0 ? 0 : cumulative[i - 1]!
  const inBucket = cumulative[i]! - below
  return lower + (bounds[i]! - lower) * ((rank - below) / inBucket)
}

async function quantileErrors(title: string, data: Float64Array): Promise<void> {
  const sorted = Float64Array.from(data).sort()
  const exact = QUANTILES.map((q) => sorted[Math.floor(q * (sorted.length - 1))]!)
  const estimates: [string, number[]][] = []

  const t = createSloTracker(slos)
  for (const v of data) t.record({ method: 'GET', route: '/q', statusCode: 200, durationMs: v, at: 0 })
  const r = t.report().routes[0]!
  t.close()
  estimates.push(['**@cortex/slo tracker report (1 % sketch)**', [r.p50, r.p95, r.p99]])

  const reg = new Registry()
  const h = new Histogram({ name: 'h_seconds', help: 'x', registers: [reg] })
  const hl = new Histogram({
    name: 'hl_seconds',
    help: 'x',
    labelNames: ['method', 'route', 'status_code'],
    registers: [reg],
  })
  const s = new Summary({
    name: 's_seconds',
    help: 'x',
    maxAgeSeconds: 600,
    ageBuckets: 5,
    percentiles: [...QUANTILES],
    registers: [reg],
  })
  for (const v of data) {
    h.observe(v / 1000)
    hl.observe({ method: 'GET', route: '/q', status_code: 200 }, v / 1000)
    s.observe(v / 1000)
  }
  const hv = (await h.get()).values
  const bounds = hv
    .filter((x) => x.metricName === 'h_seconds_bucket' && x.labels.le !== '+Inf')
    .map((x) => Number(x.labels.le))
  const cumulative = hv
    .filter((x) => x.metricName === 'h_seconds_bucket' && x.labels.le !== '+Inf')
    .map((x) => x.value)
  const histogramEstimate = QUANTILES.map((q) => histogramQuantile(q, bounds, cumulative, data.length) * 1000)
  estimates.push([
    'prom-client Histogram, default buckets (3 labels or none: same buckets)',
    histogramEstimate,
  ])
  const sv = (await s.get()).values
  estimates.push([
    'prom-client Summary (5 age buckets)',
    QUANTILES.map((q) => (sv.find((x) => x.labels.quantile === q)?.value ?? Number.NaN) * 1000),
  ])
  const hh = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000,
    numberOfSignificantValueDigits: 2,
  })
  for (const v of data) hh.recordValue(Math.round(v * 1000))
  estimates.push([
    'hdr-histogram-js (2 significant digits, µs)',
    QUANTILES.map((q) => hh.getValueAtPercentile(q * 100) / 1000),
  ])
  const d = new DDSketch({ relativeAccuracy: 0.01 })
  for (const v of data) d.accept(v)
  estimates.push(['@datadog/sketches-js DDSketch (1 %)', QUANTILES.map((q) => d.getValueAtQuantile(q))])

  console.log(
    `\n## quantile error: ${title} (${data.length} samples; exact p50 ${exact[0]!.toFixed(2)} ms, p95 ${exact[1]!.toFixed(2)} ms, p99 ${exact[2]!.toFixed(2)} ms)\n`,
  )
  console.log('| structure | p50 error | p95 error | p99 error | worst |')
  console.log('|---|---:|---:|---:|---:|')
  for (const [name, est] of estimates) {
    const errors = est.map((e, i) => (e - exact[i]!) / exact[i]!)
    const fmt = (e: number) => `${e >= 0 ? '+' : ''}${(e * 100).toFixed(2)}%`
    const worst = errors.reduce((a, b) => (Math.abs(b) > Math.abs(a) ? b : a), 0)
    console.log(`| ${name} | ${errors.map(fmt).join(' | ')} | ${fmt(worst)} |`)
  }
}

const SAMPLES = 1_000_000
await quantileErrors(
  'lognormal, median 20 ms, σ 0.6',
  Float64Array.from({ length: SAMPLES }, () => lognormal(20, 0.6)),
)
await quantileErrors(
  'bimodal: 70 % around 8 ms (cache hits), 30 % around 400 ms (misses)',
  Float64Array.from({ length: SAMPLES }, () =>
    Math.random() < 0.7 ? lognormal(8, 0.25) : lognormal(400, 0.3),
  ),
)

tracker.close()
userTracker.close()
