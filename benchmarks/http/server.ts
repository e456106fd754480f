/**
 * One benchmark server, chosen by argv: `<framework> <stack>` where framework
 * is express | fastify | koa and stack is bare | cortex | peer. Serves
 * `GET /hello` (a small JSON body) and prints `{"port":N}` once listening.
 * Limits are set so that nothing is refused: the benchmark measures the cost
 * of checking, not of refusing. SIGINT exits cleanly (for --cpu-prof).
 *
 * The `cortex` stack is the adapter's `cortex()`: rate limit, SLO tracking,
 * energy tracking and power mode in one middleware (one Fastify plugin).
 *
 * Diagnostics, with stack `cortex` and `CORTEX_ONLY=…` (to see what a piece
 * costs alone; `benchmarks/http` never sets it):
 * - `slo` | `energy` | `rate` | `power`: one concern of the @cortex stack;
 * - `empty` (Express, Koa): one do-nothing middleware;
 * - `empty-onrequest` | `empty-onresponse` | `empty-hooks` |
 *   `empty-async-hooks` (Fastify): do-nothing hooks; `raw-close`: one hook
 *   adding a 'close' listener to each response;
 * - `headers`: the three response headers the stack adds, set the
 *   framework's usual way (`res.set`, `reply.header`, `ctx.set`);
 *   `headers-raw`: the same with Node's `res.setHeader`; `headers-lower`
 *   (Fastify): `reply.header` with lowercase names;
 * - `floor`: what any implementation of the stack must do and nothing else —
 *   one middleware or `onRequest` hook that sets the three headers the
 *   framework's cheapest way (`res.setHeader`; Fastify: `reply.header` with
 *   lower-case names) and adds one 'close' listener (a shared no-op) to see
 *   the response end;
 * - `observe`: the floor without the headers — one middleware or hook that
 *   adds one 'close' listener, which any per-request latency or energy
 *   tracking needs;
 * - `direct`: the same four primitives as `cortex()` called by hand from one
 *   middleware or hook, for this one endpoint only (see `directWiring`);
 * - `separate`: the four single-concern middlewares instead of `cortex()`.
 */
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createEnergyMeter, type EndRequest } from '@cortex/energy'
import * as cortexExpress from '@cortex/express'
import * as cortexFastify from '@cortex/fastify'
import * as cortexHono from '@cortex/hono'
import * as cortexKoa from '@cortex/koa'
import { createPowerModeController } from '@cortex/low-power'
import { createSloTracker, defineSlos } from '@cortex/slo'
import { createRateLimiter, type RateLimitDecision } from '@cortex/token-bucket'
import { createAdaptorServer } from '@hono/node-server'
import Router from '@koa/router'
import express from 'express'
import Fastify from 'fastify'
import { Hono } from 'hono'
import Koa from 'koa'
import { Registry } from 'prom-client'

const [framework, stack] = process.argv.slice(2) as [
  'express' | 'fastify' | 'koa' | 'hono',
  'bare' | 'cortex' | 'peer',
]
const HUGE = 1_000_000_000
const body = { hello: 'world' }
/** The three response headers the full stack adds (for the `headers*` diagnostics). */
const THREE: Record<string, string> = {
  'RateLimit-Policy': '"*";q=1000000000;w=1',
  RateLimit: '"*";r=999999999;t=1',
  'Power-Mode': 'normal',
}
const THREE_LOWER = Object.fromEntries(Object.entries(THREE).map(([k, v]) => [k.toLowerCase(), v]))
/** The floor's 'close' listener: seeing the response end, doing nothing. */
function noop(): void {}

function cortexStack() {
  const registry = new Registry()
  const limiter = createRateLimiter({
    policies: { 'GET /metrics': 'unlimited', '*': { limit: HUGE, window: '1s' } },
    registry,
  })
  const tracker = createSloTracker(
    defineSlos({
      service: 'bench',
      objectives: [
        { name: 'hello-latency', route: 'GET /hello', latency: { percentile: 95, thresholdMs: 50 } },
        { name: 'availability', route: '*', availability: { errorRate: 0.005 } },
      ],
    }),
    { registry },
  )
  const meter = createEnergyMeter({ sources: 'auto', intervalMs: 1000 })
  meter.registerMetrics(registry)
  meter.start()
  // Generous concurrency: the benchmark measures the stack's overhead, not queueing.
  const power = createPowerModeController({
    modes: { normal: { concurrency: 256 } },
    initial: 'normal',
    registry,
  })
  return { registry, limiter, tracker, meter, power }
}

/**
 * `direct`: the four primitives of `cortex()` (the same limiter, tracker,
 * meter and controller) called by hand for this one endpoint: the route,
 * policy and header names fixed, one clock read at each end shared by SLO
 * timing and energy attribution (both clocks are their defaults here), the
 * client keyed by its socket address, its state held by the 'close'
 * listener's closure, no options and no checks, and no 429 path (the
 * benchmark's limits never refuse). What one could hand-wire for a single
 * route: its gap to the floor is the primitives' own work, and `cortex()`'s
 * gap to it is what the adapter's generality costs.
 */
const DIRECT_POLICY = '"*";q=1000000000;w=1'
function directWiring(c: ReturnType<typeof cortexStack>) {
  const { tracker, meter, limiter, power } = c
  const origin = performance.timeOrigin
  interface State {
    method: string
    start: number
    end: EndRequest
    release: (() => void) | undefined
  }
  function onClose(res: ServerResponse, s: State): void {
    const t = tracker.now()
    if (res.writableEnded) {
      tracker.record({
        method: s.method,
        route: '/hello',
        statusCode: res.statusCode,
        durationMs: t - s.start,
        at: t,
      })
    }
    s.end(undefined, origin + t)
    s.release?.()
  }
  /**
   * Starts one request and returns its `RateLimit` header; the caller sets it,
   * `DIRECT_POLICY` and the `Power-Mode` header (`power.mode`) the
   * framework's cheapest way.
   */
  return (method: string, address: string, res: ServerResponse): string => {
    const t = tracker.now()
    const d = limiter.consume(address, '*') as RateLimitDecision // the memory store answers at once
    const s: State = {
      method,
      start: t,
      end: meter.startRequest('GET /hello', origin + t),
      release: power.tryAcquire(),
    }
    res.on('close', () => onClose(res, s))
    return `"*";r=${d.remaining};t=${d.resetSeconds}`
  }
}

async function listen(server: import('node:http').Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return (server.address() as AddressInfo).port
}

async function start(): Promise<number> {
  if (framework === 'express') {
    const app = express()
    if (stack === 'cortex') {
      const c = cortexStack()
      const only = process.env.CORTEX_ONLY
      if (only === 'empty') app.use((_req, _res, next) => next())
      if (only === 'headers')
        app.use((_req, res, next) => {
          res.set(THREE)
          next()
        })
      if (only === 'observe')
        app.use((_req, res, next) => {
          res.on('close', noop)
          next()
        })
      if (only === 'direct') {
        const start = directWiring(c)
        app.use((req, res, next) => {
          res.setHeader('ratelimit', start(req.method, req.socket.remoteAddress ?? '', res))
          res.setHeader('ratelimit-policy', DIRECT_POLICY)
          res.setHeader('power-mode', c.power.mode)
          next()
        })
      }
      if (only === 'headers-raw' || only === 'floor')
        app.use((_req, res, next) => {
          for (const k in THREE) res.setHeader(k, THREE[k] as string)
          if (only === 'floor') res.on('close', noop)
          next()
        })
      if (!only)
        app.use(
          cortexExpress.cortex({
            slo: { tracker: c.tracker },
            energy: { meter: c.meter },
            rateLimit: { limiter: c.limiter },
            powerMode: { controller: c.power },
          }),
        )
      if (only === 'separate' || only === 'slo') app.use(cortexExpress.sloTracking({ tracker: c.tracker }))
      if (only === 'separate' || only === 'energy') app.use(cortexExpress.energyTracking({ meter: c.meter }))
      if (only === 'separate' || only === 'rate') app.use(cortexExpress.rateLimit({ limiter: c.limiter }))
      if (only === 'separate' || only === 'power') app.use(cortexExpress.powerMode({ controller: c.power }))
      app.get('/metrics', cortexExpress.metricsHandler({ registry: c.registry }))
    } else if (stack === 'peer') {
      const { rateLimit } = await import('express-rate-limit')
      const promBundle = (await import('express-prom-bundle')).default
      app.use(promBundle({ includeMethod: true, includePath: true, includeStatusCode: true }))
      app.use(rateLimit({ windowMs: 60_000, limit: HUGE, standardHeaders: 'draft-7', legacyHeaders: false }))
    }
    app.get('/hello', (_req, res) => {
      res.json(body)
    })
    return listen(createServer(app))
  }
  if (framework === 'fastify') {
    const app = Fastify()
    if (stack === 'cortex') {
      const c = cortexStack()
      const only = process.env.CORTEX_ONLY
      if (only === 'empty-onrequest') app.addHook('onRequest', (_req, _reply, done) => done())
      if (only === 'empty-onresponse') app.addHook('onResponse', (_req, _reply, done) => done())
      if (only === 'raw-close') {
        const onClose = () => {}
        app.addHook('onRequest', (_req, reply, done) => {
          reply.raw.on('close', onClose)
          done()
        })
      }
      if (only === 'empty-hooks') {
        app.addHook('onRequest', (_req, _reply, done) => done())
        app.addHook('onResponse', (_req, _reply, done) => done())
      }
      if (only === 'headers') {
        app.addHook('onRequest', (_req, reply, done) => {
          for (const k in THREE) reply.header(k, THREE[k])
          done()
        })
      }
      if (only === 'observe') {
        app.addHook('onRequest', (_req, reply, done) => {
          reply.raw.on('close', noop)
          done()
        })
      }
      if (only === 'headers-raw' || only === 'headers-lower' || only === 'floor') {
        // The same three headers set on the Node response, or through Fastify with lowercase names.
        app.addHook('onRequest', (_req, reply, done) => {
          if (only === 'headers-raw') for (const k in THREE) reply.raw.setHeader(k, THREE[k] as string)
          else for (const k in THREE_LOWER) reply.header(k, THREE_LOWER[k])
          if (only === 'floor') reply.raw.on('close', noop)
          done()
        })
      }
      if (only === 'direct') {
        const start = directWiring(c)
        app.addHook('onRequest', (request, reply, done) => {
          reply.header('ratelimit', start(request.method, request.ip, reply.raw))
          reply.header('ratelimit-policy', DIRECT_POLICY)
          reply.header('power-mode', c.power.mode)
          done()
        })
      }
      if (only === 'empty-async-hooks') {
        app.addHook('onRequest', async () => {})
        app.addHook('onResponse', async () => {})
      }
      if (!only)
        await app.register(cortexFastify.cortex, {
          slo: { tracker: c.tracker },
          energy: { meter: c.meter },
          rateLimit: { limiter: c.limiter },
          powerMode: { controller: c.power },
        })
      if (only === 'separate' || only === 'slo')
        await app.register(cortexFastify.sloTracking({ tracker: c.tracker }))
      if (only === 'separate' || only === 'energy')
        await app.register(cortexFastify.energyTracking({ meter: c.meter }))
      if (only === 'separate' || only === 'rate')
        await app.register(cortexFastify.rateLimit, { limiter: c.limiter })
      if (only === 'separate' || only === 'power')
        await app.register(cortexFastify.powerMode, { controller: c.power })
      app.get('/metrics', cortexFastify.metricsHandler({ registry: c.registry }))
    } else if (stack === 'peer') {
      await app.register((await import('@fastify/rate-limit')).default, { max: HUGE, timeWindow: 60_000 })
      await app.register((await import('fastify-metrics')).default as never, { endpoint: '/metrics' })
    }
    app.get('/hello', async () => body)
    await app.listen({ port: 0, host: '127.0.0.1' })
    return (app.server.address() as AddressInfo).port
  }
  if (framework === 'hono') {
    // Hono on Node through @hono/node-server: the three headers and the 'close' listener of the
    // floor go on the Node response (what @cortex/hono does on Node).
    type Outgoing = { outgoing: ServerResponse }
    const app = new Hono<{ Bindings: Outgoing }>()
    if (stack === 'cortex') {
      const c = cortexStack()
      const only = process.env.CORTEX_ONLY
      if (only === 'observe' || only === 'floor') {
        app.use(async (ctx, next) => {
          const res = ctx.env.outgoing
          if (only === 'floor') for (const k in THREE) res.setHeader(k, THREE[k] as string)
          res.on('close', noop)
          await next()
        })
      }
      if (!only)
        app.use(
          cortexHono.cortex({
            slo: { tracker: c.tracker },
            energy: { meter: c.meter },
            rateLimit: { limiter: c.limiter },
            powerMode: { controller: c.power },
          }),
        )
      app.get('/metrics', cortexHono.metricsHandler({ registry: c.registry }))
    }
    app.get('/hello', (ctx) => ctx.json(body))
    return listen(createAdaptorServer({ fetch: app.fetch }) as import('node:http').Server)
  }
  const app = new Koa()
  const router = new Router()
  if (stack === 'cortex') {
    const c = cortexStack()
    const only = process.env.CORTEX_ONLY
    if (only === 'empty') app.use((_ctx, next) => next())
    if (only === 'headers') {
      app.use((ctx, next) => {
        ctx.set(THREE)
        return next()
      })
    }
    if (only === 'observe') {
      app.use((ctx, next) => {
        ctx.res.on('close', noop)
        return next()
      })
    }
    if (only === 'direct') {
      const start = directWiring(c)
      app.use((ctx, next) => {
        ctx.res.setHeader('ratelimit', start(ctx.method, ctx.req.socket.remoteAddress ?? '', ctx.res))
        ctx.res.setHeader('ratelimit-policy', DIRECT_POLICY)
        ctx.res.setHeader('power-mode', c.power.mode)
        return next()
      })
    }
    if (only === 'headers-raw' || only === 'floor') {
      app.use((ctx, next) => {
        for (const k in THREE) ctx.res.setHeader(k, THREE[k] as string)
        if (only === 'floor') ctx.res.on('close', noop)
        return next()
      })
    }
    if (!only)
      app.use(
        cortexKoa.cortex({
          slo: { tracker: c.tracker },
          energy: { meter: c.meter },
          rateLimit: { limiter: c.limiter },
          powerMode: { controller: c.power },
        }),
      )
    if (only === 'separate' || only === 'slo') app.use(cortexKoa.sloTracking({ tracker: c.tracker }))
    if (only === 'separate' || only === 'energy') app.use(cortexKoa.energyTracking({ meter: c.meter }))
    if (only === 'separate' || only === 'rate') app.use(cortexKoa.rateLimit({ limiter: c.limiter }))
    if (only === 'separate' || only === 'power') app.use(cortexKoa.powerMode({ controller: c.power }))
    router.get('/metrics', cortexKoa.metricsHandler({ registry: c.registry }))
  } else if (stack === 'peer') {
    const ratelimit = (await import('koa-ratelimit')).default
    const { Histogram, register } = await import('prom-client')
    const histogram = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'duration',
      labelNames: ['method', 'route', 'status_code'],
    })
    app.use(async (ctx, next) => {
      const end = histogram.startTimer()
      try {
        await next()
      } finally {
        end({
          method: ctx.method,
          route: (ctx as { _matchedRoute?: string })._matchedRoute ?? '__unmatched__',
          status_code: ctx.status,
        })
      }
    })
    app.use(ratelimit({ driver: 'memory', db: new Map(), duration: 60_000, max: HUGE, id: (ctx) => ctx.ip }))
    router.get('/metrics', async (ctx) => {
      ctx.body = await register.metrics()
    })
  }
  router.get('/hello', (ctx) => {
    ctx.body = body
  })
  app.use(router.routes())
  return listen(createServer(app.callback()))
}

const port = await start()
console.log(JSON.stringify({ port }))
process.once('SIGINT', () => process.exit(0))
