/**
 * Fastify plugin for @cortex/low-power: each request holds one of the current
 * mode's concurrency slots until its response ends, sees the mode as
 * `request.powerMode`, and answers with a `Power-Mode` header. A full queue
 * gets the controller's 503 with `Retry-After`.
 */
import type { PowerModeController } from '@cortex/low-power'
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'

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

const plugin: FastifyPluginAsync<PowerModeOptions> = async (app, { controller, header = 'Power-Mode' }) => {
  app.decorateRequest('powerMode', undefined)
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
}

/**
 * @example
 * await app.register(powerMode, { controller: power })
 * app.post('/agents/plan', async (request) => plan(request.body, { lowPower: request.powerMode === 'low' }))
 */
export const powerMode = fp(plugin, { fastify: '5.x', name: '@cortex/fastify/power-mode' })
