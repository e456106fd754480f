/**
 * Koa side of @cortex/token-bucket: translates the context into the
 * framework-free input the limiter's handler speaks, and its plan (headers,
 * 429 + JSON body) back into the response. All decisions live in the limiter;
 * the request path is the one every @cortex middleware shares (`stack.ts`).
 */
import type { Middleware } from 'koa'
import { createStack, type RateLimitOptions } from './stack.js'

export type { RateLimitOptions }

/**
 * Rate limiting as Koa middleware (Koa 2 and 3). Mount it before the router;
 * a refused request gets 429, `Retry-After`, the RateLimit headers and
 * `{ "error": "rate_limited", "policy", "retryAfterSeconds" }`.
 *
 * @example
 * app.use(rateLimit({ limiter }))
 */
export function rateLimit(options: RateLimitOptions): Middleware {
  return createStack({ rateLimit: options ?? ({} as RateLimitOptions) }, 'rateLimit')
}
