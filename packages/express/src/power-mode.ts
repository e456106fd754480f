/**
 * Express middleware for @cortex/low-power: each request holds one of the
 * current mode's concurrency slots until its response ends, sees the mode as
 * `req.powerMode`, and answers with a `Power-Mode` header. A full queue gets
 * the controller's 503 with `Retry-After`.
 */
import type { RequestHandler } from 'express'
import { createStack, type PowerModeOptions } from './stack.js'

export type { PowerModeOptions }

/**
 * @example
 * app.use(powerMode({ controller: power }))
 * app.post('/agents/plan', (req, res) => res.json(plan(req.body, { lowPower: req.powerMode === 'low' })))
 */
export function powerMode(options: PowerModeOptions): RequestHandler {
  return createStack({ powerMode: options ?? ({} as PowerModeOptions) }, 'powerMode')
}
