import { request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createEnergyMeter, type EnergySource } from '@cortex/energy'
import { createSloTracker, defineSlos } from '@cortex/slo'
import { createRateLimiter } from '@cortex/token-bucket'
import Fastify from 'fastify'
import { describe, expect, it } from 'vitest'
import { energyTracking, rateLimit, sloTracking } from './index.js'
import { installSteps, REPLIED } from './pipeline.js'

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

describe('the step pipeline behind every plugin', () => {
  it("runs every plugin's close step once per response, also when an earlier plugin answered 429", async () => {
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

  it("logs a close step that throws, still runs the other plugins' close steps, and keeps serving", async () => {
    const errors: unknown[] = []
    const app = Fastify({
      logger: {
        level: 'error',
        stream: { write: (line: string) => errors.push(JSON.parse(line)) },
      },
    })
    let closed = 0
    installSteps(app, [
      {
        close() {
          throw new Error('boom')
        },
      },
    ])
    installSteps(app, [
      {
        close() {
          closed++
        },
      },
    ])
    app.get('/x', async () => ({ ok: true }))
    for (let i = 0; i < 3; i++) expect((await app.inject({ method: 'GET', url: '/x' })).statusCode).toBe(200)
    expect(closed).toBe(3)
    expect(errors).toHaveLength(3)
    expect(JSON.stringify(errors[0])).toContain('boom')
    await app.close()
  })

  it('runs the plugins in order, waits for a step that returns a promise, and stops at one that replied', async () => {
    const order: string[] = []
    const app = Fastify()
    installSteps(app, [
      {
        start() {
          order.push('a')
          return undefined
        },
      },
    ])
    installSteps(app, [
      {
        start: async (request, reply) => {
          order.push('b')
          if (request.url === '/stop') {
            reply.code(418).send({ stopped: true })
            return REPLIED
          }
          return undefined
        },
      },
    ])
    installSteps(app, [
      {
        start() {
          order.push('c')
          return undefined
        },
      },
    ])
    app.get('/go', async () => ({ ok: true }))
    app.get('/stop', async () => ({ ok: true }))
    expect((await app.inject({ method: 'GET', url: '/go' })).statusCode).toBe(200)
    expect(order).toEqual(['a', 'b', 'c'])
    order.length = 0
    const stopped = await app.inject({ method: 'GET', url: '/stop' })
    expect(stopped.statusCode).toBe(418)
    expect(order).toEqual(['a', 'b'])
    await app.close()
  })

  it('closes at once a step whose hook runs after the client has left', async () => {
    const app = Fastify()
    let release: () => void = () => {}
    const waited = new Promise<void>((r) => {
      release = r
    })
    const events: string[] = []
    let arrived: () => void = () => {}
    const reached = new Promise<void>((r) => {
      arrived = r
    })
    installSteps(app, [
      {
        start() {
          arrived()
          return waited.then(() => undefined)
        },
        close() {
          events.push('close first')
        },
      },
    ])
    installSteps(app, [
      {
        start() {
          events.push('start second')
          return undefined
        },
        close() {
          events.push('close second')
        },
      },
    ])
    app.get('/x', async () => ({ ok: true }))
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as AddressInfo
    const req = httpRequest({ port, host: '127.0.0.1', path: '/x' })
    req.on('error', () => {})
    req.end()
    await reached
    req.destroy() // the client leaves while the first plugin's step waits
    await new Promise((r) => setTimeout(r, 100))
    release()
    await new Promise((r) => setTimeout(r, 50))
    // 'close' came and went before the second hook ran: its step is closed right after it starts.
    expect(events).toEqual(['close first', 'start second', 'close second'])
    await app.close()
  })
})
