/** Drives Hono 4 on Node (@hono/node-server) through the @cortex/hono adapter. */
import * as adapter from '@cortex/hono'
import { createAdaptorServer } from '@hono/node-server'
import { type Context, Hono } from 'hono'
import { HTTPException } from 'hono/http-exception'
import {
  close,
  type FrameworkDriver,
  listen,
  mountAll,
  type Parts,
  quotaOf,
  reply,
  type ServerSetup,
  type Wiring,
} from './harness.js'

const separate = {
  slo: adapter.sloTracking,
  energy: adapter.energyTracking,
  rateLimit: adapter.rateLimit,
  powerMode: adapter.powerMode,
}

/**
 * Hono's stand-in for a framework's trust-proxy setting, as the README shows
 * it: with a trusted proxy in front, the client is the address the proxy
 * appended last to `X-Forwarded-For`; otherwise the socket's peer.
 */
function clientAddressFor(trustProxy: boolean): adapter.ClientAddress | undefined {
  if (!trustProxy) return undefined
  return (c) => c.req.header('x-forwarded-for')?.split(',').at(-1)?.trim() || adapter.runtimeClientAddress(c)
}

type HeaderView = { headers: Record<string, string> }
type RateLimitCase = {
  key?: (req: HeaderView) => string | undefined
  skip?: (req: HeaderView) => boolean
  cost?: (req: HeaderView) => number
}

/**
 * The cases' `key`/`skip`/`cost` read `req.headers` (a record); Hono's own
 * are functions of the context, reading `c.req.header(name)`.
 */
function honoRateLimit(options: unknown, trustProxy: boolean): adapter.RateLimitOptions {
  const o = options as adapter.RateLimitOptions & RateLimitCase
  const view = (c: Context): HeaderView => ({ headers: c.req.header() })
  const { key, skip, cost } = o
  return {
    ...o,
    key: key && ((c: Context) => key(view(c))),
    skip: skip && ((c: Context) => skip(view(c))),
    cost: cost && ((c: Context) => cost(view(c))),
    clientAddress: clientAddressFor(trustProxy),
    trustProxy,
  }
}

function withHonoRateLimit(parts: Parts, trustProxy: boolean): adapter.CortexOptions {
  const out = { ...parts } as adapter.CortexOptions
  if (parts.rateLimit !== undefined) out.rateLimit = honoRateLimit(parts.rateLimit, trustProxy)
  return out
}

async function jsonBody(c: Context): Promise<unknown> {
  if (!c.req.header('content-type')?.startsWith('application/json')) return undefined
  const text = await c.req.text()
  try {
    return text ? JSON.parse(text) : undefined
  } catch {
    throw new HTTPException(400, { message: 'the body is not valid JSON' })
  }
}

function driver(name: 'hono' | 'hono+cortex', wiring: Wiring): FrameworkDriver {
  return {
    name,
    family: 'hono',
    wiring,
    async start(setup: ServerSetup) {
      const trustProxy = setup.trustProxy ?? false
      const clientAddress = clientAddressFor(trustProxy)
      const app = new Hono()
      await mountAll(setup.middleware ?? [], wiring, {
        cortex: (parts) => app.use(adapter.cortex(withHonoRateLimit(parts, trustProxy))),
        part: (part, options) =>
          app.use(
            part === 'rateLimit'
              ? adapter.rateLimit(honoRateLimit(options, trustProxy))
              : separate[part](options as never),
          ),
        own: (m) => m.hono?.(app, { clientAddress, trustProxy }),
      })
      for (const route of setup.routes) {
        app.on(route.method, route.path, async (c) => {
          await jsonBody(c)
          const r = await reply(route, adapter.requestInfo(c, { clientAddress }), {
            ...setup.extras?.(c),
            quota: quotaOf(adapter, c),
          })
          return c.json(r.body as never, r.status as never, r.headers)
        })
      }
      const server = createAdaptorServer({ fetch: app.fetch }) as import('node:http').Server
      const url = await listen(server)
      return { framework: name, url, close: () => close(server) }
    },
  }
}

export const honoDriver = driver('hono', 'separate')
/** Hono with every case's parts mounted as one `cortex()` middleware. */
export const honoCortexDriver = driver('hono+cortex', 'cortex')
