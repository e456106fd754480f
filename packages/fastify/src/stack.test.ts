import type { AddressInfo } from 'node:net'
import { CortexConfigError } from '@cortex/core'
import { createEnergyMeter, type EnergySource } from '@cortex/energy'
import { createPowerModeController } from '@cortex/low-power'
import { createSloTracker, defineSlos } from '@cortex/slo'
import { createRateLimiter } from '@cortex/token-bucket'
import Fastify from 'fastify'
import { describe, expect, it } from 'vitest'
import { type CortexOptions, cortex } from './index.js'

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

/** An app serving GET /x answering how many 'close' listeners its response carries. */
async function serve(options?: CortexOptions) {
  const app = Fastify()
  if (options) await app.register(cortex, options)
  app.get('/x', async (request, reply) => ({
    listeners: reply.raw.listenerCount('close'),
    mode: request.powerMode,
  }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  return app
}

describe('@cortex/fastify cortex', () => {
  it('refuses bad options when called or registered, naming the option and cortex', async () => {
    expectConfigError(() => cortex(undefined as never), 'options')
    expectConfigError(() => cortex({}), 'options')
    expectConfigError(() => cortex({ limiter: parts().rateLimit.limiter } as never), 'limiter')
    expectConfigError(() => cortex({ rateLimit: { limiter: {} as never } }), 'limiter')
    expectConfigError(() => cortex({ slo: { tracker: {} as never } }), 'tracker')
    expectConfigError(() => cortex({ energy: { meter: null as never } }), 'meter')
    expectConfigError(() => cortex({ powerMode: { controller: {} as never } }), 'controller')
    expectConfigError(() => cortex({ powerMode: { ...parts().powerMode, header: 7 as never } }), 'header')
    await expect(Fastify().register(cortex, { slo: { tracker: {} as never } })).rejects.toThrow(/tracker/)
  })

  it('runs the four parts from one hook with one close listener per response and sends their headers', async () => {
    const p = parts()
    const bare = await serve()
    const full = await serve(p)
    try {
      const before = (await (
        await fetch(`http://127.0.0.1:${(bare.server.address() as AddressInfo).port}/x`)
      ).json()) as {
        listeners: number
      }
      const response = await fetch(`http://127.0.0.1:${(full.server.address() as AddressInfo).port}/x`)
      expect(response.status).toBe(200)
      expect(await response.json()).toEqual({ listeners: before.listeners + 1, mode: 'normal' })
      expect(response.headers.get('ratelimit')).toMatch(/r=99/)
      expect(response.headers.get('power-mode')).toBe('normal')
      await new Promise((r) => setTimeout(r, 20))
      expect(p.slo.tracker.report().routes.find((r) => r.route === '/x')?.statusCodes).toEqual({ '200': 1 })
      expect(p.energy.meter.snapshot().routes['GET /x']?.requests).toBe(1)
      expect(p.powerMode.controller.gateStats()).toMatchObject({ active: 0, completed: 1 })
    } finally {
      await bare.close()
      await full.close()
    }
  })
})
