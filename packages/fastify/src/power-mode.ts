/**
 * Fastify plugin for @cortex/low-power: each request holds one of the current
 * mode's concurrency slots until its response ends, sees the mode as
 * `request.powerMode`, and answers with a `Power-Mode` header. A full queue
 * gets the controller's 503 with `Retry-After`.
 */
import { type PowerModeOptions, partPlugin } from './stack.js'

export type { PowerModeOptions }

/**
 * A plugin holding a power-mode concurrency slot per request, taken in `onRequest` (waiting in
 * the controller's queue when none is free; 503 when the queue refuses) and held until the
 * response closes.
 *
 * @example
 * await app.register(powerMode, { controller: power })
 * app.post('/agents/plan', async (request) => plan(request.body, { lowPower: request.powerMode === 'low' }))
 */
export const powerMode = partPlugin<PowerModeOptions>('@cortex/fastify/power-mode', 'powerMode', 'powerMode')
