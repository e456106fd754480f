/**
 * Fastify's side of the exchange pipeline (`@cortex/exchange`), and the
 * whole @cortex stack as ONE plugin. Every @cortex plugin — `cortex` and the
 * four single-concern ones — is the same pipeline run from ONE `onRequest`
 * hook (before body parsing; Fastify has already routed the request there)
 * with ONE 'close' listener per response. Fastify charges for every hook and
 * listener about as much as a part's own work, so the four parts together
 * cost little more than one.
 *
 * Why 'close' and not `onResponse`: Fastify runs neither `onResponse` nor
 * `onRequestAbort` for a client that leaves after sending its whole request;
 * 'close' comes for every response, once it is sent or when the client goes
 * away.
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
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { cortexPlugin } from './plugin.js'
import { decorateRoute, requestInfo, routeOf } from './request-info.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The power mode this request was admitted under (set by @cortex/fastify `powerMode` or `cortex`). */
    powerMode?: string
    /** This request's reply, for the exchange pipeline (set by every @cortex plugin). */
    cortexReply: FastifyReply | null
    /** The rate-limit decisions made on this request (read them with `rateLimitDecisions(request)`). */
    cortexDecisions: readonly RateLimitDecision[] | null
  }
}

/** `rateLimit`'s options: `{ limiter, key?, skip?, cost?, headers? }`, the key/skip/cost functions taking Fastify's `request`. */
export type RateLimitOptions = GenericRateLimitOptions<FastifyRequest>
/** The parts of `cortex`: each is the options of the plugin of the same concern. */
export type CortexOptions = GenericCortexOptions<FastifyRequest>
export type { EnergyTrackingOptions, PowerModeOptions, SloTrackingOptions }

/**
 * Header names as Fastify stores them (lower case): `reply.header` lower-cases
 * every name it is given, and a name that is already lower case costs no new
 * string per request.
 */
const LOWER: Record<string, string> = {
  'RateLimit-Policy': 'ratelimit-policy',
  RateLimit: 'ratelimit',
  'Retry-After': 'retry-after',
  'X-RateLimit-Limit': 'x-ratelimit-limit',
  'X-RateLimit-Remaining': 'x-ratelimit-remaining',
  'X-RateLimit-Reset': 'x-ratelimit-reset',
  'Power-Mode': 'power-mode',
}

const replyOf = (request: FastifyRequest) => request.cortexReply as FastifyReply

const port: ExchangePort<FastifyRequest> = {
  // Fastify has already routed the request in `onRequest`, so the policy is chosen on the route it
  // dispatched on (`routed`), never on the client's spelling of the URL. Fastify defines
  // `request.ips` only when `trustProxy` is set.
  limiterInput: (request) => ({
    info: requestInfo(request),
    headers: request.headers,
    trustProxy: 'ips' in request,
    routed: true,
  }),
  method: (request) => request.method,
  route: routeOf,
  statusCode: (request) => replyOf(request).raw.statusCode,
  completed: (request) => replyOf(request).raw.writableEnded,
  closed: (request) => replyOf(request).raw.closed,
  watchEnd: (request, x, end) => void replyOf(request).raw.on('close', () => end(x)),
  setHeader: (request, name, value) => void replyOf(request).header(LOWER[name] ?? name, value),
  reply: (request, status, headers, body) => {
    const reply = replyOf(request).code(status)
    if (headers !== undefined) reply.headers(headers)
    reply.send(body)
  },
  setPowerMode: (request, mode) => {
    request.powerMode = mode
  },
  // Fastify routed before the pipeline ran: a refusal proves nothing the route does not say.
  setRouteHint: () => {},
  decisions: (request) => request.cortexDecisions ?? undefined,
  keepDecisions: (request, decisions) => {
    request.cortexDecisions = decisions
  },
  // Nothing may throw into the socket's event: report it instead.
  report: (request, err) => request.log.error({ err }, '@cortex/fastify: a response-close step failed'),
}

/**
 * The current request's quota: `rateLimitDecisions(request)` lists the rate
 * limits' decisions; `settleRateLimit(request, { tokens })` charges the
 * actual cost of a list policy's reservation once it is known.
 *
 * @example
 * app.post('/agents/plan', async (request) => {
 *   const plan = await generate(request.body)
 *   settleRateLimit(request, { tokens: plan.usage.totalTokens })
 *   return plan
 * })
 */
export const { rateLimitDecisions, settleRateLimit }: QuotaAccess<FastifyRequest> =
  quotaAccess<FastifyRequest>((request) => request.cortexDecisions ?? undefined)

function isPromise(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown })?.then === 'function'
}

/** Adds ONE `onRequest` hook running the pipeline for the given validated parts. */
function install(app: FastifyInstance, parts: Parts<FastifyRequest>): void {
  decorateRoute(app)
  if (!app.hasRequestDecorator('cortexReply')) app.decorateRequest('cortexReply', null)
  if (parts.controller !== undefined && !app.hasRequestDecorator('powerMode')) {
    app.decorateRequest('powerMode', undefined)
  }
  const pipeline = createPipeline(parts, port)
  // A callback-style hook: no promise per request. A refused request is answered by the pipeline
  // and `done` is not called; a failure of the limiter or the controller fails the request.
  app.addHook('onRequest', (request, reply, done) => {
    request.cortexReply = reply
    let result: unknown
    try {
      result = pipeline.run(request, done)
    } catch (err) {
      done(err as Error)
      return
    }
    if (isPromise(result)) result.then(undefined, done)
  })
}

/** A single-concern plugin: the pipeline with one part. */
export function partPlugin<O>(name: string, part: keyof CortexOptions, where: string) {
  const check = (options: O) => checkPartsOptions<FastifyRequest>({ [part]: options ?? {} }, where)
  return cortexPlugin<O>(
    name,
    (options) => void check(options),
    (app, options) => install(app, check(options)),
  )
}

/**
 * One plugin for the whole stack. The parts run in a fixed order: SLO timing
 * and energy attribution start first (so a refused request is still timed and
 * attributed), then the rate limit (in `onRequest`, before body parsing; a
 * refused request never takes a concurrency slot), then the power mode's
 * slot. It behaves like registering `sloTracking`, `energyTracking`,
 * `rateLimit` and `powerMode` in that order.
 *
 * @example
 * await app.register(cortex, {
 *   rateLimit: { limiter },
 *   slo: { tracker },
 *   energy: { meter },
 *   powerMode: { controller: power },
 * })
 */
export const cortex = cortexPlugin<CortexOptions>(
  '@cortex/fastify/cortex',
  (options) => void checkCortexOptions<FastifyRequest>(options, 'cortex'),
  (app, options) => install(app, checkCortexOptions<FastifyRequest>(options, 'cortex')),
)
