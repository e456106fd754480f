import { createServer, request as httpRequest, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createPowerModeController } from '@cortex/low-power'
import { createSloTracker, defineSlos } from '@cortex/slo'
import Koa from 'koa'
import { afterEach, describe, expect, it } from 'vitest'
import { powerMode, sloTracking } from './index.js'

const servers: Server[] = []
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r))
})

async function listen(app: Koa): Promise<number> {
  const server = createServer(app.callback())
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return (server.address() as AddressInfo).port
}

function get(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ port, host: '127.0.0.1', path }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode as number))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('@cortex/koa middleware that ends with the response', () => {
  it('records a thrown error with the status Koa answered it with', async () => {
    const tracker = createSloTracker(
      defineSlos({
        service: 't',
        objectives: [{ name: 'a', route: '*', availability: { errorRate: 0.01 } }],
      }),
    )
    const app = new Koa()
    app.silent = true
    app.use(sloTracking({ tracker }))
    app.use((ctx) => {
      if (ctx.path === '/teapot') ctx.throw(418, 'short and stout')
      if (ctx.path === '/boom') throw new Error('boom')
      ctx.body = { ok: true }
    })
    const port = await listen(app)
    expect(await get(port, '/teapot')).toBe(418)
    expect(await get(port, '/boom')).toBe(500)
    expect(await get(port, '/fine')).toBe(200)
    await new Promise((r) => setTimeout(r, 20))
    const codes = tracker.report().routes.map((r) => r.statusCodes)
    expect(Object.assign({}, ...codes)).toEqual({ '200': 1, '418': 1, '500': 1 })
    tracker.close()
  })

  it('frees the power-mode slot when the client leaves, even while the handler still runs', async () => {
    const controller = createPowerModeController({
      modes: { normal: { concurrency: 1, maxQueue: 10 } },
      initial: 'normal',
    })
    let open: () => void = () => {}
    const gate = new Promise<void>((r) => {
      open = r
    })
    let entered: () => void = () => {}
    const inHandler = new Promise<void>((r) => {
      entered = r
    })
    const app = new Koa()
    app.use(powerMode({ controller }))
    app.use(async (ctx) => {
      if (ctx.path === '/slow') {
        entered()
        await gate
      }
      ctx.body = { ok: true }
    })
    const port = await listen(app)
    const slow = httpRequest({ port, host: '127.0.0.1', path: '/slow' })
    slow.on('error', () => {})
    slow.end()
    await inHandler
    slow.destroy() // the only slot's client leaves; its handler is still waiting
    // With the slot held until the handler ended, this request would queue until the gate opens.
    const fast = await Promise.race([
      get(port, '/fast'),
      new Promise((r) => setTimeout(() => r('still queued'), 1000)),
    ])
    open()
    expect(fast).toBe(200)
  })

  it("reports a close listener's error to app.on('error') and keeps serving", async () => {
    const failing = {
      now: () => performance.now(),
      record: () => {
        throw new Error('tracker broke')
      },
    }
    const app = new Koa()
    const errors: unknown[] = []
    app.on('error', (err) => errors.push(err))
    app.use(sloTracking({ tracker: failing as never }))
    app.use((ctx) => {
      ctx.body = { ok: true }
    })
    const port = await listen(app)
    expect(await get(port, '/a')).toBe(200)
    expect(await get(port, '/b')).toBe(200)
    await new Promise((r) => setTimeout(r, 20))
    expect(errors.map((e) => (e as Error).message)).toEqual(['tracker broke', 'tracker broke'])
  })
})
