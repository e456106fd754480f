/**
 * A malformed JSON body, with each README's documented wiring (the body
 * parser after `cortex()`): one status, one route label and the same
 * RateLimit headers in every framework. Express and Koa parse before (or
 * without) routing, Fastify and Hono after: the figures must not tell.
 */
import { createEnergyMeter, type EnergySource } from '@cortex/energy'
import { createSloTracker, defineSlos, type SloTracker } from '@cortex/slo'
import { createRateLimiter } from '@cortex/token-bucket'
import { afterEach, describe, expect, it } from 'vitest'
import { drivers, type RunningServer } from './index.js'

const running: RunningServer[] = []
const trackers: SloTracker[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()))
  for (const t of trackers.splice(0)) t.close()
})

const idle: EnergySource = {
  name: 'idle',
  kind: 'measured',
  component: 'cpu',
  available: async () => ({ available: true }),
  read: async () => ({ watts: 10 }),
}

describe.each(drivers)('a malformed body on $name', (driver) => {
  it('is answered 400 with the RateLimit headers and recorded under its route', async () => {
    const tracker = createSloTracker(
      defineSlos({
        service: 's',
        objectives: [{ name: 'a', route: '*', availability: { errorRate: 0.01 } }],
      }),
      { clock: () => 0 },
    )
    trackers.push(tracker)
    const meter = createEnergyMeter({ sources: [idle] })
    const limiter = createRateLimiter({
      policies: { 'POST /agents/reflect': { limit: 5, window: '1m' } },
      clock: () => 1_764_000_000_000,
      logger: false,
    })
    const server = await driver.start({
      routes: [{ method: 'POST', path: '/agents/reflect' }],
      middleware: [{ parts: { slo: { tracker }, energy: { meter }, rateLimit: { limiter } } }],
    })
    running.push(server)
    const res = await fetch(`${server.url}/agents/reflect`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"plan":',
    })
    await res.arrayBuffer()
    expect(res.status).toBe(400)
    expect(res.headers.get('ratelimit-policy')).toBe('"POST /agents/reflect";q=5;w=60')
    expect(res.headers.get('ratelimit')).toMatch(/^"POST \/agents\/reflect";r=4;t=\d+$/)
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(
      tracker.report().routes.map((r) => `${r.method} ${r.route} ${JSON.stringify(r.statusCodes)}`),
    ).toEqual(['POST /agents/reflect {"400":1}'])
    expect(Object.keys(meter.snapshot().routes)).toEqual(['POST /agents/reflect'])
  })
})
