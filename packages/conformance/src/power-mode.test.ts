import { createPowerModeController } from '@cortex/low-power'
import { afterEach, describe, expect, it } from 'vitest'
import { drivers, type FrameworkDriver, type Middleware, type RunningServer, sleep } from './index.js'
import { powerModeMiddleware } from './power-mode-wiring.js'

const running: RunningServer[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()))
})

async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (condition()) return
    await sleep(5)
  }
  throw new Error(`timed out waiting for ${what}`)
}

async function startGated(driver: FrameworkDriver, middleware: Middleware) {
  let inFlight = 0
  let maxInFlight = 0
  const gates: Array<() => void> = []
  const server = await driver.start({
    middleware: [middleware],
    extras: (r: { powerMode?: string; state?: { powerMode?: string }; var?: { powerMode?: string } }) => ({
      powerMode: r.powerMode ?? r.state?.powerMode ?? r.var?.powerMode,
    }),
    routes: [
      {
        method: 'GET',
        path: '/work',
        handler: async (_info, extras) => {
          inFlight++
          maxInFlight = Math.max(maxInFlight, inFlight)
          await new Promise<void>((resolve) => gates.push(resolve))
          inFlight--
          return { body: { powerMode: extras.powerMode } }
        },
      },
    ],
  })
  running.push(server)
  return {
    server,
    gates,
    get inFlight() {
      return inFlight
    },
    get maxInFlight() {
      return maxInFlight
    },
  }
}

describe.each(drivers)('power mode on $name', (driver) => {
  it('a client that goes away mid-request never leaks its slot (back at the latest when its handler ends)', async () => {
    const controller = createPowerModeController({ modes: { normal: { concurrency: 4 } }, initial: 'normal' })
    const s = await startGated(driver, powerModeMiddleware(driver, controller))
    const { request } = await import('node:http')
    const req = request(`${s.server.url}/work`)
    req.on('error', () => {})
    req.end()
    await until(() => controller.gateStats().active === 1, 'the request to hold a slot')
    req.destroy()
    await sleep(20)
    for (const open of s.gates.splice(0)) open()
    await until(() => controller.gateStats().active === 0, 'the slot to come back after the client left')
    expect(controller.gateStats().queued).toBe(0)
    controller.close()
  })

  it('in low mode with concurrency 2, a third simultaneous request waits and a fourth gets 503 with Retry-After', async () => {
    const controller = createPowerModeController({
      modes: { normal: { concurrency: 8 }, low: { concurrency: 2, maxQueue: 1 } },
      initial: 'normal',
      retryAfterSeconds: 2,
    })
    controller.set('low', { reason: 'test' })
    const app = await startGated(driver, powerModeMiddleware(driver, controller))
    const url = `${app.server.url}/work`
    const first = fetch(url)
    const second = fetch(url)
    await until(() => app.inFlight === 2, 'two requests in flight')
    const third = fetch(url)
    await until(() => controller.gateStats().queued === 1, 'the third request to queue')
    expect(app.inFlight).toBe(2)
    const fourth = await fetch(url)
    expect(fourth.status).toBe(503)
    expect(fourth.headers.get('retry-after')).toBe('2')
    expect(fourth.headers.get('power-mode')).toBe('low')
    expect(await fourth.json()).toEqual({ error: 'overloaded', mode: 'low', retryAfterSeconds: 2 })
    // Release the two running requests; the queued one then runs.
    for (const open of app.gates.splice(0)) open()
    await until(() => app.gates.length === 1, 'the queued request to start')
    for (const open of app.gates.splice(0)) open()
    for (const response of await Promise.all([first, second, third])) {
      expect(response.status).toBe(200)
      expect(response.headers.get('power-mode')).toBe('low')
      expect(await response.json()).toEqual({ powerMode: 'low' })
    }
    expect(app.maxInFlight).toBe(2)
    expect(controller.gateStats()).toMatchObject({ active: 0, queued: 0 })
  })
})
