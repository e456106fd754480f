/**
 * Hono side of @cortex/token-bucket: translates the context into the
 * framework-free input the limiter's handler speaks, and its plan (headers,
 * 429 + JSON body) back into the response. All decisions live in the limiter;
 * the request path is the one every @cortex middleware shares (`stack.ts`).
 */
import type { MiddlewareHandler } from 'hono'
import { createStack, type RateLimitOptions } from './stack.js'

export type { RateLimitOptions }

/**
 * Rate limiting as Hono middleware. The policy is chosen on the route Hono
 * matched (`POST /embed/multimodal`), however the client spelled the URL; a
 * request that matches no route gets only the `*` default policy. A refused
 * request gets 429, `Retry-After`, the RateLimit headers and
 * `{ "error": "rate_limited", "policy", "retryAfterSeconds" }`.
 *
 * @example
 * app.use(rateLimit({ limiter }))
 */
export function rateLimit(options: RateLimitOptions): MiddlewareHandler {
  return createStack({ rateLimit: options ?? ({} as RateLimitOptions) }, 'rateLimit')
}
