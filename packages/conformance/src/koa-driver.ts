/** Drives Koa 3 and Koa 2 (with @koa/router) through the @cortex/koa adapter. */
import { createServer } from 'node:http'
import * as adapter from '@cortex/koa'
import Router from '@koa/router'
import Koa3 from 'koa'
// @ts-expect-error koa2 is an npm alias of koa@2 and shares its types
import Koa2 from 'koa2'
import {
  close,
  type FrameworkDriver,
  listen,
  mountAll,
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

async function jsonBody(ctx: Koa3.Context): Promise<unknown> {
  if (!ctx.is('application/json')) return undefined
  const chunks: Buffer[] = []
  for await (const chunk of ctx.req) chunks.push(chunk as Buffer)
  const text = Buffer.concat(chunks).toString('utf8')
  try {
    return text ? JSON.parse(text) : undefined
  } catch {
    ctx.throw(400, 'the body is not valid JSON')
  }
}

function driver(name: 'koa' | 'koa2' | 'koa+cortex', Koa: typeof Koa3, wiring: Wiring): FrameworkDriver {
  return {
    name,
    family: 'koa',
    wiring,
    async start(setup: ServerSetup) {
      const app = new Koa()
      app.proxy = setup.trustProxy ?? false
      await mountAll(setup.middleware ?? [], wiring, {
        cortex: (parts) => app.use(adapter.cortex(parts as adapter.CortexOptions)),
        part: (name, options) => app.use(separate[name](options as never)),
        own: (m) => m.koa?.(app),
      })
      const router = new Router()
      for (const route of setup.routes) {
        const method = route.method.toLowerCase() as 'get' | 'post' | 'put' | 'delete'
        router[method](route.path, async (ctx) => {
          await jsonBody(ctx)
          const r = await reply(route, adapter.requestInfo(ctx), {
            ...setup.extras?.(ctx),
            quota: quotaOf(adapter, ctx),
          })
          ctx.status = r.status
          ctx.set(r.headers)
          ctx.body = r.body
        })
      }
      app.use(router.routes())
      app.use(router.allowedMethods())
      const server = createServer(app.callback())
      const url = await listen(server)
      return { framework: name, url, close: () => close(server) }
    },
  }
}

export const koaDriver = driver('koa', Koa3, 'separate')
export const koa2Driver = driver('koa2', Koa2 as typeof Koa3, 'separate')
/** Koa 3 with every case's parts mounted as one `cortex()` middleware. */
export const koaCortexDriver = driver('koa+cortex', Koa3, 'cortex')
