/**
 * `cortex()` in every adapter: the same construction-time errors, and the
 * whole stack on one 'close' listener per response. (Every other case in
 * this suite also runs through `cortex()`, on the `+cortex` drivers.)
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { CortexConfigError } from '@cortex/core'
import { createEnergyMeter, type EnergySource } from '@cortex/energy'
import * as expressAdapter from '@cortex/express'
import * as fastifyAdapter from '@cortex/fastify'
import * as honoAdapter from '@cortex/hono'
import * as koaAdapter from '@cortex/koa'
import { createPowerModeController } from '@cortex/low-power'
import { createSloTracker, defineSlos } from '@cortex/slo'
import { createRateLimiter } from '@cortex/token-bucket'
import { createAdaptorServer, type HttpBindings } from '@hono/node-server'
import express from 'express'
import Fastify from 'fastify'
import { Hono } from 'hono'
import Koa from 'koa'
import { afterEach, describe, expect, it } from 'vitest'
import { listen } from './harness.js'

const slos = defineSlos({
  service: 't',
  objectives: [{ name: 'a', route: '*', availability: { errorRate: 0.01 } }],
})
const idle: EnergySource = {
  name: 'idle',
  kind: 'measured',
  component: 'cpu',
  available: async () => ({ available: true }),
  read: async () => ({ watts: 10 }),
}

function parts() {
  return {
    rateLimit: {
      limiter: createRateLimiter({ policies: { '*': { limit: 100, window: '1m' } }, logger: false }),
    },
    slo: { tracker: createSloTracker(slos) },
    energy: { meter: createEnergyMeter({ sources: [idle] }) },
    powerMode: {
      controller: createPowerModeController({ modes: { normal: { concurrency: 4 } }, initial: 'normal' }),
    },
  }
}
type Parts = ReturnType<typeof parts>

const closers: (() => Promise<unknown>)[] = []
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()))
})

async function serveNode(server: Server): Promise<string> {
  closers.push(() => new Promise((r) => server.close(r)))
  return `${await listen(server)}/x`
}

/** Per adapter: `cortex` called with options, and a server for GET /x answering its response's 'close' listener count and power mode. */
const adapters = [
  {
    name: 'express',
    call: (options: unknown) => expressAdapter.cortex(options as never),
    serve(p?: Parts): Promise<string> {
      const app = express()
      if (p) app.use(expressAdapter.cortex(p))
      app.get('/x', (req, res) => {
        res.json({ listeners: res.listenerCount('close'), mode: req.powerMode })
      })
      return serveNode(createServer(app))
    },
  },
  {
    name: 'fastify',
    call: (options: unknown) => fastifyAdapter.cortex(options as never),
    async serve(p?: Parts): Promise<string> {
      const app = Fastify()
      if (p) await app.register(fastifyAdapter.cortex, p)
      app.get('/x', async (request, reply) => ({
        listeners: reply.raw.listenerCount('close'),
        mode: request.powerMode,
      }))
      await app.listen({ port: 0, host: '127.0.0.1' })
      closers.push(() => app.close())
      return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/x`
    },
  },
  {
    name: 'koa',
    call: (options: unknown) => koaAdapter.cortex(options as never),
    serve(p?: Parts): Promise<string> {
      const app = new Koa()
      if (p) app.use(koaAdapter.cortex(p))
      app.use((ctx) => {
        // What @koa/router does when it matches a route.
        ;(ctx as { _matchedRoute?: string })._matchedRoute = '/x'
        ctx.body = { listeners: ctx.res.listenerCount('close'), mode: ctx.state.powerMode }
      })
      return serveNode(createServer(app.callback()))
    },
  },
  {
    name: 'hono',
    call: (options: unknown) => honoAdapter.cortex(options as never),
    serve(p?: Parts): Promise<string> {
      const app = new Hono<{ Bindings: HttpBindings; Variables: { powerMode?: string } }>()
      if (p) app.use(honoAdapter.cortex(p))
      app.get('/x', (c) =>
        c.json({ listeners: c.env.outgoing.listenerCount('close'), mode: c.get('powerMode') }),
      )
      return serveNode(createAdaptorServer({ fetch: app.fetch }) as Server)
    },
  },
]

describe.each(adapters)('cortex() on $name', (adapter) => {
  it('refuses bad options at construction, naming the option and cortex', () => {
    const refused = (options: unknown, option: string) => {
      let caught: unknown
      try {
        adapter.call(options)
      } catch (err) {
        caught = err
      }
      expect(caught).toBeInstanceOf(CortexConfigError)
      expect((caught as CortexConfigError).option).toBe(option)
      expect((caught as CortexConfigError).message).toContain('cortex')
    }
    refused(undefined, 'options')
    refused({}, 'options')
    refused({ limiter: parts().rateLimit.limiter }, 'limiter')
    refused({ slo: null }, 'slo')
    refused({ rateLimit: { limiter: {} } }, 'limiter')
    refused({ slo: { tracker: {} } }, 'tracker')
    refused({ energy: { meter: null } }, 'meter')
    refused({ powerMode: { controller: {} } }, 'controller')
    refused({ powerMode: { ...parts().powerMode, header: 7 } }, 'header')
  })

  it('runs the four parts with one close listener per response and sends their headers', async () => {
    const p = parts()
    const bare = (await (await fetch(await adapter.serve())).json()) as { listeners: number }
    const response = await fetch(await adapter.serve(p))
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ listeners: bare.listeners + 1, mode: 'normal' })
    expect(response.headers.get('ratelimit')).toMatch(/r=99/)
    expect(response.headers.get('power-mode')).toBe('normal')
    await new Promise((r) => setTimeout(r, 20))
    expect(p.slo.tracker.report().routes.find((r) => r.route === '/x')?.statusCodes).toEqual({ '200': 1 })
    expect(p.energy.meter.snapshot().routes['GET /x']?.requests).toBe(1)
    expect(p.powerMode.controller.gateStats()).toMatchObject({ active: 0, completed: 1 })
  })
})
