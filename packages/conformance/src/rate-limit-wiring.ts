/**
 * Wires rate limiting (`rateLimit`, or `cortex({ rateLimit })`) into the conformance harness, so the
 * same rate-limit cases run against Express, Fastify and Koa.
 */
import type { HeaderFormat, RateLimiter } from '@cortex/token-bucket'
import type { Middleware } from './harness.js'

/** Options common to the three adapters; `key`/`skip` receive the framework's request (all expose `headers`). */
export interface RateLimitWiring {
  limiter: RateLimiter
  headers?: HeaderFormat | false
  key?: (req: { headers: Record<string, string | string[] | undefined> }) => string | undefined
  skip?: (req: { headers: Record<string, string | string[] | undefined> }) => boolean
}

export function rateLimitMiddleware(options: RateLimitWiring): Middleware {
  return { parts: { rateLimit: options } }
}
