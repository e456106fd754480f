/**
 * Fastify plugin for @cortex/low-power: each request holds one of the current
 * mode's concurrency slots until its response ends, sees the mode as
 * `request.powerMode`, and answers with a `Power-Mode` header. A full queue
 * gets the controller's 503 with `Retry-After`.
 */

import { checkMethods } from '@cortex/core'
import type { PowerModeController } from '@cortex/low-power'
import { cortexPlugin } from './plugin.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The power mode this request was admitted under (set by @cortex/fastify `powerMode`). */
    powerMode?: string
  }
}

export interface PowerModeOptions {
  controller: PowerModeController
  /** Response header naming the mode; `false` to send none. Default `Power-Mode`. */
  header?: string | false
}

/**
 * @example
 * await app.register(powerMode, { controller: power })
 * app.post('/agents/plan', async (request) => plan(request.body, { lowPower: request.powerMode === 'low' }))
 */
export const powerMode = cortexPlugin<PowerModeOptions>(
  '@cortex/fastify/power-mode',
  (options) => {
    checkMethods(
      options?.controller,
      'controller',
      ['acquire', 'overloadResponse'],
      'a controller from createPowerModeController()',
      'powerMode',
    )
  },
  (app, { controller, header = 'Power-Mode' }) => {
    if (!app.hasRequestDecorator('powerMode')) app.decorateRequest('powerMode', undefined)
    app.addHook('onRequest', async (request, reply) => {
      let release: () => void
      try {
        release = await controller.acquire()
      } catch (err) {
        const plan = controller.overloadResponse(err)
        if (!plan) throw err
        return reply.code(plan.status).headers(plan.headers).send(plan.body)
      }
      reply.raw.once('finish', release)
      reply.raw.once('close', release)
      request.powerMode = controller.mode
      if (header) reply.header(header, controller.mode)
    })
  },
)
