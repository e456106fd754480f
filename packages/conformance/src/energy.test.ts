import { createEnergyMeter, type EnergyMeter, type EnergySnapshot, type EnergySource } from '@cortex/energy'
import { afterEach, describe, expect, it } from 'vitest'
import { energyMiddleware } from './energy-wiring.js'
import { drivers, type FrameworkDriver, type RunningServer, sleep } from './index.js'

const running: RunningServer[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()))
})

/** A 100 W measured source, so figures are the same on every machine. */
const constantPower: EnergySource = {
  name: 'constant',
  kind: 'measured',
  component: 'cpu',
  available: async () => ({ available: true }),
  read: async () => ({ watts: 100 }),
}

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (condition()) return
    await sleep(5)
  }
  throw new Error(`timed out waiting for ${what}`)
}

async function start(
  driver: FrameworkDriver,
  meter: EnergyMeter,
  allow?: Parameters<typeof energyMiddleware>[2],
  held?: Promise<void>,
) {
  const server = await driver.start({
    middleware: [energyMiddleware(driver, meter, allow)],
    routes: [
      { method: 'GET', path: '/health/live' },
      {
        method: 'POST',
        path: '/embed/:model',
        // Held until released when given, so requests overlap however loaded the machine.
        handler: held
          ? async () => {
              await held
              return { body: { ok: true } }
            }
          : () => ({ body: { ok: true }, delayMs: 30 }),
      },
    ],
  })
  running.push(server)
  return server
}

/** Sends a fixed mix of traffic, sampling while the slow requests are in flight, and returns the served snapshot. */
async function traffic(driver: FrameworkDriver): Promise<{ served: EnergySnapshot; meter: EnergyMeter }> {
  const meter = createEnergyMeter({ sources: [constantPower], carbonIntensity: { country: 'FRA' } })
  let release = () => {}
  const held = new Promise<void>((resolve) => {
    release = resolve
  })
  const server = await start(driver, meter, undefined, held)
  await meter.sample()
  for (let i = 0; i < 3; i++) expect((await fetch(`${server.url}/health/live`)).status).toBe(200)
  const post = () =>
    fetch(`${server.url}/embed/multimodal`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    })
  const slow = [post(), post()]
  await until(() => meter.snapshot().requestsInFlight === 2, 'two requests in flight')
  await sleep(10)
  await meter.sample()
  release()
  for (const r of await Promise.all(slow)) expect(r.status).toBe(200)
  expect((await fetch(`${server.url}/no/such/route`)).status).toBe(404)
  await until(() => meter.snapshot().requestsInFlight === 0, 'all requests ended')
  await meter.sample()
  const response = await fetch(`${server.url}/metrics/energy`)
  expect(response.status).toBe(200)
  expect(response.headers.get('content-type')).toMatch(/^application\/json/)
  expect(response.headers.get('cache-control')).toBe('no-store')
  return { served: (await response.json()) as EnergySnapshot, meter }
}

/** The JSON's shape: keys and value types, not values. */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(shape)
  if (value === null) return 'null'
  if (typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as object).map(([k, v]) => [k, shape(v)]))
  }
  return typeof value
}

describe('energy adapters', () => {
  describe.each(drivers)('on $name', (driver) => {
    it('per-route request counts match the traffic sent, and energy goes to the routes in flight', async () => {
      const { served } = await traffic(driver)
      const counts = Object.fromEntries(
        Object.entries(served.routes).map(([route, r]) => [route, r.requests]),
      )
      // Named as the SLO tracker names them, unmatched included (issue 19, finding 6).
      expect(counts).toEqual({ 'GET /health/live': 3, 'POST /embed/:model': 2, 'GET __unmatched__': 1 })
      expect(served.routes['GET __unmatched__']).toMatchObject({ method: 'GET', route: '__unmatched__' })
      // Each request counts under the status class of the response sent (finding 5).
      const outcomes = Object.fromEntries(
        Object.entries(served.routes).map(([route, r]) => [
          route,
          Object.fromEntries(Object.entries(r.byStatusClass).map(([c, o]) => [c, o.requests])),
        ]),
      )
      expect(outcomes).toEqual({
        'GET /health/live': { '2xx': 3 },
        'POST /embed/:model': { '2xx': 2 },
        'GET __unmatched__': { '4xx': 1 },
      })
      expect(served.routes['POST /embed/:model']?.joules).toBeGreaterThan(0)
      expect(served.routes['POST /embed/:model']?.co2Grams).toBeGreaterThan(0)
      expect(served.carbonIntensity).toMatchObject({ source: 'country', country: 'FRA' })
    })

    it('a request whose client goes away still ends: nothing stays in flight', async () => {
      const meter = createEnergyMeter({ sources: [constantPower] })
      const server = await start(driver, meter)
      const { request } = await import('node:http')
      const req = request(`${server.url}/embed/multimodal`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
      })
      req.on('error', () => {})
      req.end('{}')
      await until(() => meter.snapshot().requestsInFlight === 1, 'the request to start')
      req.destroy()
      await until(() => meter.snapshot().requestsInFlight === 0, 'the abandoned request to end')
    })

    it('serves the snapshot to loopback by default and refuses others (403) or a missing bearer token (401)', async () => {
      const meter = createEnergyMeter({ sources: [constantPower] })
      const denied = await start(driver, meter, () => false)
      const refused = await fetch(`${denied.url}/metrics/energy`)
      expect(refused.status).toBe(403)
      expect(await refused.json()).toMatchObject({ error: 'forbidden' })
      const token = await start(driver, meter, { bearerToken: 's3cret' })
      const noToken = await fetch(`${token.url}/metrics/energy`)
      expect(noToken.status).toBe(401)
      expect(noToken.headers.get('www-authenticate')).toBe('Bearer')
      const withToken = await fetch(`${token.url}/metrics/energy`, {
        headers: { authorization: 'Bearer s3cret' },
      })
      expect(withToken.status).toBe(200)
    })
  })

  // Stands alone: sends its own traffic to every adapter (it used to read
  // shapes left by the tests above, and failed when run by itself).
  it('serves the identical JSON shape from every adapter', async () => {
    const shapes: { name: string; shape: unknown }[] = []
    for (const driver of drivers) {
      const { served } = await traffic(driver)
      shapes.push({ name: driver.name, shape: shape(served) })
      await Promise.all(running.splice(0).map((s) => s.close()))
    }
    expect(shapes.length).toBeGreaterThan(1)
    const [first, ...rest] = shapes as [(typeof shapes)[number], ...typeof shapes]
    for (const s of rest) expect(s).toEqual({ name: s.name, shape: first.shape })
  })
})
