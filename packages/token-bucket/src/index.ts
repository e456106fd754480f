/**
 * @cortex/token-bucket — per-client, per-endpoint rate limiting with a token
 * bucket: burst allowance, 429 with Retry-After and the IETF RateLimit
 * headers, a bounded memory store and a one-round-trip Redis store, a failure
 * policy for when the store is away, throttling, and policy docs.
 */
export {
  type ApiKeyCheck,
  apiKeyFromHeaders,
  type ClientAddressKeyOptions,
  clientAddressKey,
} from './client-key.js'
export { type LimitDecision, NEVER_SECONDS, type RateLimitDecision } from './decision.js'
export { describePolicies, type PolicyDocs } from './describe-policies.js'
export {
  additionalQuotaSeconds,
  HEADER_FORMATS,
  type HeaderFormat,
  type RateLimitHeadersOptions,
  rateLimitHeaders,
} from './headers.js'
export { settleDecisions } from './list-policy.js'
export { type MemoryStore, type MemoryStoreOptions, memoryStore } from './memory-store.js'
export type {
  LimitConfig,
  LimitDescription,
  Policies,
  PolicyConfig,
  PolicyDescription,
  PolicyKey,
  PolicyMethod,
} from './policies.js'
export {
  type CheckOptions,
  type Cost,
  createRateLimiter,
  type RateLimitEvent,
  type RateLimiter,
  type RateLimiterOptions,
  type RateLimitHandler,
  type RateLimitHandlerInput,
  type RateLimitHandlerOptions,
  type RateLimitLogger,
  type RateLimitPlan,
  type RequestHeaders,
  rateLimitDecisions,
  type WaitOptions,
} from './rate-limiter.js'
export { type IoRedisLike, type NodeRedisLike, type RedisStoreOptions, redisStore } from './redis-store.js'
export type {
  LimitsMode,
  MaybePromise,
  RateLimitStore,
  StoreDecision,
  StoreLimit,
  StoreLimitsAnswer,
  StoreStats,
} from './store.js'
