/**
 * Fastify side of @cortex/token-bucket: an `onRequest` hook that translates
 * the request into the framework-free input the limiter's handler speaks,
 * and its plan (headers, 429 + JSON body) back into the reply. All decisions
 * live in the limiter; this file imports only its types.
 */
import { CortexConfigError } from '@cortex/core'
import type { RateLimiter, RateLimitHandlerOptions, RateLimitPlan } from '@cortex/token-bucket'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { installSteps, REPLIED, type Replied, type Step } from './pipeline.js'
import { cortexPlugin } from './plugin.js'
import { decorateRoute, requestInfo } from './request-info.js'

export interface RateLimitOptions extends RateLimitHandlerOptions<FastifyRequest> {
  /** The limiter from `createRateLimiter` (policies, store, failure policy). */
  limiter: RateLimiter
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown })?.then === 'function'
}

/**
 * Header names as Fastify stores them (lower case): `reply.header` lower-cases
 * every name it is given, and a name that is already lower case costs no new
 * string per request.
 */
const LOWER: Record<string, string> = {
  'RateLimit-Policy': 'ratelimit-policy',
  RateLimit: 'ratelimit',
  'Retry-After': 'retry-after',
  'X-RateLimit-Limit': 'x-ratelimit-limit',
  'X-RateLimit-Remaining': 'x-ratelimit-remaining',
  'X-RateLimit-Reset': 'x-ratelimit-reset',
}

function apply(reply: FastifyReply, plan: RateLimitPlan): undefined | Replied {
  const headers = plan.headers
  for (const name in headers) reply.header(LOWER[name] ?? name, headers[name])
  if (plan.allowed) return undefined
  reply.code(plan.status).send(plan.body)
  return REPLIED
}

/** Checks `rateLimit`'s options: the limiter, and the handler options now. */
export function checkRateLimit(
  limiter: unknown,
  handlerOptions: RateLimitHandlerOptions<FastifyRequest>,
  where: string,
): void {
  if (typeof (limiter as RateLimiter | undefined)?.handler !== 'function') {
    throw new CortexConfigError('limiter', limiter, 'a limiter from createRateLimiter()', where)
  }
  ;(limiter as RateLimiter).handler<FastifyRequest>(handlerOptions) // validates key, skip, cost, headers now
}

/**
 * The rate-limit step: the decision in `onRequest`; an allowed request
 * gets the rate-limit headers and goes on, a refused one is answered 429
 * with them.
 */
export function rateLimitStep(
  app: FastifyInstance,
  limiter: RateLimiter,
  handlerOptions: RateLimitHandlerOptions<FastifyRequest>,
): Step {
  const handler = limiter.handler<FastifyRequest>(handlerOptions)
  decorateRoute(app)
  return {
    start(request, reply) {
      // Fastify defines `request.ips` only when `trustProxy` is set. Fastify has already routed the
      // request in `onRequest`, so the policy is chosen on the route it dispatched on (`routed`),
      // never on the client's spelling of the URL (`/%65mbed/x`, absolute-form targets).
      const plan = handler.handle(request, {
        info: requestInfo(request),
        headers: request.headers,
        trustProxy: 'ips' in request,
        routed: true,
      })
      if (plan === undefined) return undefined
      if (isPromise(plan)) return plan.then((p) => apply(reply, p))
      return apply(reply, plan)
    },
  }
}

/**
 * Rate limiting as a Fastify plugin (hooks `onRequest`, before body parsing).
 * A refused request gets 429, `Retry-After`, the RateLimit headers and
 * `{ "error": "rate_limited", "policy", "retryAfterSeconds" }`.
 *
 * @example
 * await app.register(rateLimit, { limiter })
 * await app.register(rateLimit({ limiter, key: (request) => request.headers['x-api-key'] as string }))
 */
export const rateLimit = cortexPlugin<RateLimitOptions>(
  '@cortex/fastify/rate-limit',
  (options) => {
    const { limiter, ...handlerOptions } = options ?? ({} as RateLimitOptions)
    checkRateLimit(limiter, handlerOptions, 'rateLimit')
  },
  (app, options) => {
    const { limiter, ...handlerOptions } = options
    installSteps(app, [rateLimitStep(app, limiter, handlerOptions)])
  },
)
