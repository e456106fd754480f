/**
 * Fastify plugin for @cortex/low-power: each request holds one of the current
 * mode's concurrency slots until its response ends, sees the mode as
 * `request.powerMode`, and answers with a `Power-Mode` header. A full queue
 * gets the controller's 503 with `Retry-After`.
 */

import { CortexConfigError, checkMethods } from '@cortex/core'
import type { PowerModeController } from '@cortex/low-power'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { installSteps, REPLIED, type Step } from './pipeline.js'
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

/** Checks `powerMode`'s options. */
export function checkPowerMode(options: PowerModeOptions | undefined, where: string): void {
  checkMethods(
    options?.controller,
    'controller',
    ['acquire', 'tryAcquire', 'overloadResponse'],
    'a controller from createPowerModeController()',
    where,
  )
  const header = options?.header
  if (header !== undefined && header !== false && (typeof header !== 'string' || header.length === 0)) {
    throw new CortexConfigError('header', header, 'a header name, or false to send none', where)
  }
}

/**
 * The power-mode step: a concurrency slot taken in `onRequest` (waiting in
 * the controller's queue when none is free; 503 when the queue refuses) and
 * held until the response closes.
 */
export function powerModeStep(
  app: FastifyInstance,
  controller: PowerModeController,
  header: string | false = 'Power-Mode',
): Step {
  if (!app.hasRequestDecorator('powerMode')) app.decorateRequest('powerMode', undefined)
  if (!app.hasRequestDecorator('cortexPowerRelease')) app.decorateRequest('cortexPowerRelease', null)
  // Fastify sends header names in lower case; lowering it once spares a new string per request.
  const name = header === false ? false : header.toLowerCase()
  const admit = (request: FastifyRequest, reply: FastifyReply, release: () => void): undefined => {
    // The slot is held until the exchange ends: the pipeline's 'close' step releases it.
    if (reply.raw.closed)
      release() // it left while queued: 'close' has come and gone
    else request.cortexPowerRelease = release
    request.powerMode = controller.mode
    if (name) reply.header(name, controller.mode)
    return undefined
  }
  return {
    // A synchronous fast path: no promise while a slot is free.
    start(request, reply) {
      const release = controller.tryAcquire()
      if (release !== undefined) return admit(request, reply, release)
      return controller.acquire().then(
        (queued) => admit(request, reply, queued),
        (err: unknown) => {
          const plan = controller.overloadResponse(err)
          if (!plan) throw err
          reply.code(plan.status).headers(plan.headers).send(plan.body)
          return REPLIED
        },
      )
    },
    close(request) {
      const release = request.cortexPowerRelease
      if (!release) return
      request.cortexPowerRelease = null
      release()
    },
  }
}

/**
 * A plugin holding a power-mode concurrency slot per request (see `powerModeStep`).
 *
 * @example
 * await app.register(powerMode, { controller: power })
 * app.post('/agents/plan', async (request) => plan(request.body, { lowPower: request.powerMode === 'low' }))
 */
export const powerMode = cortexPlugin<PowerModeOptions>(
  '@cortex/fastify/power-mode',
  (options) => checkPowerMode(options, 'powerMode'),
  (app, { controller, header = 'Power-Mode' }) => installSteps(app, [powerModeStep(app, controller, header)]),
)
