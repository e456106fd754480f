/**
 * The inference API on Koa. Everything but the framework wiring comes from
 * @cortex-examples/shared, so this file reads like its Express and Fastify
 * twins.
 */
import { createServer } from 'node:http'
import { cortex, energyHandler, metricsHandler, powerMode } from '@cortex/koa'
import {
  boundedLog,
  ClientError,
  type CortexStack,
  clientErrorBody,
  createHandlers,
  isClientCaused,
  type Reply,
  readJsonBody,
} from '@cortex-examples/shared'
import Router from '@koa/router'
import Koa, { type Context } from 'koa'

const send = (ctx: Context, r: Reply) => {
  ctx.status = r.status
  ctx.set(r.headers ?? {})
  ctx.body = r.body
}

/** The JSON body (Koa has no parser built in): at most 1 MiB (413 above), 400 when malformed. */
const json = (ctx: Context): Promise<unknown> =>
  ctx.is('application/json') ? readJsonBody(ctx.req) : Promise.resolve(undefined)

export function buildServer(stack: CortexStack) {
  const app = new Koa()
  const router = new Router()
  const api = createHandlers(stack)
  const log = boundedLog()

  // Client errors (bad or oversized bodies, aborted requests) become a JSON 4xx; other failures a
  // 500. Either way at most a few log lines a minute, never a stack trace per hostile request.
  app.use(async (ctx, next) => {
    try {
      await next()
    } catch (err) {
      const status = err instanceof ClientError ? err.status : 500
      if (status < 500) log.clientError(`${status} ${(err as ClientError).code}`)
      else log.serverError(err)
      ctx.status = status
      ctx.body =
        status < 500
          ? clientErrorBody(err as ClientError)
          : { error: 'internal_error', message: 'the server failed to answer' }
    }
  })
  // Koa's own 'error' event (a socket that failed mid-response) goes to the same bounded log.
  app.on('error', (err) =>
    isClientCaused(err) ? log.clientError(String(err?.code ?? err?.message)) : log.serverError(err),
  )

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
  router.put('/admin/power-mode', async (ctx) =>
    send(
      ctx,
      api.setPowerMode(await json(ctx), {
        clientAddress: ctx.ip,
        headers: ctx.req.headers,
        trustProxy: app.proxy,
      }),
    ),
  )

  app.use(router.routes())
  app.use(router.allowedMethods())
  return createServer(app.callback())
}
