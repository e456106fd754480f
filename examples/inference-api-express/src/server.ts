/**
 * The inference API on Express. Everything but the framework wiring comes
 * from @cortex-examples/shared, so this file reads like its Fastify and Koa
 * twins.
 */
import { createServer } from 'node:http'
import { cortex, energyHandler, metricsHandler, powerMode } from '@cortex/express'
import {
  BODY_LIMIT_BYTES,
  boundedLog,
  type CortexStack,
  clientErrorBody,
  createHandlers,
  type Reply,
} from '@cortex-examples/shared'
import express, { type NextFunction, type Request, type Response } from 'express'

const send = (res: Response, r: Reply) =>
  res
    .status(r.status)
    .set(r.headers ?? {})
    .json(r.body)

export function buildServer(stack: CortexStack) {
  const app = express()
  const api = createHandlers(stack)
  const log = boundedLog()

  // SLO timing, energy attribution and rate limits for every route, in one middleware — before the
  // body parser, so a refused request is answered without reading its body.
  app.use(
    cortex({
      slo: { tracker: stack.tracker },
      energy: { meter: stack.meter },
      rateLimit: { limiter: stack.limiter },
    }),
  )
  app.use(express.json({ limit: BODY_LIMIT_BYTES }))

  // Inference runs under the power mode's concurrency; health and metrics never wait behind it.
  const gate = powerMode({ controller: stack.power })
  app.post('/embed/multimodal', gate, async (req, res) => send(res, await api.embed(req.body)))
  app.post('/agents/plan', gate, async (req, res) => send(res, await api.plan(req.body)))
  app.post('/agents/reflect', gate, async (req, res) => send(res, await api.reflect(req.body)))

  app.get('/health/live', (_req, res) => send(res, api.live()))
  app.get('/health/ready', (_req, res) => send(res, api.ready()))
  app.get('/metrics', metricsHandler({ registry: stack.registry }))
  app.get('/metrics/energy', energyHandler({ meter: stack.meter }))
  app.put('/admin/power-mode', (req, res) =>
    send(
      res,
      api.setPowerMode(req.body, {
        clientAddress: req.ip,
        headers: req.headers,
        trustProxy: Boolean(app.get('trust proxy')),
      }),
    ),
  )

  // Malformed, oversized or aborted bodies are the client's fault: a JSON 4xx and at most a few
  // log lines a minute, never a stack trace per request (Express's default handler prints one).
  app.use(
    (
      err: { status?: number; statusCode?: number; type?: string },
      _req: Request,
      res: Response,
      next: NextFunction,
    ) => {
      if (res.headersSent) return next(err)
      const status = Number(err?.status ?? err?.statusCode)
      if (status >= 400 && status < 500) {
        log.clientError(`${status} ${err.type ?? 'request'}`)
        res.status(status).json(clientErrorBody({ ...err, message: (err as Error).message, status }))
        return
      }
      log.serverError(err)
      res.status(500).json({ error: 'internal_error', message: 'the server failed to answer' })
    },
  )
  return createServer(app)
}
