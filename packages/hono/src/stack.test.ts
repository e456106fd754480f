import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { CortexConfigError } from '@cortex/core'
import { createPowerModeController } from '@cortex/low-power'
import { createSloTracker, defineSlos, type SloTracker } from '@cortex/slo'
import { createRateLimiter, type RateLimiter } from '@cortex/token-bucket'
import { createAdaptorServer } from '@hono/node-server'
import { Hono } from 'hono'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { cortex, metricsHandler, powerMode, rateLimit, routeOf, sloTracking } from './index.js'

const slos = defineSlos({
  service: 't',
  objectives: [{ name: 'a', route: '*', availability: { errorRate: 0.01 } }],
})
const trackers: SloTracker[] = []
const servers: Server[] = []
afterEach(async () => {
  for (const t of trackers.splice(0)) t.close()
  vi.restoreAllMocks()
  for (const s of servers.splice(0)) {
    s.closeAllConnections()
    await new Promise((r) => s.close(r))
  }
})

/** Serves `app` with @hono/node-server on loopback; resolves with its base URL. */
async function serveOnNode(app: Hono): Promise<string> {
  const server = createAdaptorServer({ fetch: app.fetch }) as Server
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

function tracker(): SloTracker {
  const t = createSloTracker(slos, { clock: () => 0 })
  trackers.push(t)
  return t
}

function limiter(limit = 2): RateLimiter {
  return createRateLimiter({
    policies: { 'POST /embed/multimodal': { limit, window: '1h' }, '*': { limit: 100, window: '1h' } },
    logger: false,
  })
}

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (err: Error) => void } {
  let resolve: () => void = () => {}
  let reject: (err: Error) => void = () => {}
  const promise = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  promise.catch(() => {})
  return { promise, resolve, reject }
}

const counts = (t: SloTracker) =>
  Object.fromEntries(t.report().routes.map((r) => [`${r.method} ${r.route}`, r.statusCodes]))

describe('@cortex/hono options', () => {
  it('refuses a bad clientAddress or trustProxy at construction, naming the option', () => {
    const refused = (make: () => unknown, option: string) => {
      let caught: unknown
      try {
        make()
      } catch (err) {
        caught = err
      }
      expect(caught).toBeInstanceOf(CortexConfigError)
      expect((caught as CortexConfigError).option).toBe(option)
    }
    refused(
      () => rateLimit({ limiter: limiter(), clientAddress: 'x-forwarded-for' as never }),
      'clientAddress',
    )
    refused(() => rateLimit({ limiter: limiter(), trustProxy: 'yes' as never }), 'trustProxy')
    refused(() => cortex({ rateLimit: { limiter: limiter(), unknown: 1 } as never }), 'unknown')
    const registry = { metrics: async () => '', contentType: 'text/plain' }
    refused(() => metricsHandler({ registry, clientAddress: 7 as never }), 'clientAddress')
    refused(() => metricsHandler({ registry, trustProxy: 1 as never }), 'trustProxy')
    refused(() => metricsHandler({ registry, allow: 'everyone' as never }), 'allow')
  })
})

describe('the route @cortex/hono sees', () => {
  it('is the first matched route that is not middleware, with mount prefixes; undefined for a 404', async () => {
    const seen: (string | undefined)[] = []
    const app = new Hono()
    app.use(async (c, next) => {
      seen.push(routeOf(c))
      await next()
    })
    app.get('*', async (_c, next) => next()) // a wildcard that takes next: middleware
    app.get('/files/*', (c) => c.text('file')) // a wildcard handler: a route
    app.get('/posts/:id', (c) => c.text('post'))
    app.get('/posts/new', (c) => c.text('never: /posts/:id answers first'))
    app.route(
      '/api',
      new Hono().get('/users/:id', (c) => c.text('user')),
    )
    for (const path of ['/files/a/b', '/posts/new', '/api/users/7', '/nothing']) await app.request(path)
    expect(seen).toEqual(['/files/*', '/posts/:id', '/api/users/:id', undefined])
  })

  it('chooses the policy on the matched route, so a percent-encoded spelling is charged to it', async () => {
    const app = new Hono()
    let runs = 0
    app.use(rateLimit({ limiter: limiter(2), clientAddress: () => '192.0.2.1' }))
    app.post('/embed/multimodal', (c) => {
      runs++
      return c.json({ ok: true })
    })
    const statuses: number[] = []
    for (const path of [
      '/embed/multimodal',
      '/%65mbed/multimodal',
      '/embed/multimoda%6C',
      '/EMBED/multimodal',
    ])
      statuses.push((await app.request(path, { method: 'POST' })).status)
    expect(statuses).toEqual([200, 200, 429, 404])
    expect(runs).toBe(2)
  })
})

describe('when Hono does not tell the matched routes', () => {
  it('the limiter falls back to the path Hono routed on, so exact policies still hold', async () => {
    const app = new Hono()
    app.use(async (c, next) => {
      Object.defineProperty(c.req, 'matchedRoutes', { get: () => undefined })
      await next()
    })
    app.use(rateLimit({ limiter: limiter(2), clientAddress: () => '192.0.2.1' }))
    app.post('/embed/multimodal', (c) => c.json({ ok: true }))
    const statuses: number[] = []
    for (let i = 0; i < 3; i++)
      statuses.push((await app.request('/%65mbed/multimodal', { method: 'POST' })).status)
    expect(statuses).toEqual([200, 200, 429])
  })
})

describe('headers on a Response the handler built itself', () => {
  for (const runtime of ['node', 'elsewhere'] as const) {
    it(`keeps the RateLimit and Power-Mode headers, even when its headers are immutable (${runtime})`, async () => {
      const controller = createPowerModeController({
        modes: { normal: { concurrency: 4 } },
        initial: 'normal',
      })
      const app = new Hono()
      app.use(
        cortex({
          rateLimit: { limiter: limiter(), clientAddress: () => '192.0.2.1' },
          powerMode: { controller },
        }),
      )
      app.get('/own', () => new Response('mine', { headers: { 'x-own': '1' } }))
      app.get('/immutable', () => Response.redirect('http://example.test/elsewhere', 302))
      const base = runtime === 'node' ? await serveOnNode(app) : ''
      const get = (path: string) =>
        runtime === 'node' ? fetch(`${base}${path}`, { redirect: 'manual' }) : app.request(path)
      for (const path of ['/own', '/immutable']) {
        const res = await get(path)
        expect(res.headers.get('ratelimit'), path).toMatch(/^"\*";r=\d+;t=\d+$/)
        expect(res.headers.get('power-mode'), path).toBe('normal')
      }
      expect((await get('/own')).headers.get('x-own')).toBe('1')
    })
  }

  it('combines the decisions of two limiters on one request, inner headers kept', async () => {
    const outer = createRateLimiter({ policies: { '* /*': { limit: 10, window: '1h' } }, logger: false })
    const app = new Hono()
    app.use(rateLimit({ limiter: outer, clientAddress: () => '192.0.2.1' }))
    app.use(rateLimit({ limiter: limiter(), clientAddress: () => '192.0.2.1' }))
    app.get('/own', () => new Response('mine'))
    const res = await app.request('/own')
    expect(res.headers.get('ratelimit-policy')).toBe('"* /*";q=10;w=3600, "*";q=100;w=3600')
  })
})

describe('the end of an exchange without a Node socket', () => {
  it('elsewhere (Bun, app.request): records the status produced and frees the slot once the Response exists', async () => {
    const t = tracker()
    const controller = createPowerModeController({ modes: { normal: { concurrency: 1 } }, initial: 'normal' })
    const app = new Hono()
    app.use(cortex({ slo: { tracker: t }, powerMode: { controller } }))
    app.get('/teapot', (c) => c.text('short and stout', 418))
    app.get('/boom', () => {
      throw new Error('boom')
    })
    app.onError((_err, c) => c.text('boom', 500))
    expect((await app.request('/teapot')).status).toBe(418)
    expect(controller.gateStats()).toMatchObject({ active: 0, completed: 1 })
    expect((await app.request('/boom')).status).toBe(500)
    expect((await app.request('/missing')).status).toBe(404)
    expect(counts(t)).toEqual({
      'GET /teapot': { '418': 1 },
      'GET /boom': { '500': 1 },
      'GET __unmatched__': { '404': 1 },
    })
    expect(controller.gateStats()).toMatchObject({ active: 0, completed: 3 })
    // Bun aborts the request's signal when the client goes away: no response reached it.
    const left = new AbortController()
    left.abort()
    await app.request(new Request('http://localhost/teapot', { signal: left.signal }))
    expect(counts(t)['GET /teapot']).toEqual({ '418': 1 })
    expect(controller.gateStats()).toMatchObject({ active: 0, completed: 4 })
  })

  it("records a request this middleware failed (a throwing key) as the 500 Hono's error handler sends", async () => {
    const t = tracker()
    const app = new Hono()
    const key = () => {
      throw new Error('key broke')
    }
    app.use(
      cortex({
        slo: { tracker: t },
        rateLimit: { limiter: limiter(), key, clientAddress: () => '192.0.2.1' },
      }),
    )
    app.get('/x', (c) => c.text('x'))
    app.onError((_err, c) => c.text('failed', 500))
    expect((await app.request('/x')).status).toBe(500)
    expect(counts(t)).toEqual({ 'GET /x': { '500': 1 } })
  })

  it('the same middleware mounted twice on one request ends each of its two exchanges', async () => {
    const t = tracker()
    const controller = createPowerModeController({ modes: { normal: { concurrency: 2 } }, initial: 'normal' })
    const stack = cortex({ slo: { tracker: t }, powerMode: { controller } })
    const app = new Hono()
    app.use(stack)
    app.use('*', stack)
    app.get('/teapot', (c) => c.text('short and stout', 418))
    expect((await app.request('/teapot')).status).toBe(418)
    expect(counts(t)).toEqual({ 'GET /teapot': { '418': 2 } })
    expect(controller.gateStats()).toMatchObject({ active: 0, completed: 2 })
  })

  it('Deno: waits for info.completed, and records nothing when the response was not sent', async () => {
    const t = tracker()
    const controller = createPowerModeController({ modes: { normal: { concurrency: 2 } }, initial: 'normal' })
    const app = new Hono()
    app.use(cortex({ slo: { tracker: t }, powerMode: { controller } }))
    app.get('/x', (c) => c.text('x'))
    const sent = deferred()
    const lost = deferred()
    await app.request('/x', {}, { remoteAddr: { hostname: '127.0.0.1' }, completed: sent.promise })
    await app.request('/x', {}, { remoteAddr: { hostname: '127.0.0.1' }, completed: lost.promise })
    expect(controller.gateStats().active).toBe(2)
    expect(counts(t)).toEqual({})
    sent.resolve()
    lost.reject(new Error('connection reset'))
    await new Promise((r) => setTimeout(r, 0))
    expect(counts(t)).toEqual({ 'GET /x': { '200': 1 } })
    expect(controller.gateStats()).toMatchObject({ active: 0, completed: 2 })
  })

  it('a tracker that throws never fails the request; the failure is logged at most once a minute', async () => {
    const error = vi.spyOn(console, 'error').mockImplementation(() => {})
    const failing = {
      now: () => 0,
      record: () => {
        throw new Error('tracker broke')
      },
    }
    const app = new Hono()
    app.use(sloTracking({ tracker: failing as never }))
    app.get('/x', (c) => c.text('x'))
    for (let i = 0; i < 3; i++) expect((await app.request('/x')).status).toBe(200)
    expect(error).toHaveBeenCalledTimes(1)
    expect(String(error.mock.calls[0]?.[0])).toContain('tracker broke')
  })
})

describe('the client address', () => {
  it('comes from clientAddress when given; forwarding headers warn unless trustProxy says they are read', async () => {
    const fromHeader = (c: { req: { header(name: string): string | undefined } }) =>
      c.req.header('x-forwarded-for')?.split(',').at(-1)?.trim()
    for (const trustProxy of [false, true]) {
      const warn = vi.fn()
      const l = createRateLimiter({ policies: { '*': { limit: 1, window: '1h' } }, logger: { warn } })
      const app = new Hono()
      app.use(rateLimit({ limiter: l, clientAddress: fromHeader as never, trustProxy }))
      app.get('/x', (c) => c.text('x'))
      const get = (client: string) => app.request('/x', { headers: { 'x-forwarded-for': client } })
      // Keyed by the address clientAddress gives: two clients, one token each.
      expect([(await get('198.51.100.1')).status, (await get('198.51.100.2')).status]).toEqual([200, 200])
      expect((await get('198.51.100.1')).status).toBe(429)
      expect(warn).toHaveBeenCalledTimes(trustProxy ? 0 : 1)
    }
  })

  it('powerMode exposes the mode as c.get("powerMode")', async () => {
    const controller = createPowerModeController({ modes: { low: { concurrency: 1 } }, initial: 'low' })
    // Chained, the middleware's Variables type the handler's c.get('powerMode') as a string.
    const app = new Hono().use(powerMode({ controller })).get('/x', (c) => c.text(c.get('powerMode')))
    expect(await (await app.request('/x')).text()).toBe('low')
  })
})
