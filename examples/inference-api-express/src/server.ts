/**
 * The inference API on Express. Everything but the framework wiring comes
 * from @cortex-examples/shared, so this file reads like its Fastify and Koa
 * twins.
 */
import { createServer } from 'node:http'
import { cortex, energyHandler, metricsHandler, powerMode } from '@cortex/express'
import { type CortexStack, createHandlers, type Reply } from '@cortex-examples/shared'
import express, { type Response } from 'express'

const send = (res: Response, r: Reply) =>
  res
    .status(r.status)
    .set(r.headers ?? {})
    .json(r.body)

export function buildServer(stack: CortexStack) {
  const app = express()
  const api = createHandlers(stack)

  app.use(express.json())
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
  app.post('/embed/multimodal', gate, async (req, res) => send(res, await api.embed(req.body)))
  app.post('/agents/plan', gate, async (req, res) => send(res, await api.plan(req.body)))
  app.post('/agents/reflect', gate, async (req, res) => send(res, await api.reflect(req.body)))

  app.get('/health/live', (_req, res) => send(res, api.live()))
  app.get('/health/ready', (_req, res) => send(res, api.ready()))
  app.get('/metrics', metricsHandler({ registry: stack.registry }))
  app.get('/metrics/energy', energyHandler({ meter: stack.meter }))
  app.put('/admin/power-mode', (req, res) => send(res, api.setPowerMode(req.body, req.ip)))
  return createServer(app)
}
