/**
 * Koa side of @cortex/token-bucket: translates the context into the
 * framework-free input the limiter's handler speaks, and its plan (headers,
 * 429 + JSON body) back into the response. All decisions live in the limiter;
 * this file imports only its types.
 */
import { CortexConfigError } from '@cortex/core'
import type { RateLimiter, RateLimitHandlerOptions, RateLimitPlan } from '@cortex/token-bucket'
import type { Context, Middleware, Next } from 'koa'
import { requestInfo, setRouteHint } from './request-info.js'
import { setHeaders } from './response.js'

export interface RateLimitOptions extends RateLimitHandlerOptions<Context> {
  /** The limiter from `createRateLimiter` (policies, store, failure policy). */
  limiter: RateLimiter
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown })?.then === 'function'
}

function apply(ctx: Context, next: Next, plan: RateLimitPlan): unknown {
  setHeaders(ctx, plan.headers)
  if (plan.allowed) return next()
  if (plan.route !== undefined) setRouteHint(ctx, plan.route)
  ctx.status = plan.status
  ctx.body = plan.body
  return undefined
}

/**
 * Rate limiting as Koa middleware (Koa 2 and 3). Mount it before the router;
 * a refused request gets 429, `Retry-After`, the RateLimit headers and
 * `{ "error": "rate_limited", "policy", "retryAfterSeconds" }`.
 *
 * @example
 * app.use(rateLimit({ limiter }))
 */
export function rateLimit(options: RateLimitOptions): Middleware {
  if (typeof options?.limiter?.handler !== 'function') {
    throw new CortexConfigError(
      'limiter',
      options?.limiter,
      'a limiter from createRateLimiter()',
      'rateLimit',
    )
  }
  const handler = options.limiter.handler<Context>(options)
  return function cortexRateLimit(ctx, next) {
    const plan = handler.handle(ctx, {
      info: requestInfo(ctx),
      headers: ctx.req.headers,
      trustProxy: ctx.app.proxy,
    })
    if (plan === undefined) return next()
    if (isPromise(plan)) return plan.then((p) => apply(ctx, next, p))
    return Promise.resolve(apply(ctx, next, plan))
  }
}
