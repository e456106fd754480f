import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { CortexConfigError } from '@cortex/core'
import { createEnergyMeter, type EnergySource } from '@cortex/energy'
import { createPowerModeController } from '@cortex/low-power'
import { createSloTracker, defineSlos } from '@cortex/slo'
import { createRateLimiter } from '@cortex/token-bucket'
import Koa, { type Middleware } from 'koa'
import { afterEach, describe, expect, it } from 'vitest'
import { cortex } from './index.js'

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

function expectConfigError(make: () => unknown, option: string): void {
  let caught: unknown
  try {
    make()
  } catch (err) {
    caught = err
  }
  expect(caught).toBeInstanceOf(CortexConfigError)
  expect((caught as CortexConfigError).message).toContain('cortex')
  expect((caught as CortexConfigError).message).toContain(option)
}

const servers: Server[] = []
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r))
})

/** Serves GET /x answering how many 'close' listeners its response carries. */
async function serve(use?: Middleware): Promise<string> {
  const app = new Koa()
  if (use) app.use(use)
  app.use((ctx) => {
    // What @koa/router does when it matches a route.
    ;(ctx as { _matchedRoute?: string })._matchedRoute = '/x'
    ctx.body = { listeners: ctx.res.listenerCount('close'), mode: ctx.state.powerMode }
  })
  const server = createServer(app.callback())
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`
}

describe('@cortex/koa cortex()', () => {
  it('refuses bad options at construction, naming the option and cortex', () => {
    expectConfigError(() => cortex(undefined as never), 'options')
    expectConfigError(() => cortex({}), 'options')
    expectConfigError(() => cortex({ limiter: parts().rateLimit.limiter } as never), 'limiter')
    expectConfigError(() => cortex({ rateLimit: { limiter: {} as never } }), 'limiter')
    expectConfigError(() => cortex({ slo: { tracker: {} as never } }), 'tracker')
    expectConfigError(() => cortex({ energy: { meter: null as never } }), 'meter')
    expectConfigError(() => cortex({ powerMode: { controller: {} as never } }), 'controller')
    expectConfigError(() => cortex({ powerMode: { ...parts().powerMode, header: 7 as never } }), 'header')
  })

  it('runs the four parts with one close listener per response and sends their headers', async () => {
    const p = parts()
    const bare = (await (await fetch(await serve())).json()) as { listeners: number }
    const url = await serve(cortex(p))
    const response = await fetch(url)
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
