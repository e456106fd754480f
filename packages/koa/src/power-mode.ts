/**
 * Koa middleware for @cortex/low-power: each request holds one of the current
 * mode's concurrency slots until its response closes (sent, or the client
 * went away), sees the mode as `ctx.state.powerMode`, and answers with a
 * `Power-Mode` header. A full queue gets the controller's 503 with
 * `Retry-After`.
 */

import type { ServerResponse } from 'node:http'
import { checkMethods } from '@cortex/core'
import type { PowerModeController } from '@cortex/low-power'
import type { Context, Middleware, Next } from 'koa'
import { closeListener, onResponseClose, setHeader } from './response.js'

export interface PowerModeOptions {
  controller: PowerModeController
  /** Response header naming the mode; `false` to send none. Default `Power-Mode`. */
  header?: string | false
}

/**
 * @example
 * app.use(powerMode({ controller: power }))
 * router.post('/agents/plan', (ctx) => { ctx.body = plan(ctx.request.body, { lowPower: ctx.state.powerMode === 'low' }) })
 */
export function powerMode(options: PowerModeOptions): Middleware {
  checkMethods(
    options?.controller,
    'controller',
    ['acquire', 'tryAcquire', 'overloadResponse'],
    'a controller from createPowerModeController()',
    'powerMode',
  )
  const { controller, header = 'Power-Mode' } = options
  /** This middleware's slot release on each response. */
  const kRelease = Symbol('cortex.koa.powerRelease')
  type Held = ServerResponse & { [kRelease]?: (() => void) | undefined }
  const onClose = closeListener(function release(this: Held): void {
    const release = this[kRelease]
    if (release === undefined) return
    this[kRelease] = undefined
    release()
  })
  const admit = (ctx: Context, next: Next, release: () => void): Promise<unknown> => {
    // Held until the exchange ends: 'close' comes for every response, once it is sent or when
    // the client goes away (at once if it already went while this request was queued).
    ;(ctx.res as Held)[kRelease] = release
    onResponseClose(ctx, onClose)
    ctx.state.powerMode = controller.mode
    if (header) setHeader(ctx, header, controller.mode)
    return next()
  }
  // Synchronous while a slot is free: no promise of our own; a queued request waits on one.
  return (ctx, next) => {
    const release = controller.tryAcquire()
    if (release !== undefined) return admit(ctx, next, release)
    return controller.acquire().then(
      (queued) => admit(ctx, next, queued),
      (err: unknown) => {
        const plan = controller.overloadResponse(err)
        if (!plan) throw err
        ctx.status = plan.status
        ctx.set(plan.headers)
        ctx.body = plan.body
      },
    )
  }
}
