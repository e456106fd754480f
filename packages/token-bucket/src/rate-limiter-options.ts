/**
 * `createRateLimiter`'s options: their types, their validation (every bad
 * value fails at construction, naming the option), the defaults, and the
 * two outlets the options name (the logger and `onEvent`).
 */
import {
  CortexConfigError,
  checkKnownKeys,
  checkNumber,
  checkObject,
  type PromRegistryLike,
} from '@cortex/core'
import type { ApiKeyCheck, ClientAddressKeyOptions } from './client-key.js'
import { checkHeaderFormat, type HeaderFormat } from './headers.js'
import { memoryStore } from './memory-store.js'
import { type Policies, type PolicyDescription, parsePolicies } from './policies.js'
import type { RateLimitStore } from './store.js'

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

/** The options after validation, with every default filled in. */
export interface LimiterConfig {
  readonly descriptions: readonly PolicyDescription[]
  readonly store: RateLimitStore
  readonly clock: () => number
  readonly onStoreError: 'allow' | 'deny' | RateLimitStore
  /** `onStoreError` when it is a store. */
  readonly fallback: RateLimitStore | undefined
  readonly storeTimeoutMs: number
  readonly retryIntervalMs: number
  readonly defaultFormat: HeaderFormat | false
  readonly addressOptions: ClientAddressKeyOptions
  readonly apiKeyHeader: string | undefined
  readonly apiKeys: ApiKeyCheck | undefined
  readonly metricPrefix: string
  readonly maxPendingWaits: number
  readonly logger: RateLimitLogger | false
  readonly warnings: { untrustedProxyHeaders?: unknown; storeErrors?: unknown }
  readonly onEvent: ((event: RateLimitEvent) => void) | undefined
}

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

export function checkFunction(value: unknown, option: string, where: string): void {
  if (value !== undefined && typeof value !== 'function') {
    throw new CortexConfigError(option, value, 'a function', where)
  }
}

function checkStore(value: unknown, option: string, listPolicy: string | undefined): RateLimitStore {
  const s = value as Partial<RateLimitStore> | null
  if (typeof s !== 'object' || s === null || typeof s.take !== 'function' || typeof s.reset !== 'function') {
    throw new CortexConfigError(
      option,
      value,
      'a store (memoryStore(), redisStore(...) or { name, take, reset })',
      'createRateLimiter',
    )
  }
  if (
    listPolicy !== undefined &&
    (typeof s.takeLimits !== 'function' || typeof s.chargeLimits !== 'function')
  ) {
    throw new CortexConfigError(
      option,
      s.name ?? value,
      `a store with takeLimits and chargeLimits (memoryStore(), redisStore(...)), since policy ${JSON.stringify(listPolicy)} is a list of limits`,
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

function checkClientKey(value: unknown, where: string) {
  const keyOptions = value === undefined ? {} : checkObject(value, 'clientKey', where)
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
  return { addressOptions, apiKeyHeader: apiKeyHeader as string | undefined, apiKeys }
}

/** Validates `createRateLimiter`'s options, in the order they are documented, and fills in defaults. */
export function resolveOptions(options: RateLimiterOptions): LimiterConfig {
  const where = 'createRateLimiter'
  checkObject(options, 'options', where)
  checkKnownKeys(options, OPTIONS, where)
  const descriptions = parsePolicies(options.policies)
  const listPolicy = descriptions.find((d) => d.limits !== undefined)?.name
  const store = options.store === undefined ? memoryStore() : checkStore(options.store, 'store', listPolicy)
  checkFunction(options.clock, 'clock', where)
  const clock = options.clock ?? Date.now
  const onStoreError = options.onStoreError ?? 'allow'
  if (typeof onStoreError !== 'object' && onStoreError !== 'allow' && onStoreError !== 'deny') {
    throw new CortexConfigError('onStoreError', onStoreError, "'allow', 'deny' or a fallback store", where)
  }
  const fallback =
    typeof onStoreError === 'object' ? checkStore(onStoreError, 'onStoreError', listPolicy) : undefined
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
  const { addressOptions, apiKeyHeader, apiKeys } = checkClientKey(options.clientKey, where)
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
  return {
    descriptions,
    store,
    clock,
    onStoreError,
    fallback,
    storeTimeoutMs,
    retryIntervalMs,
    defaultFormat,
    addressOptions,
    apiKeyHeader,
    apiKeys,
    metricPrefix,
    maxPendingWaits,
    logger,
    warnings,
    onEvent: options.onEvent,
  }
}

const TAG = '[@cortex/token-bucket]'

/** Sends a warning to the configured logger, tagged with the package name. */
export function warn(config: LimiterConfig, message: string): void {
  if (config.logger) config.logger.warn(`${TAG} ${message}`)
}

/** Sends a note to the logger's `info` (its `warn` when it has none), tagged with the package name. */
export function inform(config: LimiterConfig, message: string): void {
  const logger = config.logger
  if (!logger) return
  if (logger.info) logger.info(`${TAG} ${message}`)
  else logger.warn(`${TAG} ${message}`)
}

/** Delivers an event to `onEvent`; a listener's bug must not turn into a failed request. */
export function emit(config: LimiterConfig, event: RateLimitEvent): void {
  const onEvent = config.onEvent
  if (!onEvent) return
  try {
    onEvent(event)
  } catch {
    // Swallowed on purpose (see above).
  }
}
