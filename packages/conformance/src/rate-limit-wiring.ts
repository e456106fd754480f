/**
 * Wires `rateLimit` from each adapter into the conformance harness, so the
 * same rate-limit cases run against Express, Fastify and Koa.
 */
import { rateLimit as expressRateLimit } from '@cortex/express'
import { rateLimit as fastifyRateLimit } from '@cortex/fastify'
import { rateLimit as koaRateLimit } from '@cortex/koa'
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
  return {
    express: (app) => app.use(expressRateLimit(options as never)),
    fastify: (app) => app.register(fastifyRateLimit, options as never),
    koa: (app) => app.use(koaRateLimit(options as never)),
  }
}
