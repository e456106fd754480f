import { createPowerModeController } from '@cortex/low-power'
import { createSloTracker, defineSlos } from '@cortex/slo'
import { createRateLimiter } from '@cortex/token-bucket'
import Fastify from 'fastify'
import { describe, expect, it } from 'vitest'
import { powerMode, rateLimit, sloTracking } from './index.js'

const slos = defineSlos({
  service: 't',
  objectives: [{ name: 'a', route: '*', availability: { errorRate: 0.01 } }],
})

async function serve(register: (app: ReturnType<typeof Fastify>) => Promise<unknown>) {
  const app = Fastify()
  await register(app)
  app.get('/x', async () => ({ ok: true }))
  const res = await app.inject({ method: 'GET', url: '/x' })
  await app.close()
  return res
}

describe('every @cortex Fastify plugin registers both ways', () => {
  it('register(plugin, options) and register(plugin(options)) apply the same hooks', async () => {
    for (const form of ['options', 'factory'] as const) {
      const limiter = createRateLimiter({ policies: { '*': { limit: 1, window: '1m' } }, logger: false })
      const tracker = createSloTracker(slos)
      const controller = createPowerModeController({
        modes: { normal: { concurrency: 4 } },
        initial: 'normal',
      })
      const res = await serve(async (app) => {
        if (form === 'options') {
          await app.register(sloTracking, { tracker })
          await app.register(rateLimit, { limiter })
          await app.register(powerMode, { controller })
        } else {
          await app.register(sloTracking({ tracker }))
          await app.register(rateLimit({ limiter }))
          await app.register(powerMode({ controller }))
        }
      })
      expect(res.statusCode, form).toBe(200)
      expect(res.headers['power-mode'], form).toBe('normal')
      expect(res.headers['ratelimit-policy'], form).toBe('"*";q=1;w=60')
      expect(tracker.report().routes.map((r) => r.route)).toEqual(['/x'])
      tracker.close()
    }
  })

  it('rejects bad options when called, and when registered', async () => {
    expect(() => rateLimit({ limiter: {} as never })).toThrow('`limiter` in rateLimit')
    expect(() => sloTracking({ tracker: undefined as never })).toThrow('`tracker` in sloTracking')
    expect(() => powerMode({ controller: {} as never })).toThrow('`controller` in powerMode')
    const app = Fastify()
    await expect(app.register(rateLimit, { limiter: 42 as never }).ready()).rejects.toThrow('`limiter`')
    await app.close()
  })
})
