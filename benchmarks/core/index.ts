/**
 * @cortex/core against the peers' equivalents, in one run:
 *  - a token-bucket decision on one key: ours (GCRA step) vs limiter's
 *    TokenBucket and @fastify/rate-limit's LocalStore (fixed window, LRU);
 *  - recording one latency: our QuantileSketch vs @datadog/sketches-js
 *    DDSketch, hdr-histogram-js and prom-client Histogram.observe.
 * Targets: ≥ 20M decisions/s on one key; ≤ 30 ns per sketch record.
 */
import { createRequire } from 'node:module'
import { createTokenBucket, FULL_BUCKET_STATE, QuantileSketch, type TokenBucketDecision } from '@cortex/core'
import { DDSketch } from '@datadog/sketches-js'
import * as hdr from 'hdr-histogram-js'
import { TokenBucket } from 'limiter'
import { Histogram, Registry } from 'prom-client'
import { compare, printEnvironment } from '../_lib/compare.js'

const require = createRequire(import.meta.url)
const LocalStore = require('@fastify/rate-limit/store/LocalStore') as new (
  continueExceeding: boolean,
  exponentialBackoff: boolean,
  cache?: number,
) => {
  incr(key: string, cb: (err: unknown, r: { current: number }) => void, timeWindow: number, max: number): void
}

const N = 1000
let sink = 0

await printEnvironment()

// --- token bucket, one key ----------------------------------------------
const bucket = createTokenBucket({ burst: 1e12, refillTokens: 1e9, refillMs: 1 })
const out: TokenBucketDecision = { allowed: false, remaining: 0, retryAfterMs: 0, resetAfterMs: 0, state: 0 }
let state = FULL_BUCKET_STATE
let fakeNow = 1_764_000_000_000
const limiterBucket = new TokenBucket({ bucketSize: 1e12, tokensPerInterval: 1e12, interval: 'second' })
const localStore = new LocalStore(false, false, 5000)
const onIncr = (_err: unknown, r: { current: number }) => {
  sink += r.current
}

await compare('token-bucket decision, one key', [
  {
    name: '@cortex/core take (time given)',
    ours: true,
    opsPerCall: N,
    fn() {
      for (let i = 0; i < N; i++) {
        fakeNow += 0.001
        state = bucket.take(state, fakeNow, 1, out).state
      }
    },
  },
  {
    name: '@cortex/core take + Date.now()',
    ours: true,
    opsPerCall: N,
    fn() {
      for (let i = 0; i < N; i++) state = bucket.take(state, Date.now(), 1, out).state
    },
  },
  {
    name: 'limiter TokenBucket.tryRemoveTokens',
    opsPerCall: N,
    fn() {
      for (let i = 0; i < N; i++) if (limiterBucket.tryRemoveTokens(1)) sink++
    },
  },
  {
    name: '@fastify/rate-limit LocalStore.incr',
    opsPerCall: N,
    fn() {
      for (let i = 0; i < N; i++) localStore.incr('127.0.0.1', onIncr, 60_000, 1e12)
    },
  },
])

// --- recording one latency -----------------------------------------------
// Lognormal latencies around 20 ms, precomputed so every contender records the same values.
const values = new Float64Array(1 << 16)
for (let i = 0; i < values.length; i++) {
  const u = Math.random() || 1e-12
  const v = Math.random()
  values[i] = 20 * Math.exp(0.6 * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v))
}
const mask = values.length - 1
let cursor = 0
const ours = new QuantileSketch({ relativeAccuracy: 0.01 })
const dd = new DDSketch({ relativeAccuracy: 0.01 })
const hdrHist = hdr.build({
  lowestDiscernibleValue: 1,
  highestTrackableValue: 3_600_000_000,
  numberOfSignificantValueDigits: 2,
})
const registry = new Registry()
const promHist = new Histogram({ name: 'bench_seconds', help: 'bench', registers: [registry] })

const recordRows = await compare('record one latency', [
  {
    name: '(harness only: loop and value read, no recording)',
    baseline: true,
    opsPerCall: N,
    fn() {
      for (let i = 0; i < N; i++) sink += values[cursor++ & mask] as number
    },
  },
  {
    name: '@cortex/core QuantileSketch.record',
    ours: true,
    opsPerCall: N,
    fn() {
      for (let i = 0; i < N; i++) ours.record(values[cursor++ & mask] as number)
    },
  },
  {
    name: '@datadog/sketches-js DDSketch.accept',
    opsPerCall: N,
    fn() {
      for (let i = 0; i < N; i++) dd.accept(values[cursor++ & mask] as number)
    },
  },
  {
    name: 'hdr-histogram-js recordValue (µs, JS)',
    opsPerCall: N,
    fn() {
      for (let i = 0; i < N; i++) hdrHist.recordValue(Math.round((values[cursor++ & mask] as number) * 1000))
    },
  },
  {
    name: 'prom-client Histogram.observe (no labels)',
    opsPerCall: N,
    fn() {
      for (let i = 0; i < N; i++) promHist.observe((values[cursor++ & mask] as number) / 1000)
    },
  },
])

const harness = recordRows.find((r) => r.baseline)?.nsPerOp ?? 0
const record = recordRows.find((r) => r.ours)?.nsPerOp ?? Number.NaN
console.log(
  `\nQuantileSketch.record: ${record.toFixed(1)} ns per value as measured, ${(record - harness).toFixed(1)} ns net of the harness's own ${harness.toFixed(1)} ns (target ≤ 30 ns)`,
)

if (sink === -1) console.log(sink)
