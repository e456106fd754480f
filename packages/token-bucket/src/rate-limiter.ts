/**
 * `createRateLimiter`: policies matched per request, decisions from
 * `@cortex/core`'s token bucket kept in a store, a failure policy for when the
 * store is slow or down, throttling (hold a request until it fits), the
 * response plan adapters send (status, headers, JSON body), and metrics.
 *
 * The memory store answers synchronously, so `consume` returns a plain value
 * on that path (no promise per request); `await` works either way.
 */
import {
  CortexConfigError,
  CortexError,
  checkKnownKeys,
  checkNumber,
  checkObject,
  createTokenBucket,
  FORWARDING_HEADERS,
  NEVER,
  type PromRegistryLike,
  type RequestInfo,
  type TokenBucket,
  type TokenBucketDecision,
  withGetters,
} from '@cortex/core'
import {
  type ApiKeyCheck,
  apiKeyFromHeaders,
  type ClientAddressKeyOptions,
  clientAddressKey,
} from './client-key.js'
import { NEVER_SECONDS, type RateLimitDecision } from './decision.js'
import { checkHeaderFormat, type HeaderFormat, rateLimitHeaders } from './headers.js'
import { memoryStore } from './memory-store.js'
import { createPolicyMatcher, type Policies, type PolicyDescription, parsePolicies } from './policies.js'
import { registerRateLimitMetrics } from './rate-limit-metrics.js'
import { isPromiseLike, type MaybePromise, type RateLimitStore, type StoreDecision } from './store.js'

/** Request headers as Node's `IncomingMessage` exposes them (lower-case names). */
export type RequestHeaders = Record<string, string | string[] | undefined>

export interface RateLimitLogger {
  warn(message: string): void
  info?(message: string): void
}

/** Something worth knowing happened; delivered to `onEvent`. */
export type RateLimitEvent =
  | { type: 'store-error'; store: string; error: unknown; timeout: boolean; policy: string }
  | { type: 'store-recovered'; store: string; downMs: number }
  | { type: 'untrusted-proxy-header'; header: string }

export interface RateLimiterOptions {
  /** Policies keyed by `METHOD /path`, `METHOD /prefix/*` or `*` (see README: matching rule). */
  policies: Policies
  /** Where bucket state lives. Default `memoryStore()`. */
  store?: RateLimitStore
  /** Milliseconds since any fixed origin. Default `Date.now`. Clamped so it never goes backwards. */
  clock?: () => number
  /**
   * When the store errors or exceeds `storeTimeoutMs`: `'allow'` (default),
   * `'deny'`, or a store to decide from instead (e.g. `memoryStore()`).
   */
  onStoreError?: 'allow' | 'deny' | RateLimitStore
  /** Longest a request waits for the store, in ms. Default 50. */
  storeTimeoutMs?: number
  /**
   * While the store is failing, requests skip it and follow `onStoreError`;
   * one request per this many ms probes it, and the first success ends the
   * outage. Default 1000.
   */
  storeRetryIntervalMs?: number
  /** Header format of `responseFor` and the adapters. Default `'ietf'`; `false` sends only `Retry-After`. */
  headers?: HeaderFormat | false
  /**
   * How `check` keys clients: address masking, or an API-key header to
   * prefer. With `apiKeyHeader`, give `apiKeys` too — the keys your server
   * recognises (a list, a Set, or a check) — so a request with an unknown
   * key is keyed by its address: without it, a client that sends a new value
   * per request gets a new bucket per request.
   */
  clientKey?: ClientAddressKeyOptions & {
    apiKeyHeader?: string
    apiKeys?: Iterable<string> | ((key: string) => boolean)
  }
  /** Most requests held by throttling at once; beyond it they are decided at once. Default 10,000. */
  maxPendingWaits?: number
  /** A prom-client `Registry`: decisions, store errors, evictions and keys are exposed at scrape time. */
  registry?: PromRegistryLike
  /** Metric name prefix. Default `cortex_rate_limit`. */
  metricPrefix?: string
  /** Where warnings go (once each). Default `console`; `false` silences them. */
  logger?: RateLimitLogger | false
  /** Turn individual warnings off. */
  warnings?: { untrustedProxyHeaders?: boolean; storeErrors?: boolean }
  /** Receives store outages, recoveries and misconfiguration hints. */
  onEvent?: (event: RateLimitEvent) => void
}

/** Per-call options of `check`, supplied by adapters. */
export interface CheckOptions {
  /** The client key; default: the API-key header if configured, else the masked client address. */
  key?: string
  /** Tokens this request costs. Default 1. */
  cost?: number
  /** The request's headers (to find an API key and notice proxy headers). */
  headers?: RequestHeaders
  /** Whether the framework trusts proxy headers for the client address; `false` enables the warning. */
  trustProxy?: boolean
  /**
   * True when the framework has already routed the request, so `info.route`
   * is its final answer: the policy is then chosen on the route template
   * (what the router actually dispatched on, however the client spelled the
   * URL), and a request that matched no route (`route` undefined, a 404)
   * gets only the `*` default policy. Otherwise the policy is chosen on
   * `info.path`, which must be the path the router will route on.
   */
  routed?: boolean
}

/** What an adapter sends: headers always, and for a denial the status and JSON body. */
export type RateLimitPlan =
  | {
      allowed: true
      status: 200
      headers: Record<string, string>
      body: undefined
      decisions: RateLimitDecision[]
      /** The path this handler's policy names exactly, or undefined (see the refusal's `route`). */
      route: string | undefined
    }
  | {
      allowed: false
      status: 429
      headers: Record<string, string>
      body: { error: 'rate_limited'; policy: string; retryAfterSeconds: number }
      decisions: RateLimitDecision[]
      /**
       * The path the refusing policy names exactly (`/embed/multimodal` for
       * `POST /embed/multimodal`), or undefined for wildcard and default
       * policies. Adapters whose framework routes after the limiter use it as
       * the request's route when the framework never routes the request (a
       * 429 here; a body the parser refused), so SLO and energy figures keep
       * it under its endpoint instead of `__unmatched__` (bounded: one per
       * exact policy).
       */
      route: string | undefined
    }

/** Options every adapter's `rateLimit(...)` accepts besides `limiter`. */
export interface RateLimitHandlerOptions<Req> {
  /** The client key for a request; default: see `CheckOptions.key`. */
  key?: (req: Req) => string | undefined
  /** Return true to leave a request alone (no decision, no headers). */
  skip?: (req: Req) => boolean
  /** Tokens a request costs. Default 1. */
  cost?: (req: Req) => number
  /** Header format; default: the limiter's. */
  headers?: HeaderFormat | false
}

/** What an adapter knows about a request, framework-free. */
export interface RateLimitHandlerInput {
  info: RequestInfo
  headers?: RequestHeaders
  trustProxy?: boolean
  /** See `CheckOptions.routed`. */
  routed?: boolean
}

/** The framework-free half of an adapter. */
export interface RateLimitHandler<Req> {
  /** The plan for a request, or undefined when `skip` says so. Never rejects. */
  handle(req: Req, input: RateLimitHandlerInput): MaybePromise<RateLimitPlan> | undefined
}

export interface WaitOptions {
  /** Longest wait accepted, in ms; beyond it `wait` rejects at once. Default 0. */
  maxDelayMs?: number
}

export interface RateLimiter {
  /** Validated policies, in the order they were configured. */
  readonly policies: readonly PolicyDescription[]
  /** The default header format. */
  readonly headerFormat: HeaderFormat | false
  /** The current refill-rate scale (1 unless `setRateScale` changed it). */
  readonly rateScale: number
  /**
   * Takes `cost` tokens (default 1) for `key` under `policy` (a policy name,
   * or a request line such as `GET /health/live` resolved by `policyFor`).
   * A plain value with the memory store; a promise with Redis. Never rejects.
   */
  consume(key: string, policy: string, cost?: number): MaybePromise<RateLimitDecision>
  /** The decision a request of `cost` (default 1) would get, without consuming. */
  peek(key: string, policy: string, cost?: number): MaybePromise<RateLimitDecision>
  /** Forgets `key` under `policy`, or under every policy when omitted. */
  reset(key: string, policy?: string): MaybePromise<void>
  /**
   * Throttling: resolves when the request is admitted, holding it up to
   * `maxDelayMs`. Rejects at once (nothing consumed) with
   * `ERR_CORTEX_THROTTLE_TIMEOUT` when admission would take longer, or
   * `ERR_CORTEX_QUEUE_FULL` when `maxPendingWaits` requests are already held.
   */
  wait(key: string, policy: string, cost?: number, options?: WaitOptions): Promise<RateLimitDecision>
  /** The name of the policy a request matches, or undefined. */
  policyFor(method: string, path: string): string | undefined
  /** Decides for a request as adapters see it (policy by method and path, key from the client). */
  check(info: RequestInfo, options?: CheckOptions): MaybePromise<RateLimitDecision>
  /** The response plan for the decisions made on one request. */
  responseFor(
    decisions: RateLimitDecision | readonly RateLimitDecision[],
    format?: HeaderFormat | false,
  ): RateLimitPlan
  /** The framework-free half of an adapter; validates `options` now. */
  handler<Req>(options?: RateLimitHandlerOptions<Req>): RateLimitHandler<Req>
  /**
   * Scales every policy's refill rate and burst by `scale` (> 0) without a
   * restart; the window and the time a bucket takes to refill stay the same.
   * `0.5` halves every limit (a low-power mode); `1` restores them.
   */
  setRateScale(scale: number): void
  /**
   * Registers the metrics `options.registry` gets on another registry: a
   * second prom-client Registry, or an adapter such as @cortex/otel's.
   */
  registerMetrics(registry: PromRegistryLike): void
  /** Cancels held `wait`s (they reject with `ERR_CORTEX_CLOSED`). Stores are the caller's to close. */
  close(): void
}

/** The decisions adapters attached to a request, read with `rateLimitDecisions`. */
const DECISIONS = Symbol.for('@cortex/token-bucket.decisions')

/**
 * The decisions made on a request by every `rateLimit` middleware it passed.
 *
 * @example
 * app.get('/quota', (req, res) => res.json(rateLimitDecisions(req)))
 */
export function rateLimitDecisions(req: object): readonly RateLimitDecision[] {
  return (req as { [DECISIONS]?: RateLimitDecision[] })[DECISIONS] ?? []
}

interface Runtime {
  readonly description: PolicyDescription
  readonly index: number
  bucket: TokenBucket
  /** `bucket.burst × bucket.msPerToken`: how far ahead of now the state may run. */
  tolerance: number
  limit: number
  delayBuckets: Map<number, TokenBucket>
}

/** `consume` takes; `throttle` takes from a delay bucket; `peek` reads (the store sees cost 0). */
type Mode = 'consume' | 'throttle' | 'peek'

/** A policy name's entry: its description, its runtime (none when unlimited) and its counter row. */
interface PolicyEntry {
  d: PolicyDescription
  rt: Runtime | undefined
  index: number
}

interface Outage {
  since: number
  nextProbeAt: number
  probing: boolean
}

/**
 * The limiter's decision for a plain consume that the store answered
 * synchronously; counts it in `decisions` ([allowed, denied, unlimited] per
 * policy row).
 */
function admitOrRefuse(
  rt: Runtime,
  td: TokenBucketDecision,
  cost: number,
  decisions: Float64Array,
): RateLimitDecision {
  const allowed = td.allowed
  const i = rt.index * 3 + (allowed ? 0 : 1)
  decisions[i] = (decisions[i] as number) + 1
  const retryAfterMs = allowed ? 0 : td.retryAfterMs
  return {
    allowed,
    policy: rt.description.name,
    limit: rt.limit,
    remaining: Math.floor(td.remaining + 1e-9),
    resetSeconds: Math.ceil(td.resetAfterMs / 1000),
    retryAfterSeconds: allowed ? 0 : retryAfterMs === NEVER ? NEVER_SECONDS : Math.ceil(retryAfterMs / 1000),
    windowMs: rt.description.windowMs,
    burst: rt.bucket.burst,
    cost,
    retryAfterMs,
    resetMs: td.resetAfterMs,
    delayMs: 0,
    unlimited: false,
    degraded: false,
  }
}

/**
 * What every decision reads, in the fields of one class, and the common
 * `consume` (a known policy, a synchronous store that is up) as its method.
 * Kept out of `createRateLimiter`'s closures on purpose: V8 compiles a
 * closure for its own captured variables only while it is the only closure of
 * its kind, so once a second limiter ran in the process (a test, a second app,
 * the benchmark's next section) every limiter's decisions fell back to generic
 * code. A method reading fields of one class stays specialised for every
 * instance. Everything less common goes to the closures it was built with.
 */
class HotPath {
  /** The last policy name resolved by name, and its entry: requests mostly repeat a few names. */
  lastPolicy: string | undefined = undefined
  lastHit: PolicyEntry | undefined = undefined
  /** The latest clock reading: the clock as the limiter sees it never goes backwards (a step back would re-grant tokens). */
  latest = Number.NEGATIVE_INFINITY
  /** Set while the store is failing. */
  outage: Outage | undefined = undefined
  /** Filled by a synchronous store instead of allocating a decision. */
  readonly scratch: TokenBucketDecision = {
    allowed: false,
    remaining: 0,
    retryAfterMs: 0,
    resetAfterMs: 0,
    state: 0,
  }

  constructor(
    readonly store: RateLimitStore,
    readonly clock: () => number,
    readonly decisions: Float64Array,
    readonly byName: Map<string, PolicyEntry>,
    /** Resolves a name that is not a configured policy key (`METHOD /path` against the patterns). */
    readonly match: (policy: string) => PolicyEntry | undefined,
    /** `consume` for every case the method does not take. */
    readonly slowConsume: (key: string, policy: string, cost: number) => MaybePromise<RateLimitDecision>,
    /** Carries on from a store answer that is not the synchronous `scratch` (a promise, or another object). */
    readonly afterStore: (
      rt: Runtime,
      key: string,
      cost: number,
      r: MaybePromise<StoreDecision>,
      now: number,
    ) => MaybePromise<RateLimitDecision>,
    /** Applies the failure policy after the store threw. */
    readonly storeThrew: (
      rt: Runtime,
      key: string,
      cost: number,
      err: unknown,
    ) => MaybePromise<RateLimitDecision>,
  ) {}

  /** The clock, never going backwards. */
  tick(): number {
    const t = this.clock()
    if (t > this.latest) this.latest = t
    else if (this.latest === Number.NEGATIVE_INFINITY) this.latest = Date.now()
    return this.latest
  }

  resolve(policy: string): PolicyEntry | undefined {
    if (policy === this.lastPolicy) return this.lastHit
    const hit = this.byName.get(policy)
    if (hit !== undefined) {
      this.lastPolicy = policy
      this.lastHit = hit
      return hit
    }
    return typeof policy === 'string' ? this.match(policy) : undefined
  }

  consume(key: string, policy: string, cost: number): MaybePromise<RateLimitDecision> {
    const rt = this.resolve(policy)?.rt
    if (
      rt === undefined ||
      this.outage !== undefined ||
      typeof key !== 'string' ||
      !(cost >= 0 && cost <= rt.bucket.burst)
    ) {
      return this.slowConsume(key, policy, cost)
    }
    const now = this.tick()
    let r: MaybePromise<StoreDecision>
    try {
      r = this.store.take(rt.description.name, key, rt.bucket, now, cost, this.scratch)
    } catch (err) {
      return this.storeThrew(rt, key, cost, err)
    }
    if (r !== this.scratch) return this.afterStore(rt, key, cost, r, now)
    return admitOrRefuse(rt, r, cost, this.decisions)
  }
}

/** `rateLimitHeaders`'s options for the default format, built once. */
const IETF = { format: 'ietf' } as const
const TAG = '[@cortex/token-bucket]'
const OPTIONS = [
  'policies',
  'store',
  'clock',
  'onStoreError',
  'storeTimeoutMs',
  'storeRetryIntervalMs',
  'headers',
  'clientKey',
  'maxPendingWaits',
  'registry',
  'metricPrefix',
  'logger',
  'warnings',
  'onEvent',
] as const

function checkFunction(value: unknown, option: string, where: string): void {
  if (value !== undefined && typeof value !== 'function') {
    throw new CortexConfigError(option, value, 'a function', where)
  }
}

function checkStore(value: unknown, option: string): RateLimitStore {
  const s = value as Partial<RateLimitStore> | null
  if (typeof s !== 'object' || s === null || typeof s.take !== 'function' || typeof s.reset !== 'function') {
    throw new CortexConfigError(
      option,
      value,
      'a store (memoryStore(), redisStore(...) or { name, take, reset })',
      'createRateLimiter',
    )
  }
  return s as RateLimitStore
}

/** Validates `clientKey.apiKeys` into a check, or undefined when absent. */
function checkApiKeys(value: unknown, header: unknown, where: string): ApiKeyCheck | undefined {
  if (value === undefined) return undefined
  const option = 'clientKey.apiKeys'
  if (header === undefined) {
    throw new CortexConfigError(option, value, 'apiKeys only together with clientKey.apiKeyHeader', where)
  }
  if (typeof value === 'function') return value as ApiKeyCheck
  const shape = 'a non-empty list (array or Set) of non-empty strings, or a function (key) => boolean'
  if (
    typeof value !== 'object' ||
    value === null ||
    typeof (value as Iterable<unknown>)[Symbol.iterator] !== 'function' ||
    typeof value === 'string'
  ) {
    throw new CortexConfigError(option, value, shape, where)
  }
  const keys = new Set<string>()
  for (const key of value as Iterable<unknown>) {
    if (typeof key !== 'string' || key.trim() === '') throw new CortexConfigError(option, key, shape, where)
    keys.add(key.trim())
  }
  if (keys.size === 0) throw new CortexConfigError(option, value, shape, where)
  return (key) => keys.has(key)
}

/**
 * Creates a rate limiter.
 *
 * @example
 * const limiter = createRateLimiter({
 *   policies: {
 *     'POST /embed/multimodal': { limit: 60, window: '1m', burst: 10 },
 *     'GET /health/*': 'unlimited',
 *     '*': { limit: 600, window: '1m' },
 *   },
 * })
 * const d = await limiter.consume('203.0.113.9', 'POST /embed/multimodal')
 * if (!d.allowed) console.log(`retry in ${d.retryAfterSeconds} s`)
 */
export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const where = 'createRateLimiter'
  checkObject(options, 'options', where)
  checkKnownKeys(options, OPTIONS, where)
  const descriptions = parsePolicies(options.policies)
  const store = options.store === undefined ? memoryStore() : checkStore(options.store, 'store')
  checkFunction(options.clock, 'clock', where)
  const clock = options.clock ?? Date.now
  const onStoreError = options.onStoreError ?? 'allow'
  if (typeof onStoreError !== 'object' && onStoreError !== 'allow' && onStoreError !== 'deny') {
    throw new CortexConfigError('onStoreError', onStoreError, "'allow', 'deny' or a fallback store", where)
  }
  const fallback = typeof onStoreError === 'object' ? checkStore(onStoreError, 'onStoreError') : undefined
  const storeTimeoutMs =
    options.storeTimeoutMs === undefined
      ? 50
      : checkNumber(options.storeTimeoutMs, 'storeTimeoutMs', {
          min: 0,
          exclusiveMin: true,
          max: 2 ** 31 - 1,
          where,
        })
  const retryIntervalMs =
    options.storeRetryIntervalMs === undefined
      ? 1000
      : checkNumber(options.storeRetryIntervalMs, 'storeRetryIntervalMs', { min: 0, where })
  const defaultFormat = checkHeaderFormat(options.headers, 'headers', where)
  const keyOptions = options.clientKey === undefined ? {} : checkObject(options.clientKey, 'clientKey', where)
  checkKnownKeys(keyOptions, ['ipv6Subnet', 'ipv4Subnet', 'apiKeyHeader', 'apiKeys'], 'clientKey')
  const addressOptions: ClientAddressKeyOptions = {
    ipv6Subnet:
      keyOptions.ipv6Subnet === undefined
        ? 64
        : checkNumber(keyOptions.ipv6Subnet, 'clientKey.ipv6Subnet', {
            min: 1,
            max: 128,
            integer: true,
            where,
          }),
    ipv4Subnet:
      keyOptions.ipv4Subnet === undefined
        ? 32
        : checkNumber(keyOptions.ipv4Subnet, 'clientKey.ipv4Subnet', {
            min: 1,
            max: 32,
            integer: true,
            where,
          }),
  }
  const apiKeyHeader = keyOptions.apiKeyHeader
  if (apiKeyHeader !== undefined && (typeof apiKeyHeader !== 'string' || apiKeyHeader === '')) {
    throw new CortexConfigError('clientKey.apiKeyHeader', apiKeyHeader, 'a header name', where)
  }
  const apiKeys = checkApiKeys(keyOptions.apiKeys, apiKeyHeader, where)
  const metricPrefix = options.metricPrefix ?? 'cortex_rate_limit'
  if (typeof metricPrefix !== 'string' || !/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(metricPrefix)) {
    throw new CortexConfigError(
      'metricPrefix',
      metricPrefix,
      'a Prometheus metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*)',
      where,
    )
  }
  const maxPendingWaits =
    options.maxPendingWaits === undefined
      ? 10_000
      : checkNumber(options.maxPendingWaits, 'maxPendingWaits', { min: 0, integer: true, where })
  const logger = options.logger === undefined ? console : options.logger
  if (
    logger !== false &&
    (typeof logger !== 'object' || logger === null || typeof logger.warn !== 'function')
  ) {
    throw new CortexConfigError('logger', logger, 'an object with a warn(message) method, or false', where)
  }
  const warnings = options.warnings === undefined ? {} : checkObject(options.warnings, 'warnings', where)
  checkKnownKeys(warnings, ['untrustedProxyHeaders', 'storeErrors'], 'warnings')
  checkFunction(options.onEvent, 'onEvent', where)
  const onEvent = options.onEvent

  // --- policies -------------------------------------------------------------
  let scale = 1
  const runtimes: (Runtime | undefined)[] = descriptions.map((description, index) =>
    description.unlimited ? undefined : buildRuntime(description, index, 1),
  )
  const byName = new Map<string, PolicyEntry>()
  descriptions.forEach((d, index) => {
    byName.set(d.name, { d, rt: runtimes[index], index })
  })
  const matcher = createPolicyMatcher(descriptions, (d) => byName.get(d.name) as PolicyEntry)

  function buildRuntime(description: PolicyDescription, index: number, s: number): Runtime {
    const burst =
      s === 1 ? description.burst : Math.max(description.burst * s, Math.min(description.burst, 1))
    const bucket = createTokenBucket({
      burst,
      refillTokens: description.limit * s,
      refillMs: description.windowMs,
    })
    return {
      description,
      index,
      bucket,
      tolerance: bucket.burst * bucket.msPerToken,
      limit: s === 1 ? description.limit : Math.max(1, Math.floor(description.limit * s)),
      delayBuckets: new Map(),
    }
  }

  function delayBucket(rt: Runtime, maxDelayMs: number): TokenBucket {
    let b = rt.delayBuckets.get(maxDelayMs)
    if (b === undefined) {
      b = createTokenBucket({
        burst: rt.bucket.burst + maxDelayMs * rt.bucket.tokensPerMs,
        refillTokens: rt.description.limit * scale,
        refillMs: rt.description.windowMs,
      })
      if (rt.delayBuckets.size < 16) rt.delayBuckets.set(maxDelayMs, b)
    }
    return b
  }

  // --- counters (read by the metrics collector at scrape time) ----------------
  const counts = {
    /** [allowed, denied, unlimited] per policy, then one slot row for "no policy matched". */
    decisions: new Float64Array((descriptions.length + 1) * 3),
    storeErrors: 0,
    storeTimeouts: 0,
    pendingWaits: 0,
  }
  const unmatchedRow = descriptions.length

  // --- the hot path, clock, outage state and policy cache -------------------------
  const hot = new HotPath(
    store,
    clock,
    counts.decisions,
    byName,
    (policy) => {
      const space = policy.indexOf(' ')
      return space === -1 ? undefined : matcher.match(policy.slice(0, space), policy.slice(space + 1).trim())
    },
    slowConsume,
    (rt, key, cost, r, now) => afterStore(rt, key, cost, rt.bucket, 'consume', true, r, now, false),
    (rt, key, cost, err) => {
      storeFailed(err, false, rt.description.name, false)
      return failover(rt, key, cost, rt.bucket, 'consume', true)
    },
  )
  function tick(): number {
    return hot.tick()
  }

  // --- warnings and events ------------------------------------------------------
  function warn(message: string): void {
    if (logger) logger.warn(`${TAG} ${message}`)
  }
  function emit(event: RateLimitEvent): void {
    if (!onEvent) return
    try {
      onEvent(event)
    } catch {
      // A listener's bug must not turn into a failed request.
    }
  }

  // --- store outage tracking ------------------------------------------------------
  function storeFailed(err: unknown, timeout: boolean, policy: string, wasProbe: boolean): void {
    if (timeout) counts.storeTimeouts++
    else counts.storeErrors++
    const now = tick()
    const outage = hot.outage
    if (outage === undefined) {
      hot.outage = { since: now, nextProbeAt: now + retryIntervalMs, probing: false }
      if (warnings.storeErrors !== false) {
        const reason = timeout
          ? `no answer within storeTimeoutMs=${storeTimeoutMs}`
          : String((err as Error)?.message ?? err)
        const policyText = fallback
          ? `the fallback store (${fallback.name})`
          : `onStoreError='${onStoreError}'`
        warn(
          `ERR_CORTEX_STORE: the ${store.name} store failed (${reason}); deciding with ${policyText} until it answers again.`,
        )
      }
      emit({ type: 'store-error', store: store.name, error: err, timeout, policy })
    } else if (wasProbe) {
      outage.probing = false
      outage.nextProbeAt = now + retryIntervalMs
    }
  }

  function storeAnswered(): void {
    const outage = hot.outage
    if (outage === undefined) return
    const downMs = tick() - outage.since
    hot.outage = undefined
    if (warnings.storeErrors !== false && logger) {
      const message = `${TAG} the ${store.name} store answers again after ${Math.round(downMs)} ms.`
      if (logger.info) logger.info(message)
      else logger.warn(message)
    }
    emit({ type: 'store-recovered', store: store.name, downMs })
  }

  /** While the store is down, only one request at a time, once per interval, tries it. */
  function mayTryStore(now: number): boolean {
    const outage = hot.outage
    if (outage === undefined) return true
    if (outage.probing || now < outage.nextProbeAt) return false
    outage.probing = true
    return true
  }

  // --- decisions ------------------------------------------------------------
  const scratch = hot.scratch

  function count(row: number, outcome: 0 | 1 | 2): void {
    const i = row * 3 + outcome
    counts.decisions[i] = (counts.decisions[i] as number) + 1
  }

  function unlimitedDecision(policy: string, row: number, cost: number, counted: boolean): RateLimitDecision {
    if (counted) count(row, 2)
    return {
      allowed: true,
      policy,
      limit: Number.POSITIVE_INFINITY,
      remaining: Number.POSITIVE_INFINITY,
      resetSeconds: 0,
      retryAfterSeconds: 0,
      windowMs: 0,
      burst: Number.POSITIVE_INFINITY,
      cost,
      retryAfterMs: 0,
      resetMs: 0,
      delayMs: 0,
      unlimited: true,
      degraded: false,
    }
  }

  /**
   * Turns a store decision into the limiter's. For a peek with a cost, and
   * for a refused throttled request (decided on a larger delay bucket),
   * nothing was consumed: the figures are what the policy's own bucket gives
   * for `cost` at the state just read — the arithmetic a consume would use,
   * at the store's own time, so retry hints stay exact.
   */
  function finish(
    rt: Runtime,
    td: StoreDecision,
    cost: number,
    degraded: false | 'fallback',
    mode: Mode,
    counted: boolean,
    now: number,
  ): RateLimitDecision {
    const bucket = rt.bucket
    const src: TokenBucketDecision =
      (mode === 'peek' && cost !== 0) || (mode === 'throttle' && !td.allowed)
        ? bucket.take(td.state, td.now ?? now, cost)
        : td
    const allowed = src.allowed
    // A peek reports the bucket as it is; only the verdict is for `cost`.
    const state = mode === 'peek' ? td : src
    let remaining = state.remaining
    const resetMs = state.resetAfterMs
    let delayMs = 0
    if (mode === 'throttle' && allowed) {
      delayMs = resetMs - rt.tolerance
      if (!(delayMs > 1e-6)) delayMs = 0
      remaining = bucket.burst - resetMs * bucket.tokensPerMs
      remaining = remaining <= 0 ? 0 : Math.min(remaining, bucket.burst)
    }
    if (counted) count(rt.index, allowed ? 0 : 1)
    const retryAfterMs = allowed ? 0 : src.retryAfterMs
    return {
      allowed,
      policy: rt.description.name,
      limit: rt.limit,
      remaining: Math.floor(remaining + 1e-9),
      resetSeconds: Math.ceil(resetMs / 1000),
      retryAfterSeconds: allowed
        ? 0
        : retryAfterMs === NEVER
          ? NEVER_SECONDS
          : Math.ceil(retryAfterMs / 1000),
      windowMs: rt.description.windowMs,
      burst: bucket.burst,
      cost,
      retryAfterMs,
      resetMs,
      delayMs,
      unlimited: false,
      degraded,
    }
  }

  function blindDecision(rt: Runtime, cost: number, allow: boolean, counted: boolean): RateLimitDecision {
    if (counted) count(rt.index, allow ? 0 : 1)
    const waitMs = Math.max(1000, retryIntervalMs)
    return {
      allowed: allow,
      policy: rt.description.name,
      limit: rt.limit,
      remaining: allow ? Math.floor(rt.bucket.burst) : 0,
      resetSeconds: 0,
      retryAfterSeconds: allow ? 0 : Math.ceil(waitMs / 1000),
      windowMs: rt.description.windowMs,
      burst: rt.bucket.burst,
      cost,
      retryAfterMs: allow ? 0 : waitMs,
      resetMs: 0,
      delayMs: 0,
      unlimited: false,
      degraded: allow ? 'allow' : 'deny',
    }
  }

  /**
   * Settles `pending` within `storeTimeoutMs`: `onValue` on an answer,
   * `onFailure` on an error or timeout. The returned promise never rejects,
   * and a late rejection of `pending` is always caught.
   */
  function withTimeout<T>(
    pending: Promise<StoreDecision>,
    onValue: (td: StoreDecision) => MaybePromise<T>,
    onFailure: (err: unknown, timeout: boolean) => MaybePromise<T>,
  ): Promise<T> {
    return new Promise<T>((resolve) => {
      let settled = false
      const timer = setTimeout(() => {
        if (settled) return
        settled = true
        resolve(
          onFailure(
            new CortexError(
              'ERR_CORTEX_STORE_TIMEOUT',
              `The store did not answer within ${storeTimeoutMs} ms`,
            ),
            true,
          ),
        )
      }, storeTimeoutMs)
      timer.unref?.()
      pending.then(
        (td) => {
          if (settled) return
          settled = true
          clearTimeout(timer)
          resolve(onValue(td))
        },
        (err: unknown) => {
          if (settled) return
          settled = true
          clearTimeout(timer)
          resolve(onFailure(err, false))
        },
      )
    })
  }

  function failover(
    rt: Runtime,
    key: string,
    cost: number,
    bucket: TokenBucket,
    mode: Mode,
    counted: boolean,
  ): MaybePromise<RateLimitDecision> {
    if (fallback === undefined) return blindDecision(rt, cost, onStoreError === 'allow', counted)
    const onFallbackFailure = () => blindDecision(rt, cost, true, counted)
    const now = tick()
    let r: MaybePromise<StoreDecision>
    try {
      r = fallback.take(rt.description.name, key, bucket, now, mode === 'peek' ? 0 : cost, scratch)
    } catch {
      return onFallbackFailure()
    }
    if (!isPromiseLike(r)) return finish(rt, r, cost, 'fallback', mode, counted, now)
    return withTimeout(r, (td) => finish(rt, td, cost, 'fallback', mode, counted, now), onFallbackFailure)
  }

  /** One decision through the store, the failure policy and the counters. */
  function take(
    rt: Runtime,
    key: string,
    cost: number,
    bucket: TokenBucket,
    mode: Mode,
    counted: boolean,
  ): MaybePromise<RateLimitDecision> {
    // Checked against the policy's own burst: a delay bucket is larger, but
    // throttling must not admit what the bucket never could.
    if (!(cost >= 0 && cost <= rt.bucket.burst)) {
      // Never admissible (or not a cost at all): no store round trip.
      if (counted) count(rt.index, 1)
      return {
        ...blindDecision(rt, cost, false, false),
        retryAfterSeconds: NEVER_SECONDS,
        retryAfterMs: NEVER,
        degraded: false,
      }
    }
    const now = tick()
    if (!mayTryStore(now)) return failover(rt, key, cost, bucket, mode, counted)
    const probing = hot.outage !== undefined
    let r: MaybePromise<StoreDecision>
    try {
      r = store.take(rt.description.name, key, bucket, now, mode === 'peek' ? 0 : cost, scratch)
    } catch (err) {
      storeFailed(err, false, rt.description.name, probing)
      return failover(rt, key, cost, bucket, mode, counted)
    }
    return afterStore(rt, key, cost, bucket, mode, counted, r, now, probing)
  }

  /** A decision from the store's answer `r` (synchronous or not), with the failure policy on a late or failed one. */
  function afterStore(
    rt: Runtime,
    key: string,
    cost: number,
    bucket: TokenBucket,
    mode: Mode,
    counted: boolean,
    r: MaybePromise<StoreDecision>,
    now: number,
    probing: boolean,
  ): MaybePromise<RateLimitDecision> {
    if (r === scratch && mode === 'consume') {
      // The synchronous path (memory store): no promise, one allocation.
      if (hot.outage !== undefined) storeAnswered()
      return admitOrRefuse(rt, scratch, cost, counts.decisions)
    }
    if (!isPromiseLike(r)) {
      if (hot.outage !== undefined) storeAnswered()
      return finish(rt, r, cost, false, mode, counted, now)
    }
    return withTimeout(
      r,
      (td) => {
        storeAnswered()
        return finish(rt, td, cost, false, mode, counted, now)
      },
      (err, timeout) => {
        storeFailed(err, timeout, rt.description.name, probing)
        return failover(rt, key, cost, bucket, mode, counted)
      },
    )
  }

  function resolve(policy: string): PolicyEntry | undefined {
    return hot.resolve(policy)
  }

  /** `consume`: the common case is `hot.consume`; it hands everything else here. */
  function slowConsume(key: string, policy: string, cost: number): MaybePromise<RateLimitDecision> {
    const hit = resolve(policy)
    if (hit === undefined) return unlimitedDecision('', unmatchedRow, cost, true)
    if (hit.rt === undefined) return unlimitedDecision(hit.d.name, hit.index, cost, true)
    return take(hit.rt, typeof key === 'string' ? key : String(key), cost, hit.rt.bucket, 'consume', true)
  }

  function consume(key: string, policy: string, cost = 1): MaybePromise<RateLimitDecision> {
    return hot.consume(key, policy, cost)
  }

  function peek(key: string, policy: string, cost = 1): MaybePromise<RateLimitDecision> {
    const hit = resolve(policy)
    if (hit === undefined) return unlimitedDecision('', unmatchedRow, cost, false)
    if (hit.rt === undefined) return unlimitedDecision(hit.d.name, hit.index, cost, false)
    return take(hit.rt, String(key), cost, hit.rt.bucket, 'peek', false)
  }

  function reset(key: string, policy?: string): MaybePromise<void> {
    const targets =
      policy === undefined
        ? descriptions.filter((d) => !d.unlimited)
        : [resolve(policy)?.d].filter((d) => d !== undefined)
    const pending: Promise<void>[] = []
    for (const d of targets) {
      for (const s of fallback ? [store, fallback] : [store]) {
        const r = s.reset(d.name, key)
        if (isPromiseLike(r)) pending.push(r)
      }
    }
    if (pending.length > 0) return Promise.all(pending).then(() => undefined)
  }

  // --- throttling ---------------------------------------------------------------
  const held = new Set<{ timer: ReturnType<typeof setTimeout>; reject: (err: unknown) => void }>()

  function hold(d: RateLimitDecision): Promise<RateLimitDecision> {
    if (d.delayMs <= 0) return Promise.resolve(d)
    return new Promise<RateLimitDecision>((resolveHold, rejectHold) => {
      const entry = {
        timer: setTimeout(() => {
          held.delete(entry)
          resolveHold(d)
        }, Math.ceil(d.delayMs)),
        reject: rejectHold,
      }
      entry.timer.unref?.()
      held.add(entry)
    })
  }

  /** Reserves tokens admitted within `maxDelayMs`, then holds until then. Resolves with denials too. */
  function reserveAndHold(
    rt: Runtime,
    key: string,
    cost: number,
    maxDelayMs: number,
  ): MaybePromise<RateLimitDecision> {
    if (maxDelayMs <= 0 || counts.pendingWaits >= maxPendingWaits)
      return take(rt, key, cost, rt.bucket, 'consume', true)
    counts.pendingWaits++
    const done = (d: RateLimitDecision) => {
      counts.pendingWaits--
      return d
    }
    const settle = (d: RateLimitDecision): Promise<RateLimitDecision> =>
      hold(d).then(done, (err: unknown) => {
        counts.pendingWaits--
        throw err
      })
    const r = take(rt, key, cost, delayBucket(rt, maxDelayMs), 'throttle', true)
    if (isPromiseLike(r)) return r.then(settle)
    if (r.delayMs <= 0) return done(r)
    return settle(r)
  }

  function wait(
    key: string,
    policy: string,
    cost = 1,
    waitOptions: WaitOptions = {},
  ): Promise<RateLimitDecision> {
    const maxDelayMs = waitOptions?.maxDelayMs ?? 0
    if (!(typeof maxDelayMs === 'number' && maxDelayMs >= 0 && maxDelayMs <= 2 ** 31 - 1)) {
      return Promise.reject(
        new CortexConfigError(
          'maxDelayMs',
          maxDelayMs,
          'a number of milliseconds in [0, 2147483647]',
          'wait',
        ),
      )
    }
    const hit = resolve(policy)
    if (hit === undefined) return Promise.resolve(unlimitedDecision('', unmatchedRow, cost, true))
    if (hit.rt === undefined) return Promise.resolve(unlimitedDecision(hit.d.name, hit.index, cost, true))
    if (counts.pendingWaits >= maxPendingWaits) {
      return Promise.reject(
        new CortexError(
          'ERR_CORTEX_QUEUE_FULL',
          `${maxPendingWaits} requests are already waiting (maxPendingWaits)`,
        ),
      )
    }
    const rt = hit.rt
    return Promise.resolve(reserveAndHold(rt, String(key), cost, maxDelayMs)).then((d) => {
      if (d.allowed) return d
      const err = new CortexError(
        'ERR_CORTEX_THROTTLE_TIMEOUT',
        d.retryAfterMs === NEVER
          ? `A cost of ${cost} exceeds the burst of policy "${rt.description.name}"; no wait admits it`
          : `Admission under policy "${rt.description.name}" needs ${Math.ceil(d.retryAfterMs)} ms, more than maxDelayMs=${maxDelayMs}`,
      )
      ;(err as CortexError & { decision?: RateLimitDecision }).decision = d
      throw err
    })
  }

  // --- adapters ---------------------------------------------------------------
  let proxyWarned = false
  function noticeProxyHeaders(headers: RequestHeaders | undefined, trustProxy: boolean | undefined): void {
    if (proxyWarned || trustProxy !== false || headers === undefined) return
    // Every request is looked at until the first warning (then never again), so the first request
    // that carries a forwarding header warns, whatever arrives between proxied requests (a sampled
    // check could miss them for long stretches when probes without the header interleave). The
    // cost is three lookups of absent names in the request's header table.
    for (const header of FORWARDING_HEADERS) {
      if (headers[header] === undefined) continue
      proxyWarned = true
      if (warnings.untrustedProxyHeaders !== false) {
        warn(
          `ERR_CORTEX_UNTRUSTED_PROXY: a request carried "${header}" but the framework does not trust proxies, so every client behind the proxy shares one rate limit (the proxy's address). If a proxy you control sets it, enable the framework's trust-proxy setting; otherwise ignore this (it is shown once; turn it off with warnings.untrustedProxyHeaders: false).`,
        )
      }
      emit({ type: 'untrusted-proxy-header', header })
      return
    }
  }

  function keyFor(info: RequestInfo, headers: RequestHeaders | undefined): string {
    if (typeof apiKeyHeader === 'string') {
      const k = apiKeyFromHeaders(headers, apiKeyHeader, apiKeys)
      if (k !== undefined) return k
    }
    return clientAddressKey(info.clientAddress, addressOptions)
  }

  function check(info: RequestInfo, o: CheckOptions = {}): MaybePromise<RateLimitDecision> {
    return decide(info, o.key, o.cost, o.headers, o.trustProxy, o.routed)
  }

  /** `check` with its options as arguments: the handler's path allocates no options object. */
  function decide(
    info: RequestInfo,
    givenKey: string | undefined,
    givenCost: number | undefined,
    headers: RequestHeaders | undefined,
    trustProxy: boolean | undefined,
    routed: boolean | undefined,
  ): MaybePromise<RateLimitDecision> {
    noticeProxyHeaders(headers, trustProxy)
    const cost = givenCost ?? 1
    const hit =
      routed !== true
        ? matcher.match(info.method, info.path)
        : info.route === undefined
          ? matcher.matchUnrouted()
          : matcher.match(info.method, info.route)
    if (hit === undefined) return unlimitedDecision('', unmatchedRow, cost, true)
    if (hit.rt === undefined) return unlimitedDecision(hit.d.name, hit.index, cost, true)
    const key = givenKey ?? keyFor(info, headers)
    return reserveAndHold(hit.rt, key, cost, hit.d.maxDelayMs)
  }

  /** Exact-path policies by name → the path as configured (a route a refusal proves). */
  const exactRoutes = new Map(
    descriptions
      .filter((d) => d.kind === 'exact')
      .map((d) => [d.name, d.name.slice(d.name.indexOf(' ') + 1).trim()]),
  )

  function responseFor(
    decisions: RateLimitDecision | readonly RateLimitDecision[],
    format: HeaderFormat | false = defaultFormat,
  ): RateLimitPlan {
    return planOf(Array.isArray(decisions) ? [...decisions] : [decisions as RateLimitDecision], format)
  }

  /** The plan for a list the caller hands over (not copied). */
  function planOf(list: RateLimitDecision[], format: HeaderFormat | false): RateLimitPlan {
    const headers = rateLimitHeaders(list, format === 'ietf' ? IETF : { format })
    let denied: RateLimitDecision | undefined
    for (let i = 0; i < list.length && denied === undefined; i++) {
      if (!(list[i] as RateLimitDecision).allowed) denied = list[i]
    }
    if (denied === undefined) {
      const own = list[list.length - 1]
      return {
        allowed: true,
        status: 200,
        headers,
        body: undefined,
        decisions: list,
        route: own === undefined ? undefined : exactRoutes.get(own.policy),
      }
    }
    return {
      allowed: false,
      status: 429,
      headers,
      body: { error: 'rate_limited', policy: denied.policy, retryAfterSeconds: denied.retryAfterSeconds },
      decisions: list,
      route: exactRoutes.get(denied.policy),
    }
  }

  function handler<Req>(handlerOptions: RateLimitHandlerOptions<Req> = {}): RateLimitHandler<Req> {
    const at = 'rateLimit'
    checkObject(handlerOptions, 'options', at)
    checkKnownKeys(handlerOptions, ['limiter', 'key', 'skip', 'cost', 'headers'], at)
    checkFunction(handlerOptions.key, 'key', at)
    checkFunction(handlerOptions.skip, 'skip', at)
    checkFunction(handlerOptions.cost, 'cost', at)
    const format =
      handlerOptions.headers === undefined
        ? defaultFormat
        : checkHeaderFormat(handlerOptions.headers, 'headers', at)
    const { key, skip, cost } = handlerOptions
    const plan = (req: Req, d: RateLimitDecision): RateLimitPlan => {
      const carrier = req as { [DECISIONS]?: RateLimitDecision[] }
      const previous = carrier[DECISIONS]
      const decisions = previous === undefined ? [d] : [...previous, d]
      carrier[DECISIONS] = decisions
      return planOf(decisions, format)
    }
    return {
      handle(req, input) {
        if (skip?.(req)) return undefined
        const r = decide(input.info, key?.(req), cost?.(req), input.headers, input.trustProxy, input.routed)
        return isPromiseLike(r) ? r.then((d) => plan(req, d)) : plan(req, r)
      },
    }
  }

  function setRateScale(next: number): void {
    scale = checkNumber(next, 'scale', { min: 0, exclusiveMin: true, max: 1e6, where: 'setRateScale' })
    descriptions.forEach((d, index) => {
      if (d.unlimited) return
      const rt = buildRuntime(d, index, scale)
      const entry = byName.get(d.name) as { rt: Runtime | undefined }
      const current = entry.rt as Runtime
      current.bucket = rt.bucket
      current.tolerance = rt.tolerance
      current.limit = rt.limit
      current.delayBuckets.clear()
    })
  }

  function close(): void {
    for (const entry of held) {
      clearTimeout(entry.timer)
      entry.reject(
        new CortexError('ERR_CORTEX_CLOSED', 'The rate limiter was closed while this request was held'),
      )
    }
    held.clear()
  }

  function registerMetrics(registry: PromRegistryLike): void {
    registerRateLimitMetrics(registry, metricPrefix, {
      policies: descriptions.map((d) => d.name),
      counts,
      stores: fallback ? { primary: store, fallback } : { primary: store },
      storeUp: () => hot.outage === undefined,
    })
  }
  if (options.registry !== undefined) registerMetrics(options.registry)

  return withGetters(
    {
      policies: descriptions,
      headerFormat: defaultFormat,
      consume,
      peek,
      reset,
      wait,
      policyFor: (method, path) => matcher.match(method, path)?.d.name,
      check,
      responseFor,
      handler,
      setRateScale,
      registerMetrics,
      close,
    } satisfies Omit<RateLimiter, 'rateScale'>,
    { rateScale: () => scale },
  )
}
