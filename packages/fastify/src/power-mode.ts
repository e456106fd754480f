/**
 * Fastify plugin for @cortex/low-power: each request holds one of the current
 * mode's concurrency slots until its response ends, sees the mode as
 * `request.powerMode`, and answers with a `Power-Mode` header. A full queue
 * gets the controller's 503 with `Retry-After`.
 */

import { checkMethods } from '@cortex/core'
import type { PowerModeController } from '@cortex/low-power'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { cortexPlugin } from './plugin.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The power mode this request was admitted under (set by @cortex/fastify `powerMode`). */
    powerMode?: string
    /** Releases this request's concurrency slot (set by @cortex/fastify `powerMode`). */
    cortexPowerRelease: (() => void) | null
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
      ['acquire', 'tryAcquire', 'overloadResponse'],
      'a controller from createPowerModeController()',
      'powerMode',
    )
  },
  (app, { controller, header = 'Power-Mode' }) => {
    if (!app.hasRequestDecorator('powerMode')) app.decorateRequest('powerMode', undefined)
    if (!app.hasRequestDecorator('cortexPowerRelease')) app.decorateRequest('cortexPowerRelease', null)
    const releaseSlot = (request: FastifyRequest) => {
      const r = request.cortexPowerRelease
      if (r) {
        request.cortexPowerRelease = null
        r()
      }
    }
    const admit = (request: FastifyRequest, reply: FastifyReply, release: () => void) => {
      request.cortexPowerRelease = release
      // The slot is held until the exchange ends: 'close' comes for every response, once it is
      // sent or when the client goes away (Fastify runs neither onResponse nor onRequestAbort
      // for a client that leaves after sending its whole request).
      if (reply.raw.closed)
        releaseSlot(request) // it left while queued
      else reply.raw.once('close', () => releaseSlot(request))
      request.powerMode = controller.mode
      if (header) reply.header(header, controller.mode)
    }
    // Callback style with a synchronous fast path: no promise while a slot is free.
    app.addHook('onRequest', (request, reply, done) => {
      const release = controller.tryAcquire()
      if (release !== undefined) {
        admit(request, reply, release)
        done()
        return
      }
      controller.acquire().then(
        (queued) => {
          admit(request, reply, queued)
          done()
        },
        (err: unknown) => {
          const plan = controller.overloadResponse(err)
          if (!plan) done(err as Error)
          else reply.code(plan.status).headers(plan.headers).send(plan.body)
        },
      )
    })
  },
)
