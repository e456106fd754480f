/**
 * The one configuration the three inference-API examples share: rate limits,
 * SLOs, the energy budget and the power modes. The servers differ only in
 * framework wiring; `cortex slo generate` reads the `slos` export of this file
 * to write the Prometheus rules, the Grafana dashboard and the k6 scripts.
 */
import type { PowerModeConfig } from '@cortex/low-power'
import type { SloConfig } from '@cortex/slo'

/** Per-client limits: `limit` per `window` sustained, `burst` at once. Health and metrics are never limited. */
export const rateLimits = {
  'POST /embed/multimodal': { limit: 60, window: '1m', burst: 10 },
  'POST /agents/plan': { limit: 10, window: '1m' },
  'POST /agents/reflect': { limit: 20, window: '1m' },
  'GET /health/*': 'unlimited',
  'GET /metrics': 'unlimited',
  'GET /metrics/*': 'unlimited',
} as const

/**
 * The API keys the examples recognise. A request whose `x-api-key` is one of
 * them is limited per key; any other key (or none) is limited per client
 * address, so inventing a key per request gains nothing. Deployments add
 * their keys with `API_KEYS` (comma-separated) or `API_KEYS_FILE` (one per
 * line), read once at start.
 */
export const apiKeys = ['key-alice-7f3a9c', 'key-bob-91c2e4', 'key-carol-44d0b8'] as const

/** The service's promises: P95 per endpoint and an error rate under 0.5%. */
export const slos = {
  service: 'cortex-inference-api',
  window: '30d',
  objectives: [
    { name: 'embed-latency', route: 'POST /embed/multimodal', latency: { percentile: 95, thresholdMs: 200 } },
    { name: 'reflect-latency', route: 'POST /agents/reflect', latency: { percentile: 95, thresholdMs: 500 } },
    { name: 'plan-latency', route: 'POST /agents/plan', threshold: 'p(95)<2000' },
    { name: 'health-live-latency', route: 'GET /health/live', latency: { percentile: 95, thresholdMs: 50 } },
    {
      name: 'health-ready-latency',
      route: 'GET /health/ready',
      latency: { percentile: 95, thresholdMs: 50 },
    },
    { name: 'metrics-latency', route: 'GET /metrics', latency: { percentile: 95, thresholdMs: 100 } },
    { name: 'availability', route: '*', availability: { errorRate: 0.005 } },
  ],
  requests: {
    'POST /embed/multimodal': {
      body: { text: 'a red bicycle leaning on a wall', imageUrl: 'https://example.com/bike.jpg' },
    },
    'POST /agents/plan': { body: { goal: 'book a table for four near the station on Friday evening' } },
    'POST /agents/reflect': {
      body: { plan: ['search restaurants', 'check availability', 'book'], outcome: 'booked' },
    },
  },
  loadScripts: {
    'load-multimodal': ['POST /embed/multimodal'],
    'load-agents': ['POST /agents/plan', 'POST /agents/reflect'],
    'load-health': ['GET /health/live', 'GET /health/ready'],
  },
} satisfies SloConfig

/** Average power above this many watts is "over budget" (and sends the service into low-power mode). */
export const powerBudgetWatts = 100

/** What each power mode sets; the inference reads `knobs`. */
export const powerModes = {
  normal: { concurrency: 8, rateLimitScale: 1, knobs: { model: 'large', layers: 8, maxTokens: 1024 } },
  low: {
    concurrency: 4,
    rateLimitScale: 0.5,
    // Batches fill only from requests in flight, so keep maxSize ≤ concurrency.
    // A model half as deep and a tighter token cap: at saturation HTTP and the @cortex stack cost the
    // same per request in both modes, so only less inference work per request saves energy there.
    knobs: { model: 'small', layers: 4, maxTokens: 128, batch: { maxSize: 4, maxWaitMs: 4 } },
  },
} satisfies Record<string, PowerModeConfig>
