/**
 * The one request path every @cortex Koa middleware runs: `cortex()` wires
 * any of rate limiting, SLO tracking, energy tracking and power mode as ONE
 * middleware with ONE 'close' listener per response, and `rateLimit()`,
 * `sloTracking()`, `energyTracking()` and `powerMode()` are this same path
 * with one part each.
 *
 * The parts run in a fixed order: SLO timing and energy attribution start
 * first (so a refused request is still timed and attributed), then the rate
 * limit (a refused request never takes a concurrency slot), then the power
 * mode's slot. When the response closes (sent, or the client went away) the
 * SLO record is made, the energy attribution ends and the slot is released.
 * Nothing here awaits: while the limiter and the controller answer
 * synchronously, the middleware adds no promise of its own.
 */
import {
  checkCortexOptions,
  checkPartsOptions,
  createPipeline,
  type EnergyTrackingOptions,
  type ExchangePort,
  type CortexOptions as GenericCortexOptions,
  type RateLimitOptions as GenericRateLimitOptions,
  type Parts,
  type PowerModeOptions,
  type QuotaAccess,
  quotaAccess,
  type SloTrackingOptions,
} from '@cortex/exchange'
import type { RateLimitDecision } from '@cortex/token-bucket'
import type { Context, Middleware, Next } from 'koa'
import { limiterInfo, routeOf, setRouteHint } from './request-info.js'
import { setHeader } from './response.js'

/** `rateLimit`'s options: `{ limiter, key?, skip?, cost?, headers? }`, the key/skip/cost functions taking Koa's `ctx`. */
export type RateLimitOptions = GenericRateLimitOptions<Context>
/** The parts of `cortex()`: each is the options of the middleware of the same concern. */
export type CortexOptions = GenericCortexOptions<Context>
export type { EnergyTrackingOptions, PowerModeOptions, SloTrackingOptions }

/** Where a request's rate-limit decisions are kept: `ctx.state`, under a key no template sees. */
const DECISIONS = Symbol('@cortex/koa.rateLimitDecisions')
type Keeps = { [DECISIONS]?: readonly RateLimitDecision[] }

/** Koa's side of the exchange pipeline. */
const port: ExchangePort<Context> = {
  // @koa/router routes after the middleware: the limiter matches its policies on the path the
  // router will route on (`pathOf`, as `ctx.path`), before routing.
  limiterInput: (ctx) => ({ info: limiterInfo(ctx), headers: ctx.req.headers, trustProxy: ctx.app.proxy }),
  method: (ctx) => ctx.req.method as string,
  route: routeOf,
  statusCode: (ctx) => ctx.res.statusCode,
  completed: (ctx) => ctx.res.writableEnded,
  closed: (ctx) => ctx.res.closed,
  watchEnd: (ctx, x, end) => void ctx.res.on('close', () => end(x)),
  setHeader,
  reply: (ctx, status, headers, body) => {
    ctx.status = status
    if (headers !== undefined) ctx.set(headers)
    ctx.body = body
  },
  setPowerMode: (ctx, mode) => {
    ctx.state.powerMode = mode
  },
  setRouteHint,
  decisions: (ctx) => (ctx.state as Keeps)[DECISIONS],
  keepDecisions: (ctx, decisions) => {
    ;(ctx.state as Keeps)[DECISIONS] = decisions
  },
  // A failure at the response's end goes to the app's 'error' event, never into the socket's event.
  report: (ctx, err) => void ctx.app.emit('error', err, ctx),
}

/**
 * The current request's quota: `rateLimitDecisions(ctx)` lists the rate
 * limits' decisions; `settleRateLimit(ctx, { tokens })` charges the actual
 * cost of a list policy's reservation once it is known.
 *
 * @example
 * router.post('/agents/plan', async (ctx) => {
 *   const plan = await generate(ctx.request.body)
 *   settleRateLimit(ctx, { tokens: plan.usage.totalTokens })
 *   ctx.body = plan
 * })
 */
export const { rateLimitDecisions, settleRateLimit }: QuotaAccess<Context> = quotaAccess<Context>(
  (ctx) => (ctx.state as Keeps)[DECISIONS],
)

/**
 * The middleware for the given parts (at least one). `where` names the
 * public function in error messages.
 */
export function createStack(options: CortexOptions, where: string): Middleware {
  return middleware(checkPartsOptions<Context>(options, where))
}

/**
 * The response headers @cortex sets that an error response keeps. Koa's
 * `ctx.onerror` removes every header before it answers an error (a body the
 * parser refused, a handler that threw), and the RateLimit headers describe
 * the client's quota whatever the status: Express, Fastify and Hono keep them.
 */
const KEPT_ON_ERROR = new Set([
  'ratelimit-policy',
  'ratelimit',
  'retry-after',
  'x-ratelimit-limit',
  'x-ratelimit-remaining',
  'x-ratelimit-reset',
])
const kKeeps = Symbol('@cortex/koa.keepsHeaders')
type OnError = ((this: Context, err: unknown) => void) & { [kKeeps]?: true }

/**
 * Makes the app's `ctx.onerror` (on `app.context`, Koa's extension point)
 * pass the kept headers on as the error's `headers`, which Koa sets again.
 * Once per app: later requests cost one property read.
 */
function keepHeadersOnError(ctx: Context): void {
  const current = ctx.onerror as OnError
  if (current[kKeeps] === true) return
  const onerror: OnError = function (this: Context, err: unknown) {
    const res = this.res
    if (err !== null && typeof err === 'object' && res !== undefined && !res.headersSent) {
      let kept: Record<string, string | number | readonly string[]> | undefined
      for (const name of res.getHeaderNames()) {
        if (!KEPT_ON_ERROR.has(name)) continue
        kept ??= {}
        kept[name] = res.getHeader(name) as string
      }
      if (kept !== undefined) {
        const e = err as { headers?: Record<string, unknown> }
        try {
          e.headers = { ...kept, ...e.headers }
        } catch {
          // A frozen error keeps Koa's behaviour.
        }
      }
    }
    return current.call(this, err)
  }
  onerror[kKeeps] = true
  ctx.app.context.onerror = onerror
}

function middleware(parts: Parts<Context>): Middleware {
  const pipeline = createPipeline(parts, port)
  const power =
    parts.controller !== undefined && parts.header !== false ? parts.header.toLowerCase() : undefined
  if (power !== undefined) KEPT_ON_ERROR.add(power)
  const keeps = parts.rate !== undefined || power !== undefined
  // A throw here reaches Koa as this middleware's rejection (koa-compose catches it).
  return (ctx: Context, next: Next) => {
    if (keeps) keepHeadersOnError(ctx)
    return pipeline.run(ctx, next)
  }
}

/**
 * The whole @cortex stack as ONE Koa middleware: any of rate limiting, SLO
 * tracking, energy tracking and power mode, each configured exactly as its
 * own middleware is. It behaves like `app.use(sloTracking(slo))`,
 * `energyTracking(energy)`, `rateLimit(rateLimit)`, `powerMode(powerMode)`
 * in that order, at a fraction of the cost. Mount it before your router.
 *
 * @example
 * app.use(cortex({
 *   rateLimit: { limiter },
 *   slo: { tracker },
 *   energy: { meter },
 *   powerMode: { controller: power },
 * }))
 */
export function cortex(options: CortexOptions): Middleware {
  return middleware(checkCortexOptions<Context>(options, 'cortex'))
}
