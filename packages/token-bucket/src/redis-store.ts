/**
 * The Redis store: one string per key (the GCRA "theoretical arrival time",
 * in ms), updated by a Lua script in one round trip (EVALSHA, falling back to
 * EVAL when the server answers NOSCRIPT). The script reads Redis's own clock
 * (`TIME`), so instances with skewed clocks agree, and sets the key to expire
 * when its bucket is full again, so idle keys cost nothing.
 *
 * The script only decides "admit or not" and writes the new state, with the
 * same floating-point operations as `@cortex/core`'s token bucket; the figures
 * of the decision (remaining, exact retry hint, reset) are then computed by
 * `@cortex/core` from the state and time the script returns, so a Redis
 * decision is bit-for-bit the decision the memory store would make.
 *
 * Works with ioredis (`evalsha(sha, numKeys, ...args)`) and node-redis v4+
 * (`evalSha(sha, { keys, arguments })`); neither is imported here.
 */
import { createHash } from 'node:crypto'
import {
  CortexConfigError,
  CortexError,
  checkKnownKeys,
  checkObject,
  checkOneOf,
  FULL_BUCKET_STATE,
  type TokenBucket,
} from '@cortex/core'
import type { RateLimitStore, StoreDecision } from './store.js'

/**
 * The GCRA step. ARGV: msPerToken, burst, cost, then — only with
 * `clock: 'limiter'` — now (ms) and a TTL slack (ms): the key expires in
 * Redis's real time, which need not follow the limiter's clock, and a key
 * that outlives its bucket's refill is harmless while one that expires early
 * would grant tokens.
 */
export const GCRA_SCRIPT = `local msPerToken = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now
local t
if ARGV[4] ~= nil and ARGV[4] ~= '' then
  now = tonumber(ARGV[4])
else
  t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
local raw = redis.call('GET', KEYS[1])
local state = nil
if raw then state = tonumber(raw) end
local debt = 0
if state ~= nil and state > now then debt = state - now end
local allowed = 0
if cost == 0 then
  allowed = 1
elseif cost > 0 and cost <= burst then
  local costMs = cost * msPerToken
  if debt + costMs <= burst * msPerToken then
    allowed = 1
    local base = now
    if state ~= nil and state > now then base = state end
    local tat = base + costMs
    local slack = tonumber(ARGV[5]) or 0
    redis.call('SET', KEYS[1], string.format('%.17g', tat), 'PX', math.max(1, math.ceil(tat - now)) + slack)
  end
end
if t then return { allowed, raw or '', t[1], t[2] } end
return { allowed, raw or '' }`

const SCRIPT_SHA = createHash('sha1').update(GCRA_SCRIPT).digest('hex')
const LIMITER_CLOCK_TTL_SLACK_MS = '60000'
/** Most decisions sharing one socket write (see `writeCoalescer`). */
const MAX_COALESCED = 8

/** The ioredis shape: `evalsha(sha, numKeys, ...keysAndArgs)`; `stream` is its socket. */
export interface IoRedisLike {
  evalsha(sha: string, numKeys: number, ...args: string[]): Promise<unknown>
  eval(script: string, numKeys: number, ...args: string[]): Promise<unknown>
  del(key: string): Promise<unknown>
  stream?: { cork?: () => void; uncork?: () => void; writableCorked?: number }
}

/** The node-redis v4+ shape: `evalSha(sha, { keys, arguments })`. */
export interface NodeRedisLike {
  evalSha(sha: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>
  eval(script: string, options: { keys: string[]; arguments: string[] }): Promise<unknown>
  del(key: string): Promise<unknown>
}

export interface RedisStoreOptions {
  /** A connected ioredis or node-redis (v4+) client. The store never closes it. */
  client: IoRedisLike | NodeRedisLike
  /** Prepended to every key: `<prefix><policy>:<client key>`. Default `cortex:rl:`. */
  prefix?: string
  /**
   * Whose clock decides. `'redis'` (default): the server's `TIME`, so every
   * instance agrees. `'limiter'`: the limiter's `clock`, passed to the script
   * — meant for tests that inject a clock; across instances it trusts their
   * clocks to agree.
   */
  clock?: 'redis' | 'limiter'
}

/**
 * Creates a store kept in Redis, shared by every instance using the same
 * prefix.
 *
 * @example
 * import Redis from 'ioredis'
 * const client = new Redis({ enableOfflineQueue: false })
 * const limiter = createRateLimiter({
 *   policies: { '*': { limit: 600, window: '1m' } },
 *   store: redisStore({ client, prefix: 'api:rl:' }),
 *   onStoreError: memoryStore(), // decide locally while Redis is away
 * })
 */
export function redisStore(options: RedisStoreOptions): RateLimitStore {
  checkObject(options, 'options', 'redisStore')
  checkKnownKeys(options, ['client', 'prefix', 'clock'], 'redisStore')
  const { client } = options
  const prefix = options.prefix ?? 'cortex:rl:'
  if (typeof prefix !== 'string') throw new CortexConfigError('prefix', prefix, 'a string', 'redisStore')
  const clock =
    options.clock === undefined
      ? 'redis'
      : checkOneOf(options.clock, 'clock', ['redis', 'limiter'], 'redisStore')
  const run = scriptRunner(client)

  async function take(
    policy: string,
    key: string,
    bucket: TokenBucket,
    now: number,
    cost: number,
  ): Promise<StoreDecision> {
    const args =
      clock === 'limiter'
        ? [
            String(bucket.msPerToken),
            String(bucket.burst),
            String(cost),
            String(now),
            LIMITER_CLOCK_TTL_SLACK_MS,
          ]
        : [String(bucket.msPerToken), String(bucket.burst), String(cost)]
    const reply = await run(`${prefix}${policy}:${key}`, args)
    if (!Array.isArray(reply) || reply.length !== (clock === 'limiter' ? 2 : 4)) {
      throw new CortexError(
        'ERR_CORTEX_STORE',
        `Unexpected reply from the rate-limit script: ${String(reply)}`,
      )
    }
    const [allowed, raw, seconds, micros] = reply as [unknown, unknown, unknown, unknown]
    const state = raw === '' || raw === null ? FULL_BUCKET_STATE : Number(raw)
    // Redis's TIME as it returned it (seconds, microseconds), combined with the script's
    // arithmetic, so both sides hold the same double; formatting it in Lua costs more than the rest.
    const at = clock === 'limiter' ? now : Number(seconds) * 1000 + Number(micros) / 1000
    const d: StoreDecision = bucket.take(state, at, cost)
    d.now = at
    // The script's verdict is what was written; the arithmetic is the same,
    // so this only guards against a foreign script under the same SHA.
    const admitted = Number(allowed) === 1
    if (d.allowed !== admitted) {
      d.allowed = admitted
      if (!admitted && d.retryAfterMs === 0) d.retryAfterMs = bucket.msPerToken
    }
    return d
  }

  async function reset(policy: string, key: string): Promise<void> {
    await client.del(`${prefix}${policy}:${key}`)
  }

  return { name: 'redis', take, reset }
}

type ScriptRunner = (key: string, args: string[]) => Promise<unknown>

function isNoScript(err: unknown): boolean {
  return String((err as { message?: unknown } | null)?.message ?? err).includes('NOSCRIPT')
}

function scriptRunner(client: unknown): ScriptRunner {
  const c = client as Partial<IoRedisLike & NodeRedisLike> | null
  if (c && typeof c.evalsha === 'function' && typeof c.eval === 'function') {
    const io = c as IoRedisLike
    const coalesce = writeCoalescer(io)
    return async (key, args) => {
      try {
        coalesce()
        return await io.evalsha(SCRIPT_SHA, 1, key, ...args)
      } catch (err) {
        if (!isNoScript(err)) throw err
        return io.eval(GCRA_SCRIPT, 1, key, ...args)
      }
    }
  }
  if (c && typeof c.evalSha === 'function' && typeof c.eval === 'function') {
    const nr = c as NodeRedisLike
    return async (key, args) => {
      const call = { keys: [key], arguments: args }
      try {
        return await nr.evalSha(SCRIPT_SHA, call)
      } catch (err) {
        if (!isNoScript(err)) throw err
        return nr.eval(GCRA_SCRIPT, call)
      }
    }
  }
  throw new CortexConfigError(
    'client',
    client,
    'an ioredis client (with evalsha) or a node-redis v4+ client (with evalSha)',
    'redisStore',
  )
}

/**
 * Lets the decisions asked for in the same tick share one socket write: the
 * first corks ioredis's socket and a microtask uncorks it, so Node flushes
 * every EVALSHA written in between with one writev. Each is still its own
 * command with its own reply (one round trip per decision, answered as soon
 * as its reply arrives); only the system calls are shared, and with many
 * requests in flight they are most of the client's cost. node-redis batches
 * same-tick writes by itself, so it needs none of this.
 */
function writeCoalescer(io: IoRedisLike): () => void {
  let corked: { uncork?: () => void } | undefined
  let written = 0
  const release = (): void => {
    const stream = corked
    corked = undefined
    stream?.uncork?.()
  }
  return () => {
    if (corked !== undefined) {
      // Small batches keep several in flight, so Redis works while the client does.
      if (++written < MAX_COALESCED) return
      release()
    }
    const stream = io.stream
    if (typeof stream?.cork !== 'function' || typeof stream.uncork !== 'function') return
    stream.cork()
    corked = stream
    written = 0
    queueMicrotask(release)
  }
}
