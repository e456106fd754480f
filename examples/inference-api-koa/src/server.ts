/**
 * The inference API on Koa. Everything but the framework wiring comes from
 * @cortex-examples/shared, so this file reads like its Express and Fastify
 * twins.
 */
import { createServer } from 'node:http'
import { cortex, energyHandler, metricsHandler, powerMode } from '@cortex/koa'
import { type CortexStack, createHandlers, type Reply } from '@cortex-examples/shared'
import Router from '@koa/router'
import Koa, { type Context } from 'koa'

const send = (ctx: Context, r: Reply) => {
  ctx.status = r.status
  ctx.set(r.headers ?? {})
  ctx.body = r.body
}

/** A small JSON body reader (Koa has none built in). */
async function json(ctx: Context): Promise<unknown> {
  if (!ctx.is('application/json')) return undefined
  const chunks: Buffer[] = []
  for await (const chunk of ctx.req) chunks.push(chunk as Buffer)
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    return undefined
  }
}

export function buildServer(stack: CortexStack) {
  const app = new Koa()
  const router = new Router()
  const api = createHandlers(stack)

  // SLO timing, energy attribution and rate limits for every route, in one middleware.
  app.use(
    cortex({
      slo: { tracker: stack.tracker },
      energy: { meter: stack.meter },
      rateLimit: { limiter: stack.limiter },
    }),
  )

  // Inference runs under the power mode's concurrency; health and metrics never wait behind it.
  const gate = powerMode({ controller: stack.power })
  router.post('/embed/multimodal', gate, async (ctx) => send(ctx, await api.embed(await json(ctx))))
  router.post('/agents/plan', gate, async (ctx) => send(ctx, await api.plan(await json(ctx))))
  router.post('/agents/reflect', gate, async (ctx) => send(ctx, await api.reflect(await json(ctx))))

  router.get('/health/live', (ctx) => send(ctx, api.live()))
  router.get('/health/ready', (ctx) => send(ctx, api.ready()))
  router.get('/metrics', metricsHandler({ registry: stack.registry }))
  router.get('/metrics/energy', energyHandler({ meter: stack.meter }))
  router.put('/admin/power-mode', async (ctx) => send(ctx, api.setPowerMode(await json(ctx), ctx.ip)))

  app.use(router.routes())
  app.use(router.allowedMethods())
  return createServer(app.callback())
}
