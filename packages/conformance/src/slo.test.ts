import { createSloTracker, defineSlos, type SloReport, type SloTracker } from '@cortex/slo'
import { Registry } from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'
import { drivers, type FrameworkDriver, type RunningServer } from './index.js'
import { sloWiring } from './slo-wiring.js'

const slos = defineSlos({
  service: 'conformance',
  objectives: [
    { name: 'users-latency', route: 'GET /users/:id', latency: { percentile: 95, thresholdMs: 250 } },
    { name: 'embed-latency', route: 'POST /embed/multimodal', threshold: 'p(99)<1000' },
    { name: 'availability', route: '*', availability: { errorRate: 0.01 } },
  ],
})

const routes = [
  { method: 'GET' as const, path: '/users/:id' },
  { method: 'POST' as const, path: '/embed/multimodal' },
  { method: 'GET' as const, path: '/boom', handler: () => ({ status: 500, body: { error: 'boom' } }) },
]

const running: RunningServer[] = []
const trackers: SloTracker[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()))
  for (const t of trackers.splice(0)) t.close()
})

async function start(driver: FrameworkDriver, allow?: Parameters<typeof sloWiring>[2]) {
  const registry = new Registry()
  // A frozen clock: every duration is 0 ms, so reports from different frameworks are byte-for-byte comparable.
  const tracker = createSloTracker(slos, { registry, clock: () => 0 })
  trackers.push(tracker)
  const server = await driver.start({ routes, middleware: [sloWiring(tracker, registry, allow)] })
  running.push(server)
  return { server, tracker, registry }
}

async function traffic(url: string): Promise<void> {
  const send = async (path: string, init?: RequestInit) => (await fetch(`${url}${path}`, init)).arrayBuffer()
  for (let i = 0; i < 20; i++) await send(`/users/${i}?full=${i}`)
  for (let i = 0; i < 5; i++) {
    await send('/embed/multimodal', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"x":1}',
    })
  }
  for (let i = 0; i < 3; i++) await send('/boom')
  // a flood of random URLs: one __unmatched__ series, not hundreds
  for (let i = 0; i < 100; i++) await send(`/scan/${Math.random().toString(36).slice(2)}/${i}`)
}

function histogramSeries(text: string): string[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('http_request_duration_seconds'))
    .sort()
}

describe('SLO tracking is the same in every framework', () => {
  it('same histogram series and same report from the same traffic; 404 floods add one series', async () => {
    const results: { name: string; series: string[]; report: SloReport }[] = []
    for (const driver of drivers) {
      const { server, tracker, registry } = await start(driver)
      await traffic(server.url)
      results.push({
        name: driver.name,
        series: histogramSeries(await registry.metrics()),
        report: tracker.report(),
      })
    }
    const [first, ...rest] = results
    const counts = first!.series.filter((l) => l.startsWith('http_request_duration_seconds_count'))
    expect(counts).toEqual([
      'http_request_duration_seconds_count{method="GET",route="/boom",status_code="500"} 3',
      'http_request_duration_seconds_count{method="GET",route="/users/:id",status_code="200"} 20',
      'http_request_duration_seconds_count{method="GET",route="__unmatched__",status_code="404"} 100',
      'http_request_duration_seconds_count{method="POST",route="/embed/multimodal",status_code="200"} 5',
    ])
    expect(first!.series.some((l) => l.includes('le="0.25"'))).toBe(true)
    expect(first!.report.objectives.find((o) => o.name === 'availability')).toMatchObject({
      good: 125,
      total: 128,
    })
    expect(first!.report.objectives.find((o) => o.name === 'users-latency')).toMatchObject({
      good: 20,
      total: 20,
      met: true,
    })
    for (const other of rest) {
      expect(other.series, other.name).toEqual(first!.series)
      expect(other.report, other.name).toEqual(first!.report)
    }
  })
})

describe.each(drivers)('metricsHandler on $name', (driver) => {
  it('serves the registry to loopback clients by default', async () => {
    const { server } = await start(driver)
    const res = await fetch(`${server.url}/metrics`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toContain('text/plain')
    expect(await res.text()).toContain('# TYPE http_request_duration_seconds histogram')
  })

  it('refuses addresses the predicate rejects (403) and requests without the bearer token (401)', async () => {
    const denied = await start(driver, () => false)
    const forbidden = await fetch(`${denied.server.url}/metrics`)
    expect(forbidden.status).toBe(403)
    expect(await forbidden.text()).not.toContain('http_request_duration_seconds')

    const token = await start(driver, { bearerToken: 's3cret' })
    const missing = await fetch(`${token.server.url}/metrics`)
    expect(missing.status).toBe(401)
    expect(missing.headers.get('www-authenticate')).toBe('Bearer')
    const wrong = await fetch(`${token.server.url}/metrics`, { headers: { authorization: 'Bearer nope' } })
    expect(wrong.status).toBe(401)
    const ok = await fetch(`${token.server.url}/metrics`, { headers: { authorization: 'Bearer s3cret' } })
    expect(ok.status).toBe(200)
  })

  it('by default admits loopback only: a private client and an untrusted forwarded request get 403', async () => {
    const warnings: string[] = []
    const onWarning = (w: Error) => warnings.push(w.message)
    process.on('warning', onWarning)
    try {
      const registry = new Registry()
      const tracker = createSloTracker(slos, { registry, clock: () => 0 })
      trackers.push(tracker)
      const scrape = async (server: RunningServer, headers: Record<string, string>) => {
        const res = await fetch(`${server.url}/metrics`, { headers })
        await res.arrayBuffer()
        return res.status
      }
      // Trust-proxy on: the framework resolves the client from X-Forwarded-For.
      const trusting = await driver.start({
        routes,
        middleware: [sloWiring(tracker, registry)],
        trustProxy: true,
      })
      running.push(trusting)
      expect(await scrape(trusting, {})).toBe(200)
      for (const client of ['10.0.0.7', '192.168.1.20', '172.16.5.4', 'fd00::7', '203.0.113.9'])
        expect(await scrape(trusting, { 'x-forwarded-for': client }), client).toBe(403)
      // Trust-proxy off: the peer is loopback (a proxy on this host), but it forwards someone else.
      const direct = await driver.start({
        routes,
        middleware: [sloWiring(tracker, registry)],
        trustProxy: false,
      })
      running.push(direct)
      expect(await scrape(direct, {})).toBe(200)
      const forwarded: Record<string, string>[] = [
        { 'x-forwarded-for': '127.0.0.1' },
        { forwarded: 'for=127.0.0.1' },
        { 'x-real-ip': '127.0.0.1' },
      ]
      for (const headers of forwarded)
        expect(await scrape(direct, headers), JSON.stringify(headers)).toBe(403)
      await new Promise((resolve) => setImmediate(resolve))
      expect(warnings.filter((m) => m.includes('ERR_CORTEX_UNTRUSTED_PROXY'))).toHaveLength(1)
    } finally {
      process.off('warning', onWarning)
    }
  })
})

describe('the route label is the full template under a mount path or prefix, never the URL', () => {
  const nested = defineSlos({
    service: 'nested',
    objectives: [
      { name: 'users', route: 'GET /api/v1/users/:id', latency: { percentile: 95, thresholdMs: 100 } },
    ],
  })

  async function check(url: string, tracker: SloTracker): Promise<void> {
    for (let i = 0; i < 3; i++) await (await fetch(`${url}/api/v1/users/${i}`)).arrayBuffer()
    expect(tracker.report().routes.map((r) => `${r.method} ${r.route} ${r.count}`)).toEqual([
      'GET /api/v1/users/:id 3',
    ])
  }

  it('express: nested routers', async () => {
    const { default: express } = await import('express')
    const { createServer } = await import('node:http')
    const { listen, close } = await import('./harness.js')
    const { sloTracking } = await import('@cortex/express')
    const tracker = createSloTracker(nested, { clock: () => 0 })
    const app = express()
    app.use(sloTracking({ tracker }))
    const v1 = express.Router()
    const users = express.Router()
    users.get('/:id', (_req, res) => {
      res.json({})
    })
    v1.use('/users', users)
    app.use('/api/v1', v1)
    const server = createServer(app)
    const url = await listen(server)
    try {
      await check(url, tracker)
    } finally {
      await close(server)
    }
  })

  it('fastify: prefixed plugins', async () => {
    const { default: Fastify } = await import('fastify')
    const { sloTracking } = await import('@cortex/fastify')
    const tracker = createSloTracker(nested, { clock: () => 0 })
    const app = Fastify()
    await app.register(sloTracking({ tracker }))
    await app.register(
      async (api) => {
        api.get('/users/:id', async () => ({}))
      },
      { prefix: '/api/v1' },
    )
    const url = await app.listen({ port: 0, host: '127.0.0.1' })
    try {
      await check(url, tracker)
    } finally {
      await app.close()
    }
  })

  it('koa: prefixed routers', async () => {
    const { default: Koa } = await import('koa')
    const { default: Router } = await import('@koa/router')
    const { createServer } = await import('node:http')
    const { listen, close } = await import('./harness.js')
    const { sloTracking } = await import('@cortex/koa')
    const tracker = createSloTracker(nested, { clock: () => 0 })
    const app = new Koa()
    app.use(sloTracking({ tracker }))
    const router = new Router({ prefix: '/api/v1' })
    router.get('/users/:id', (ctx) => {
      ctx.body = {}
    })
    app.use(router.routes())
    const server = createServer(app.callback())
    const url = await listen(server)
    try {
      await check(url, tracker)
    } finally {
      await close(server)
    }
  })

  it('hono: sub-apps under app.route and a basePath', async () => {
    const { Hono } = await import('hono')
    const { createAdaptorServer } = await import('@hono/node-server')
    const { listen, close } = await import('./harness.js')
    const { sloTracking } = await import('@cortex/hono')
    const tracker = createSloTracker(nested, { clock: () => 0 })
    const app = new Hono()
    app.use(sloTracking({ tracker }))
    const users = new Hono()
    users.get('/:id', (c) => c.json({}))
    app.route('/api', new Hono().basePath('/v1').route('/users', users))
    const server = createAdaptorServer({ fetch: app.fetch }) as import('node:http').Server
    const url = await listen(server)
    try {
      await check(url, tracker)
    } finally {
      await close(server)
    }
  })
})
