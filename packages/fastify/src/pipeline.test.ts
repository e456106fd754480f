import { request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createEnergyMeter, type EnergySource } from '@cortex/energy'
import type { PowerModeController } from '@cortex/low-power'
import { createSloTracker, defineSlos } from '@cortex/slo'
import { createRateLimiter } from '@cortex/token-bucket'
import Fastify from 'fastify'
import { describe, expect, it } from 'vitest'
import { energyTracking, powerMode, rateLimit, sloTracking } from './index.js'

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

describe('the exchange pipeline behind every plugin', () => {
  it("ends every plugin's exchange once per response, also when an earlier plugin answered 429", async () => {
    const tracker = createSloTracker(slos)
    const meter = createEnergyMeter({ sources: [idle] })
    const limiter = createRateLimiter({ policies: { '*': { limit: 1, window: '1m' } }, logger: false })
    const app = Fastify()
    await app.register(sloTracking({ tracker }))
    await app.register(energyTracking({ meter }))
    await app.register(rateLimit({ limiter }))
    app.get('/x', async () => ({ ok: true }))
    const first = await app.inject({ method: 'GET', url: '/x' })
    const second = await app.inject({ method: 'GET', url: '/x' })
    expect([first.statusCode, second.statusCode]).toEqual([200, 429])
    const x = tracker.report().routes.find((r) => r.route === '/x')
    expect(x?.statusCodes).toEqual({ '200': 1, '429': 1 })
    expect(meter.snapshot().routes['GET /x']?.requests).toBe(2)
    expect(meter.snapshot().requestsInFlight).toBe(0)
    await app.close()
    tracker.close()
  })

  it("logs a failure at the response's end, still ends the other plugins' exchanges, and keeps serving", async () => {
    const errors: unknown[] = []
    const app = Fastify({
      logger: { level: 'error', stream: { write: (line: string) => errors.push(JSON.parse(line)) } },
    })
    const meter = createEnergyMeter({ sources: [idle] })
    const broken = {
      now: () => 0,
      record: () => {
        throw new Error('boom')
      },
    }
    await app.register(sloTracking({ tracker: broken }))
    await app.register(energyTracking({ meter }))
    app.get('/x', async () => ({ ok: true }))
    for (let i = 0; i < 3; i++) expect((await app.inject({ method: 'GET', url: '/x' })).statusCode).toBe(200)
    expect(meter.snapshot().routes['GET /x']?.requests).toBe(3)
    expect(errors).toHaveLength(3)
    expect(JSON.stringify(errors[0])).toContain('boom')
    await app.close()
  })

  it('runs the plugins in registration order and stops at one that answered', async () => {
    const order: string[] = []
    const app = Fastify()
    const meterNamed = (name: string) => ({
      startRequest: () => {
        order.push(name)
        return () => {}
      },
    })
    await app.register(energyTracking({ meter: meterNamed('first') }))
    await app.register(
      rateLimit({
        limiter: createRateLimiter({ policies: { '*': { limit: 1, window: '1m' } }, logger: false }),
      }),
    )
    await app.register(energyTracking({ meter: meterNamed('after the limit') }))
    app.get('/x', async () => ({ ok: true }))
    expect((await app.inject({ method: 'GET', url: '/x' })).statusCode).toBe(200)
    expect(order).toEqual(['first', 'after the limit'])
    order.length = 0
    expect((await app.inject({ method: 'GET', url: '/x' })).statusCode).toBe(429)
    expect(order).toEqual(['first'])
    await app.close()
  })

  it('ends at once an exchange whose hook runs after the client has left, and frees its slot', async () => {
    const app = Fastify()
    let grant: (release: () => void) => void = () => {}
    let arrived: () => void = () => {}
    const reached = new Promise<void>((r) => {
      arrived = r
    })
    let released = 0
    const controller = {
      mode: 'normal',
      tryAcquire: () => undefined,
      acquire: () =>
        new Promise<() => void>((resolve) => {
          grant = resolve
          arrived()
        }),
      overloadResponse: () => undefined,
    } as unknown as PowerModeController
    const meter = createEnergyMeter({ sources: [idle] })
    await app.register(powerMode({ controller }))
    await app.register(energyTracking({ meter }))
    app.get('/x', async () => ({ ok: true }))
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as AddressInfo
    const req = httpRequest({ port, host: '127.0.0.1', path: '/x' })
    req.on('error', () => {})
    req.end()
    await reached
    req.destroy() // the client leaves while the request waits for a slot
    await new Promise((r) => setTimeout(r, 100))
    grant(() => released++)
    await new Promise((r) => setTimeout(r, 50))
    // 'close' came and went before the slot was granted: the slot goes back at once, and the energy
    // exchange, whose hook ran after the client left, ends right after it starts.
    expect(released).toBe(1)
    expect(meter.snapshot().requestsInFlight).toBe(0)
    await app.close()
  })
})
