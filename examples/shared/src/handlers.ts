/**
 * The API's handlers, framework-free: each takes the parsed JSON body and
 * the stack, and returns `{ status, body }`. The Express, Fastify and Koa
 * servers only route to them, so the three examples behave the same.
 */
import { type AccessRequest, accessGuard } from '@cortex/core'
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

/** Bounds on request fields: every body is checked before any work, so bad input is a 400, never a 500. */
export const LIMITS = {
  textChars: 10_000,
  urlChars: 2048,
  goalChars: 2000,
  planSteps: 100,
  stepChars: 500,
  outcomeChars: 2000,
  /** The longest power-mode override the admin endpoint accepts: 1 hour. */
  maxOverrideTtlMs: 3_600_000,
  /** The shortest: 1 second. */
  minOverrideTtlMs: 1000,
} as const

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v)
const isText = (v: unknown, max: number): v is string =>
  typeof v === 'string' && v.length > 0 && v.length <= max

export interface Handlers {
  embed(body: unknown): Promise<Reply>
  plan(body: unknown): Promise<Reply>
  reflect(body: unknown): Promise<Reply>
  live(): Reply
  ready(): Reply
  /**
   * `PUT /admin/power-mode`: loopback callers only (a request carrying
   * forwarding headers the framework does not trust is refused);
   * `{ "mode": "normal" | "low" | "auto", "ttlMs"?: 1000…3600000, "reason"?: string }`.
   */
  setPowerMode(body: unknown, access: AccessRequest): Reply
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
  // Loopback only, and warns once about an untrusted proxy in front.
  const adminAccess = accessGuard('internal', 'PUT /admin/power-mode')

  return {
    async embed(body) {
      const shape = `send { "text": "..." } and/or { "imageUrl": "..." } (at most ${LIMITS.textChars} and ${LIMITS.urlChars} characters)`
      if (!isObject(body)) return bad(shape)
      const { text, imageUrl } = body
      if (text !== undefined && !isText(text, LIMITS.textChars)) return bad(shape)
      if (imageUrl !== undefined && !isText(imageUrl, LIMITS.urlChars)) return bad(shape)
      if (text === undefined && imageUrl === undefined) return bad(shape)
      const input: EmbedInput = {}
      if (text !== undefined) input.text = text
      if (imageUrl !== undefined) input.imageUrl = imageUrl
      return { status: 200, body: await embedOne(input) }
    },
    async plan(body) {
      const goal = isObject(body) ? body.goal : undefined
      if (!isText(goal, LIMITS.goalChars))
        return bad(`send { "goal": "..." } (1 to ${LIMITS.goalChars} characters)`)
      return { status: 200, body: plan(goal, knobs()) }
    },
    async reflect(body) {
      const shape = `send { "plan": ["step", ...], "outcome": "..." } (at most ${LIMITS.planSteps} steps of ${LIMITS.stepChars} characters)`
      if (!isObject(body)) return bad(shape)
      const { plan: steps, outcome } = body
      if (!Array.isArray(steps) || steps.length > LIMITS.planSteps) return bad(shape)
      if (!steps.every((step) => isText(step, LIMITS.stepChars))) return bad(shape)
      if (!isText(outcome, LIMITS.outcomeChars)) return bad(shape)
      return { status: 200, body: reflect(steps as string[], outcome, knobs()) }
    },
    live() {
      return { status: 200, body: { status: 'ok' } }
    },
    ready() {
      return { status: 200, body: { status: 'ready', powerMode: power.mode, store: stack.store } }
    },
    setPowerMode(body, request) {
      const access = adminAccess(request)
      if (!access.allowed) return { status: access.status, body: access.body, headers: access.headers }
      const shape = `send { "mode": "normal" | "low" | "auto", "ttlMs"?: ${LIMITS.minOverrideTtlMs}…${LIMITS.maxOverrideTtlMs}, "reason"?: "..." }`
      if (!isObject(body)) return bad(shape)
      const { mode, ttlMs, reason } = body
      if (reason !== undefined && !isText(reason, 200)) return bad(shape)
      if (mode === 'auto') {
        void power.release()
        return { status: 200, body: { mode: power.mode, override: null } }
      }
      if (typeof mode !== 'string' || !Object.hasOwn(powerModes, mode)) return bad(shape)
      if (
        ttlMs !== undefined &&
        !(
          typeof ttlMs === 'number' &&
          Number.isInteger(ttlMs) &&
          ttlMs >= LIMITS.minOverrideTtlMs &&
          ttlMs <= LIMITS.maxOverrideTtlMs
        )
      ) {
        return bad(shape)
      }
      power.set(mode as PowerMode, {
        reason: typeof reason === 'string' ? reason : 'admin-api',
        ttlMs: ttlMs as number | undefined,
      })
      return { status: 200, body: { mode: power.mode, override: power.override ?? null } }
    },
  }
}
