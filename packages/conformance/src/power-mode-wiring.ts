/** How each framework wires @cortex's `powerMode` adapter (shared by the power-mode cases). */
import { powerMode as expressPowerMode } from '@cortex/express'
import { powerMode as fastifyPowerMode } from '@cortex/fastify'
import { powerMode as koaPowerMode } from '@cortex/koa'
import type { PowerModeController } from '@cortex/low-power'
import type { FrameworkDriver, Middleware } from './harness.js'

export function powerModeMiddleware(driver: FrameworkDriver, controller: PowerModeController): Middleware {
  switch (driver.family) {
    case 'express':
      return { express: (app) => app.use(expressPowerMode({ controller })) }
    case 'fastify':
      return { fastify: (app) => app.register(fastifyPowerMode, { controller }) }
    case 'koa':
      return { koa: (app) => app.use(koaPowerMode({ controller })) }
  }
}
