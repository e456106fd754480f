import { createServer, request as httpRequest, IncomingMessage, type Server, ServerResponse } from 'node:http'
import { type AddressInfo, Socket } from 'node:net'
import { createPowerModeController } from '@cortex/low-power'
import { createRateLimiter, rateLimitDecisions } from '@cortex/token-bucket'
import express from 'express'
import { afterEach, describe, expect, it } from 'vitest'
import { cortex } from './index.js'

const servers: Server[] = []
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r))
})

function getJson(port: number, path: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ port, host: '127.0.0.1', path }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        body += chunk
      })
      res.on('end', () => resolve(JSON.parse(body)))
    })
    req.on('error', reject)
    req.end()
  })
}

async function serve(app: express.Express): Promise<number> {
  const server = createServer(app)
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return (server.address() as AddressInfo).port
}

function stack() {
  return cortex({
    rateLimit: { limiter: createRateLimiter({ policies: { '*': { limit: 10, window: '1m' } } }) },
    powerMode: {
      controller: createPowerModeController({ modes: { normal: { concurrency: 4 } }, initial: 'normal' }),
    },
  })
}

describe('@cortex/express per-request values', () => {
  it('hands req.powerMode and the rate-limit decisions to handlers without adding a property to req or res', async () => {
    const app = express()
    const bare = express()
    // What an Express request and response carry of their own without @cortex, to compare.
    const own = (req: object, res: object) => ({
      req: Reflect.ownKeys(req).map(String).sort(),
      res: Reflect.ownKeys(res).map(String).sort(),
    })
    bare.get('/own', (req, res) => {
      res.json(own(req, res))
    })
    app.use(stack())
    app.get('/own', (req, res) => {
      const decisions = rateLimitDecisions(req)
      res.json({
        ...own(req, res),
        mode: req.powerMode,
        decisions: decisions.map((d) => ({ policy: d.policy, remaining: d.remaining })),
      })
    })
    const withCortex = await getJson(await serve(app), '/own')
    const without = await getJson(await serve(bare), '/own')
    expect(withCortex.mode).toBe('normal')
    expect(withCortex.decisions).toEqual([{ policy: '*', remaining: 9 }])
    expect(withCortex.req).toEqual(without.req)
    expect(withCortex.res).toEqual(without.res)
  })

  it('lets a handler overwrite req.powerMode like a plain property', async () => {
    const app = express()
    app.use(stack())
    app.get('/set', (req, res) => {
      req.powerMode = 'custom'
      res.json({ mode: req.powerMode, own: Object.hasOwn(req, 'powerMode') })
    })
    expect(await getJson(await serve(app), '/set')).toEqual({ mode: 'custom', own: false })
  })

  it('leaves Node’s request prototype alone and uses plain properties for a request Express did not initialise', async () => {
    const middleware = stack()
    const req = new IncomingMessage(new Socket())
    req.method = 'GET'
    req.url = '/direct'
    const res = new ServerResponse(req)
    await new Promise<void>((resolve, reject) =>
      middleware(req as never, res as never, (err?: unknown) => (err ? reject(err) : resolve())),
    )
    expect(Object.getOwnPropertyDescriptor(IncomingMessage.prototype, 'powerMode')).toBeUndefined()
    expect((req as IncomingMessage & { powerMode?: string }).powerMode).toBe('normal')
    expect(Object.hasOwn(req, 'powerMode')).toBe(true)
    expect(rateLimitDecisions(req)).toHaveLength(1)
    res.destroy()
  })
})
