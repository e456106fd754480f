/**
 * Koa middleware for @cortex/low-power: each request holds one of the current
 * mode's concurrency slots until downstream middleware finishes, sees the mode
 * as `ctx.state.powerMode`, and answers with a `Power-Mode` header. A full
 * queue gets the controller's 503 with `Retry-After`.
 */
import { checkMethods } from '@cortex/core'
import type { PowerModeController } from '@cortex/low-power'
import type { Middleware } from 'koa'

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
  return async (ctx, next) => {
    let release = controller.tryAcquire()
    if (release === undefined) {
      try {
        release = await controller.acquire()
      } catch (err) {
        const plan = controller.overloadResponse(err)
        if (!plan) throw err
        ctx.status = plan.status
        ctx.set(plan.headers)
        ctx.body = plan.body
        return
      }
    }
    try {
      ctx.state.powerMode = controller.mode
      if (header) ctx.set(header, controller.mode)
      await next()
    } finally {
      release()
    }
  }
}
