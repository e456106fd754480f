/**
 * Express side of @cortex/token-bucket: translates the request into the
 * framework-free input the limiter's handler speaks, and its plan (headers,
 * 429 + JSON body) back into an Express response. All decisions live in the
 * limiter; this file imports only its types.
 */
import { CortexConfigError } from '@cortex/core'
import type { RateLimiter, RateLimitHandlerOptions, RateLimitPlan } from '@cortex/token-bucket'
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { requestInfo, setRouteHint } from './request-info.js'

export interface RateLimitOptions extends RateLimitHandlerOptions<Request> {
  /** The limiter from `createRateLimiter` (policies, store, failure policy). */
  limiter: RateLimiter
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown })?.then === 'function'
}

/** Express's `trust proxy` setting: anything but false/0/unset trusts some proxy. */
function trustsProxy(req: Request): boolean {
  return Boolean(req.app?.get('trust proxy'))
}

/**
 * Rate limiting as Express middleware (Express 4 and 5). Mount it before
 * your routes; a refused request gets 429, `Retry-After`, the RateLimit
 * headers and `{ "error": "rate_limited", "policy", "retryAfterSeconds" }`.
 *
 * @example
 * app.use(rateLimit({ limiter }))
 * app.use(rateLimit({ limiter, key: (req) => req.get('x-api-key'), skip: (req) => req.path === '/ping' }))
 */
export function rateLimit(options: RateLimitOptions): RequestHandler {
  if (typeof options?.limiter?.handler !== 'function') {
    throw new CortexConfigError(
      'limiter',
      options?.limiter,
      'a limiter from createRateLimiter()',
      'rateLimit',
    )
  }
  const handler = options.limiter.handler<Request>(options)
  const apply = (res: Response, next: NextFunction, plan: RateLimitPlan): void => {
    res.set(plan.headers)
    if (plan.allowed) {
      next()
      return
    }
    if (plan.route !== undefined) setRouteHint(res.req, plan.route)
    res.status(plan.status).json(plan.body)
  }
  return function cortexRateLimit(req, res, next) {
    let plan: ReturnType<typeof handler.handle>
    try {
      plan = handler.handle(req, {
        info: requestInfo(req),
        headers: req.headers,
        trustProxy: trustsProxy(req),
      })
    } catch (err) {
      next(err)
      return
    }
    if (plan === undefined) next()
    else if (isPromise(plan)) plan.then((p) => apply(res, next, p), next)
    else apply(res, next, plan)
  }
}
