/**
 * Fastify side of @cortex/token-bucket: the exchange pipeline with its rate
 * limit part. The decision is made in `onRequest` on the route Fastify
 * matched; an allowed request gets the rate-limit headers and goes on, a
 * refused one is answered 429 with them. All decisions live in the limiter.
 */
import { partPlugin, type RateLimitOptions } from './stack.js'

export type { RateLimitOptions }

/**
 * Rate limiting as a Fastify plugin (hooks `onRequest`, before body parsing).
 * A refused request gets 429, `Retry-After`, the RateLimit headers and
 * `{ "error": "rate_limited", "policy", "retryAfterSeconds" }`.
 *
 * @example
 * await app.register(rateLimit, { limiter })
 * await app.register(rateLimit({ limiter, key: (request) => request.headers['x-api-key'] as string }))
 */
export const rateLimit = partPlugin<RateLimitOptions>('@cortex/fastify/rate-limit', 'rateLimit', 'rateLimit')
