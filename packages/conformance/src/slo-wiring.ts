/**
 * Wires @cortex/slo's adapters into a conformance server: SLO tracking for
 * every request and a `/metrics` endpoint, the same way in each framework.
 */
import { metricsHandler as expressMetrics } from '@cortex/express'
import { metricsHandler as fastifyMetrics } from '@cortex/fastify'
import { metricsHandler as honoMetrics } from '@cortex/hono'
import { metricsHandler as koaMetrics } from '@cortex/koa'
import type { SloTracker } from '@cortex/slo'
import type { Registry } from 'prom-client'
import type { Middleware } from './harness.js'

type Allow = Parameters<typeof expressMetrics>[0]['allow']

export function sloWiring(tracker: SloTracker, registry: Registry, allow?: Allow): Middleware {
  return {
    parts: { slo: { tracker } },
    express: (app) => {
      app.get('/metrics', expressMetrics({ registry, allow }))
    },
    fastify: (app) => {
      app.get('/metrics', fastifyMetrics({ registry, allow }))
    },
    koa: (app) => {
      const metrics = koaMetrics({ registry, allow })
      app.use((ctx: { path: string }, next: () => Promise<void>) =>
        ctx.path === '/metrics' ? metrics(ctx as never, next) : next(),
      )
    },
    hono: (app, client) => {
      app.get('/metrics', honoMetrics({ registry, allow, ...client }))
    },
  }
}
