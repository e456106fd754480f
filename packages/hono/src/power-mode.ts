/**
 * Hono middleware for @cortex/low-power: each request holds one of the
 * current mode's concurrency slots until its exchange ends, sees the mode as
 * `c.get('powerMode')`, and answers with a `Power-Mode` header. A full queue
 * gets the controller's 503 with `Retry-After`.
 */

import type { MiddlewareHandler } from 'hono'
import { createStack, type PowerModeOptions, type PowerModeVariables } from './stack.js'

export type { PowerModeOptions, PowerModeVariables }

/**
 * @example
 * app.post('/agents/plan', powerMode({ controller: power }), async (c) =>
 *   c.json(plan(await c.req.json(), { lowPower: c.get('powerMode') === 'low' })))
 */
export function powerMode(options: PowerModeOptions): MiddlewareHandler<{ Variables: PowerModeVariables }> {
  return createStack({ powerMode: options ?? ({} as PowerModeOptions) }, 'powerMode')
}
