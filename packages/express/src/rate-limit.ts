/**
 * Express side of @cortex/token-bucket: translates the request into the
 * framework-free input the limiter's handler speaks, and its plan (headers,
 * 429 + JSON body) back into an Express response. All decisions live in the
 * limiter; the request path is the one every @cortex middleware shares
 * (`stack.ts`).
 */
import type { RequestHandler } from 'express'
import { createStack, type RateLimitOptions } from './stack.js'

export type { RateLimitOptions }

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
  return createStack({ rateLimit: options ?? ({} as RateLimitOptions) }, 'rateLimit')
}
