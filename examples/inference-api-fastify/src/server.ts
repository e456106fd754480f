/**
 * The inference API on Fastify. Everything but the framework wiring comes
 * from @cortex-examples/shared, so this file reads like its Express and Koa
 * twins.
 */

import { cortex, energyHandler, metricsHandler, powerMode } from '@cortex/fastify'
import {
  BODY_LIMIT_BYTES,
  boundedLog,
  type CortexStack,
  clientErrorBody,
  createHandlers,
  type Reply,
} from '@cortex-examples/shared'
import Fastify, { type FastifyError, type FastifyReply } from 'fastify'

const send = (reply: FastifyReply, r: Reply) =>
  reply
    .code(r.status)
    .headers(r.headers ?? {})
    .send(r.body)

export async function buildServer(stack: CortexStack) {
  // The same body limit as the Express and Koa examples (413 above it).
  const app = Fastify({ bodyLimit: BODY_LIMIT_BYTES })
  const api = createHandlers(stack)
  const log = boundedLog()
  // One JSON shape for errors in all three examples; client errors are not logged one by one.
  app.setErrorHandler((err: FastifyError, _req, reply) => {
    const status = err.statusCode ?? 500
    if (status >= 400 && status < 500) {
      log.clientError(`${status} ${err.code ?? 'request'}`)
      return reply.code(status).send(clientErrorBody({ message: err.message, status }))
    }
    log.serverError(err)
    return reply.code(500).send({ error: 'internal_error', message: 'the server failed to answer' })
  })

  // SLO timing, energy attribution and rate limits for every route, in one hook.
  await app.register(cortex, {
    slo: { tracker: stack.tracker },
    energy: { meter: stack.meter },
    rateLimit: { limiter: stack.limiter },
  })

  // Inference runs under the power mode's concurrency; health and metrics never wait behind it.
  await app.register(async (inference) => {
    await inference.register(powerMode, { controller: stack.power })
    inference.post('/embed/multimodal', async (req, reply) => send(reply, await api.embed(req.body)))
    inference.post('/agents/plan', async (req, reply) => send(reply, await api.plan(req.body)))
    inference.post('/agents/reflect', async (req, reply) => send(reply, await api.reflect(req.body)))
  })

  app.get('/health/live', async (_req, reply) => send(reply, api.live()))
  app.get('/health/ready', async (_req, reply) => send(reply, api.ready()))
  app.get('/metrics', metricsHandler({ registry: stack.registry }))
  app.get('/metrics/energy', energyHandler({ meter: stack.meter }))
  app.put('/admin/power-mode', async (req, reply) =>
    send(
      reply,
      api.setPowerMode(req.body, { clientAddress: req.ip, headers: req.headers, trustProxy: 'ips' in req }),
    ),
  )
  return app
}
