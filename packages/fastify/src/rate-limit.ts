/**
 * Fastify side of @cortex/token-bucket: an `onRequest` hook that translates
 * the request into the framework-free input the limiter's handler speaks,
 * and its plan (headers, 429 + JSON body) back into the reply. All decisions
 * live in the limiter; this file imports only its types.
 */
import { CortexConfigError } from '@cortex/core'
import type { RateLimiter, RateLimitHandlerOptions, RateLimitPlan } from '@cortex/token-bucket'
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import { cortexPlugin } from './plugin.js'
import { decorateRoute, requestInfo } from './request-info.js'

export interface RateLimitOptions extends RateLimitHandlerOptions<FastifyRequest> {
  /** The limiter from `createRateLimiter` (policies, store, failure policy). */
  limiter: RateLimiter
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown })?.then === 'function'
}

function apply(reply: FastifyReply, done: HookHandlerDoneFunction, plan: RateLimitPlan): void {
  reply.headers(plan.headers)
  if (plan.allowed) done()
  else reply.code(plan.status).send(plan.body)
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
    if (typeof options?.limiter?.handler !== 'function') {
      throw new CortexConfigError(
        'limiter',
        options?.limiter,
        'a limiter from createRateLimiter()',
        'rateLimit',
      )
    }
    const { limiter, ...handlerOptions } = options
    limiter.handler<FastifyRequest>(handlerOptions) // validates key, skip, cost, headers now
  },
  (app, options) => {
    const { limiter, ...handlerOptions } = options
    const handler = limiter.handler<FastifyRequest>(handlerOptions)
    decorateRoute(app)
    app.addHook('onRequest', (request, reply, done) => {
      let plan: ReturnType<typeof handler.handle>
      try {
        // Fastify defines `request.ips` only when `trustProxy` is set.
        plan = handler.handle(request, {
          info: requestInfo(request),
          headers: request.headers,
          trustProxy: 'ips' in request,
        })
      } catch (err) {
        done(err as Error)
        return
      }
      if (plan === undefined) done()
      else if (isPromise(plan)) plan.then((p) => apply(reply, done, p), done)
      else apply(reply, done, plan)
    })
  },
)
