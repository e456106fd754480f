/** How each framework wires @cortex's energy adapters (shared by the energy cases). */
import type { AccessRule } from '@cortex/core'
import type { EnergyMeter } from '@cortex/energy'
import { energyHandler as expressHandler } from '@cortex/express'
import { energyHandler as fastifyHandler } from '@cortex/fastify'
import { energyHandler as honoHandler } from '@cortex/hono'
import { energyHandler as koaHandler } from '@cortex/koa'
import Router from '@koa/router'
import type { FrameworkDriver, Middleware } from './harness.js'

/** Tracks every request with `meter` and serves its snapshot at `/metrics/energy`. */
export function energyMiddleware(
  driver: FrameworkDriver,
  meter: EnergyMeter,
  allow?: AccessRule,
): Middleware {
  switch (driver.family) {
    case 'express':
      return {
        parts: { energy: { meter } },
        express: (app) => {
          app.get('/metrics/energy', expressHandler({ meter, allow }))
        },
      }
    case 'fastify':
      return {
        parts: { energy: { meter } },
        fastify: (app) => {
          app.get('/metrics/energy', fastifyHandler({ meter, allow }))
        },
      }
    case 'koa':
      return {
        parts: { energy: { meter } },
        koa: (app) => {
          const router = new Router()
          router.get('/metrics/energy', koaHandler({ meter, allow }))
          app.use(router.routes())
        },
      }
    case 'hono':
      return {
        parts: { energy: { meter } },
        hono: (app, client) => {
          app.get('/metrics/energy', honoHandler({ meter, allow, ...client }))
        },
      }
  }
}
