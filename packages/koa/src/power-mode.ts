/**
 * Koa middleware for @cortex/low-power: each request holds one of the current
 * mode's concurrency slots until its response closes (sent, or the client
 * went away), sees the mode as `ctx.state.powerMode`, and answers with a
 * `Power-Mode` header. A full queue gets the controller's 503 with
 * `Retry-After`.
 */

import type { Middleware } from 'koa'
import { createStack, type PowerModeOptions } from './stack.js'

export type { PowerModeOptions }

/**
 * @example
 * app.use(powerMode({ controller: power }))
 * router.post('/agents/plan', (ctx) => { ctx.body = plan(ctx.request.body, { lowPower: ctx.state.powerMode === 'low' }) })
 */
export function powerMode(options: PowerModeOptions): Middleware {
  return createStack({ powerMode: options ?? ({} as PowerModeOptions) }, 'powerMode')
}
