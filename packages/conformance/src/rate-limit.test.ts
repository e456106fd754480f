import { createSloTracker, defineSlos } from '@cortex/slo'
import { createRateLimiter, type RateLimiter, type RateLimitStore } from '@cortex/token-bucket'
import { Registry } from 'prom-client'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { drivers, type FrameworkDriver, type RouteSpec, type RunningServer } from './index.js'
import { type RateLimitWiring, rateLimitMiddleware } from './rate-limit-wiring.js'
import { sloWiring } from './slo-wiring.js'

const T0 = 1_764_000_000_000
const running: RunningServer[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()))
})

const routes: RouteSpec[] = [
  { method: 'POST', path: '/embed/multimodal' },
  { method: 'POST', path: '/agents/plan' },
  { method: 'GET', path: '/health/live' },
  { method: 'GET', path: '/metrics' },
  { method: 'GET', path: '/users/:id' },
]

function limiterFor(overrides: Partial<Parameters<typeof createRateLimiter>[0]> = {}): RateLimiter {
  return createRateLimiter({
    policies: {
      'POST /embed/multimodal': { limit: 60, window: '1m' },
      'POST /agents/plan': { limit: 10, window: '1s', burst: 1, maxDelayMs: 500 },
      'GET /metrics': 'unlimited',
      'GET /health/*': 'unlimited',
      '*': { limit: 2, window: '1m' },
    },
    clock: () => T0,
    logger: false,
    ...overrides,
  })
}

async function start(
  driver: FrameworkDriver,
  wiring: RateLimitWiring,
  trustProxy = true,
): Promise<RunningServer> {
  const server = await driver.start({ routes, middleware: [rateLimitMiddleware(wiring)], trustProxy })
  running.push(server)
  return server
}

function post(server: RunningServer, path: string, client?: string): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(client ? { 'x-forwarded-for': client } : {}) },
    body: '{}',
  })
}

const RATE_HEADERS = [
  'ratelimit',
  'ratelimit-policy',
  'retry-after',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
]

function rateHeaders(res: Response): Record<string, string> {
  const out: Record<string, string> = {}
  for (const h of RATE_HEADERS) {
    const v = res.headers.get(h)
    if (v !== null) out[h] = v
  }
  return out
}

describe.each(drivers)('rate limiting on $name', (driver) => {
  it('the 61st POST /embed/multimodal from one client inside a minute is a 429 with Retry-After; a second client is unaffected', async () => {
    const server = await start(driver, { limiter: limiterFor() })
    for (let i = 1; i <= 60; i++) {
      const res = await post(server, '/embed/multimodal', '203.0.113.1')
      expect(res.status).toBe(200)
      await res.arrayBuffer()
    }
    const refused = await post(server, '/embed/multimodal', '203.0.113.1')
    expect(refused.status).toBe(429)
    expect(refused.headers.get('content-type')).toMatch(/^application\/json/)
    expect(await refused.json()).toEqual({
      error: 'rate_limited',
      policy: 'POST /embed/multimodal',
      retryAfterSeconds: 1,
    })
    expect(rateHeaders(refused)).toEqual({
      'ratelimit-policy': '"POST /embed/multimodal";q=60;w=60',
      ratelimit: '"POST /embed/multimodal";r=0;t=1',
      'retry-after': '1',
    })
    const other = await post(server, '/embed/multimodal', '203.0.113.2')
    expect(other.status).toBe(200)
    expect(other.headers.get('ratelimit')).toBe('"POST /embed/multimodal";r=59;t=1')
  })

  it('GET /health/live and GET /metrics are never limited (no headers either)', async () => {
    const server = await start(driver, { limiter: limiterFor() })
    for (let i = 0; i < 20; i++) {
      for (const path of ['/health/live', '/metrics']) {
        const res = await fetch(`${server.url}${path}`)
        expect(res.status).toBe(200)
        expect(rateHeaders(res)).toEqual({})
        await res.arrayBuffer()
      }
    }
    // The default policy still limits everything else.
    const statuses: number[] = []
    for (let i = 0; i < 3; i++) statuses.push((await fetch(`${server.url}/users/1`)).status)
    expect(statuses).toEqual([200, 200, 429])
  })

  it('honours key, skip and the header format options', async () => {
    const server = await start(driver, {
      limiter: limiterFor(),
      headers: 'legacy',
      key: (req) => req.headers['x-tenant'] as string | undefined,
      skip: (req) => req.headers['x-internal'] === '1',
    })
    const get = (headers: Record<string, string>) => fetch(`${server.url}/users/1`, { headers })
    expect((await get({ 'x-tenant': 'a' })).status).toBe(200)
    const second = await get({ 'x-tenant': 'a' })
    expect(rateHeaders(second)).toEqual({ 'x-ratelimit-limit': '2', 'x-ratelimit-remaining': '0' })
    expect((await get({ 'x-tenant': 'a' })).status).toBe(429)
    expect((await get({ 'x-tenant': 'b' })).status).toBe(200)
    const skipped = await get({ 'x-tenant': 'a', 'x-internal': '1' })
    expect(skipped.status).toBe(200)
    expect(rateHeaders(skipped)).toEqual({})
  })

  it('warns once when proxy headers arrive while the framework does not trust proxies', async () => {
    const warn = vi.fn()
    const server = await start(driver, { limiter: limiterFor({ logger: { warn } }) }, false)
    const statuses: number[] = []
    // Every client behind the proxy shares the proxy's (loopback) address: the third is refused.
    for (const client of ['198.51.100.1', '198.51.100.2', '198.51.100.3']) {
      statuses.push((await fetch(`${server.url}/users/1`, { headers: { 'x-forwarded-for': client } })).status)
    }
    expect(statuses).toEqual([200, 200, 429])
    expect(warn).toHaveBeenCalledTimes(1)
    expect(warn.mock.calls[0]?.[0]).toMatch(/x-forwarded-for/)
  })

  it('a failing store follows onStoreError without failing the request', async () => {
    const broken: RateLimitStore = {
      name: 'broken',
      take: () => Promise.reject(new Error('ECONNREFUSED')),
      reset: () => undefined,
    }
    const allow = await start(driver, { limiter: limiterFor({ store: broken }) })
    const res = await post(allow, '/embed/multimodal', '203.0.113.1')
    expect(res.status).toBe(200)
    expect(rateHeaders(res)).toEqual({})
    const deny = await start(driver, { limiter: limiterFor({ store: broken, onStoreError: 'deny' }) })
    const refused = await post(deny, '/embed/multimodal', '203.0.113.1')
    expect(refused.status).toBe(429)
    expect(refused.headers.get('retry-after')).toBe('1')
  })

  it('throttles a policy with maxDelayMs: the request is held, then served', async () => {
    const server = await start(driver, { limiter: limiterFor({ clock: Date.now }) })
    const [a, b] = await Promise.all([
      post(server, '/agents/plan', '1.1.1.1'),
      post(server, '/agents/plan', '1.1.1.1'),
    ])
    expect([a.status, b.status]).toEqual([200, 200])
  })
})

describe('rate-limit headers are identical across frameworks', () => {
  it('the same requests give the same statuses, headers and bodies everywhere', async () => {
    const transcripts: Record<string, unknown[]> = {}
    for (const driver of drivers) {
      const limiter = limiterFor()
      const second = createRateLimiter({
        policies: { '* /*': { limit: 100, window: '1h' } },
        clock: () => T0,
        logger: false,
      })
      const server = await driver.start({
        routes,
        trustProxy: true,
        middleware: [rateLimitMiddleware({ limiter: second }), rateLimitMiddleware({ limiter })],
      })
      running.push(server)
      const transcript: unknown[] = []
      for (const [method, path] of [
        ['POST', '/embed/multimodal'],
        ['GET', '/users/7'],
        ['GET', '/users/8'],
        ['GET', '/users/9'],
        ['GET', '/health/live'],
        ['HEAD', '/health/live'],
      ] as const) {
        const res = await fetch(`${server.url}${path}`, {
          method,
          headers: { 'content-type': 'application/json', 'x-forwarded-for': '192.0.2.7' },
          body: method === 'POST' ? '{}' : undefined,
        })
        const body: unknown = res.status === 429 ? await res.json() : undefined
        if (body === undefined) await res.arrayBuffer()
        transcript.push({ method, path, status: res.status, headers: rateHeaders(res), body })
      }
      transcripts[driver.name] = transcript
    }
    const [first, ...rest] = Object.values(transcripts)
    expect(first).toContainEqual(
      expect.objectContaining({
        status: 429,
        headers: {
          'ratelimit-policy': '"* /*";q=100;w=3600, "*";q=2;w=60',
          ratelimit: '"* /*";r=96;t=36, "*";r=0;t=30',
          'retry-after': '30',
        },
      }),
    )
    for (const t of rest) expect(t).toEqual(first)
  })
})

describe.each(drivers)('rate limiting with SLO tracking on $name', (driver) => {
  it('a request refused before routing is recorded under its endpoint, not __unmatched__', async () => {
    const tracker = createSloTracker(
      defineSlos({
        service: 't',
        objectives: [{ name: 'avail', route: '*', availability: { errorRate: 0.01 } }],
      }),
    )
    const limiter = createRateLimiter({
      policies: { 'POST /embed/multimodal': { limit: 2, window: '1m' }, '*': { limit: 1, window: '1m' } },
      clock: () => T0,
      logger: false,
    })
    const server = await driver.start({
      routes: routes.filter((r) => r.path !== '/metrics'), // sloWiring serves /metrics itself
      middleware: [sloWiring(tracker, new Registry()), rateLimitMiddleware({ limiter })],
    })
    running.push(server)
    const statuses: number[] = []
    for (let i = 0; i < 3; i++) statuses.push((await post(server, '/embed/multimodal')).status)
    // A wildcard/default policy names no route: its refusals stay unmatched (bounded).
    for (let i = 0; i < 2; i++) statuses.push((await post(server, '/agents/plan')).status)
    expect(statuses).toEqual([200, 200, 429, 200, 429])
    const routesSeen = tracker
      .report()
      .routes.map((r) => `${r.method} ${r.route} ${JSON.stringify(r.statusCodes)}`)
      .sort()
    // Fastify and Hono route before their hooks and middleware run, so every refusal keeps its route.
    // Express and Koa route after app-level middleware: an exact-path policy
    // names the route; a refusal by the default policy stays unmatched.
    expect(routesSeen).toEqual(
      driver.family === 'fastify' || driver.family === 'hono'
        ? ['POST /agents/plan {"200":1,"429":1}', 'POST /embed/multimodal {"200":2,"429":1}']
        : [
            'POST /agents/plan {"200":1}',
            'POST /embed/multimodal {"200":2,"429":1}',
            'POST __unmatched__ {"429":1}',
          ],
    )
    tracker.close()
  })
})
