/**
 * The API's handlers, framework-free: each takes the parsed JSON body and
 * the stack, and returns `{ status, body }`. The Express, Fastify and Koa
 * servers only route to them, so the three examples behave the same.
 */
import { checkAccess } from '@cortex/core'
import { powerModes } from '../cortex.config.ts'
import type { InferenceKnobs } from './inference.js'
import { type EmbedInput, embedBatch, plan, reflect } from './inference.js'
import type { CortexStack, PowerMode } from './stack.js'

export interface Reply {
  status: number
  body: unknown
  headers?: Record<string, string>
}

const bad = (message: string): Reply => ({ status: 400, body: { error: 'bad_request', message } })

export interface Handlers {
  embed(body: unknown): Promise<Reply>
  plan(body: unknown): Promise<Reply>
  reflect(body: unknown): Promise<Reply>
  live(): Reply
  ready(): Reply
  setPowerMode(body: unknown, clientAddress: string | undefined): Reply
}

/**
 * @example
 * const handlers = createHandlers(stack)
 * app.post('/agents/plan', async (req, res) => send(res, await handlers.plan(req.body)))
 */
export function createHandlers(stack: CortexStack): Handlers {
  const { power } = stack
  const knobs = () => power.knobs as unknown as InferenceKnobs
  // Embeddings batch under the low mode's `batch` knob (one invocation overhead per batch).
  const embedOne = power.batcher((inputs: EmbedInput[]) => embedBatch(inputs, knobs()))

  return {
    async embed(body) {
      const input = (body ?? {}) as EmbedInput
      if (typeof input.text !== 'string' && typeof input.imageUrl !== 'string') {
        return bad('send { "text": "..." } and/or { "imageUrl": "..." }')
      }
      return { status: 200, body: await embedOne(input) }
    },
    async plan(body) {
      const goal = (body as { goal?: unknown } | undefined)?.goal
      if (typeof goal !== 'string' || goal.length === 0) return bad('send { "goal": "..." }')
      return { status: 200, body: plan(goal, knobs()) }
    },
    async reflect(body) {
      const { plan: steps, outcome } = (body ?? {}) as { plan?: unknown; outcome?: unknown }
      if (!Array.isArray(steps) || typeof outcome !== 'string')
        return bad('send { "plan": [...], "outcome": "..." }')
      return { status: 200, body: reflect(steps.map(String), outcome, knobs()) }
    },
    live() {
      return { status: 200, body: { status: 'ok' } }
    },
    ready() {
      return { status: 200, body: { status: 'ready', powerMode: power.mode, store: stack.store } }
    },
    setPowerMode(body, clientAddress) {
      const access = checkAccess('internal', { clientAddress })
      if (!access.allowed) return { status: access.status, body: access.body, headers: access.headers }
      const { mode, ttlMs, reason } = (body ?? {}) as { mode?: unknown; ttlMs?: unknown; reason?: unknown }
      if (mode === 'auto') {
        void power.release()
        return { status: 200, body: { mode: power.mode, override: null } }
      }
      if (typeof mode !== 'string' || !Object.hasOwn(powerModes, mode)) {
        return bad('send { "mode": "normal" | "low" | "auto", "ttlMs"?: number }')
      }
      power.set(mode as PowerMode, {
        reason: typeof reason === 'string' ? reason : 'admin-api',
        ttlMs: typeof ttlMs === 'number' ? ttlMs : undefined,
      })
      return { status: 200, body: { mode: power.mode, override: power.override ?? null } }
    },
  }
}
