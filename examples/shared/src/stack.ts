/**
 * Builds the @cortex stack of the examples from cortex.config.ts: the
 * rate limiter (in memory, or Redis when REDIS_URL is set), the SLO tracker,
 * the energy meter (sensors where the machine has them, the CPU model
 * otherwise) and the power-mode controller, all on one prom-client registry.
 */

import { readFileSync } from 'node:fs'
import { createEnergyMeter, type EnergyMeter } from '@cortex/energy'
import { createPowerModeController, type PowerModeController, powerBudgetTrigger } from '@cortex/low-power'
import { createSloTracker, defineSlos, type SloTracker } from '@cortex/slo'
import { createRateLimiter, memoryStore, type RateLimiter, redisStore } from '@cortex/token-bucket'
import { Redis } from 'ioredis'
import { collectDefaultMetrics, Registry } from 'prom-client'
import { apiKeys as configApiKeys, powerBudgetWatts, powerModes, rateLimits, slos } from '../cortex.config.ts'

export type PowerMode = keyof typeof powerModes

export interface CortexStack {
  registry: Registry
  limiter: RateLimiter
  tracker: SloTracker
  meter: EnergyMeter
  power: PowerModeController<PowerMode>
  /** `memory` or `redis`. */
  store: 'memory' | 'redis'
  /** Stops timers and closes the Redis connection. */
  close(): Promise<void>
}

export interface StackOptions {
  /** Redis URL for the shared limiter store; default `process.env.REDIS_URL` (memory store when unset). */
  redisUrl?: string
  /** Energy sampling interval; default `ENERGY_INTERVAL_MS` or 1 s. */
  energyIntervalMs?: number
  /** The API keys to recognise; default `apiKeys` from cortex.config.ts plus `API_KEYS` and `API_KEYS_FILE`. */
  apiKeys?: Iterable<string>
}

/**
 * The recognised API keys: the config's, plus `API_KEYS` (comma-separated)
 * and `API_KEYS_FILE` (one key per line), read once.
 */
export function loadApiKeys(env: NodeJS.ProcessEnv = process.env): Set<string> {
  const keys = new Set<string>(configApiKeys)
  const add = (text: string, separator: RegExp) => {
    for (const key of text.split(separator)) if (key.trim() !== '') keys.add(key.trim())
  }
  if (env.API_KEYS) add(env.API_KEYS, /,/)
  if (env.API_KEYS_FILE) add(readFileSync(env.API_KEYS_FILE, 'utf8'), /\r?\n/)
  return keys
}

/**
 * @example
 * const stack = createCortexStack()
 * // wire stack.limiter, stack.tracker, stack.meter, stack.power into your framework
 */
export function createCortexStack(options: StackOptions = {}): CortexStack {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const redisUrl = options.redisUrl ?? process.env.REDIS_URL
  const redis = redisUrl
    ? new Redis(redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false })
    : undefined
  // A Redis outage must not take the API down: decide from memory meanwhile.
  redis?.on('error', () => {})
  const limiter = createRateLimiter({
    policies: rateLimits,
    store: redis
      ? redisStore({ client: redis, prefix: 'cortex-example:rl:' })
      : memoryStore({ maxKeys: 100_000 }),
    onStoreError: memoryStore({ maxKeys: 100_000 }),
    // Only keys the server recognises are client keys; any other request is limited by its address.
    clientKey: { apiKeyHeader: 'x-api-key', apiKeys: options.apiKeys ?? loadApiKeys() },
    registry,
  })
  const tracker = createSloTracker(defineSlos(slos), { registry })
  const meter = createEnergyMeter({
    sources: 'auto',
    intervalMs: options.energyIntervalMs ?? (Number(process.env.ENERGY_INTERVAL_MS) || 1000),
    powerBudgetWatts,
  })
  meter.registerMetrics(registry)
  meter.start()
  const power = createPowerModeController({
    modes: powerModes,
    initial: 'normal',
    triggers: [
      powerBudgetTrigger(meter, {
        enterAboveWatts: powerBudgetWatts,
        exitBelowWatts: powerBudgetWatts * 0.85,
        forMs: 30_000,
      }),
    ],
    minDwellMs: 60_000,
    rateLimiters: [limiter],
    registry,
  })
  return {
    registry,
    limiter,
    tracker,
    meter,
    power,
    store: redis ? 'redis' : 'memory',
    async close() {
      power.close()
      meter.stop()
      tracker.close()
      if (redis) await redis.quit().catch(() => redis.disconnect())
    },
  }
}
