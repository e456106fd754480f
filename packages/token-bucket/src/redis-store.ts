/**
 * The Redis store: one string per key (the GCRA "theoretical arrival time",
 * in ms), updated by a Lua script in one round trip (EVALSHA, falling back to
 * EVAL when the server answers NOSCRIPT). With ioredis, the decisions asked
 * for in the same tick go to Redis together, as one call of the script over
 * all their keys (up to 32): still at most one round trip per decision, but
 * one command instead of one each, which is most of both sides' cost under
 * load. The script reads Redis's own clock
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
 * The GCRA step over one or more keys, in order (a key may repeat: each step
 * sees the one before). ARGV[1] is a TTL slack in ms ('' for none), then four
 * per key: msPerToken, burst, cost, now in ms ('' to use Redis's TIME, read
 * once per call). The slack is for `clock: 'limiter'`: the key expires in
 * Redis's real time, which need not follow the limiter's clock, and a key that
 * outlives its bucket's refill is harmless while one that expires early would
 * grant tokens. Returns, per key, the verdict (1 or 0) and the state read
 * before ('' for none), then TIME's two parts if it was read — as Redis gave
 * them: formatting a float in Lua costs more than the rest of the script.
 */
export const GCRA_SCRIPT = `local slack = tonumber(ARGV[1]) or 0
local t
local serverNow
local out = {}
for i = 1, #KEYS do
  local j = 2 + (i - 1) * 4
  local msPerToken = tonumber(ARGV[j])
  local burst = tonumber(ARGV[j + 1])
  local cost = tonumber(ARGV[j + 2])
  local now
  if ARGV[j + 3] ~= '' then
    now = tonumber(ARGV[j + 3])
  else
    if not t then
      t = redis.call('TIME')
      serverNow = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
    end
    now = serverNow
  end
  local raw = redis.call('GET', KEYS[i])
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
      redis.call('SET', KEYS[i], string.format('%.17g', tat), 'PX', math.max(1, math.ceil(tat - now)) + slack)
    end
  end
  out[#out + 1] = allowed
  out[#out + 1] = raw or ''
end
if t then
  out[#out + 1] = t[1]
  out[#out + 1] = t[2]
end
return out`

const SCRIPT_SHA = createHash('sha1').update(GCRA_SCRIPT).digest('hex')
const LIMITER_CLOCK_TTL_SLACK_MS = '60000'
/** Most decisions sent in one call of the script (see `batched`). */
const MAX_BATCH = 32

/** The ioredis shape: `evalsha(sha, numKeys, ...keysAndArgs)`; `isCluster` is set on a `Cluster`. */
export interface IoRedisLike {
  evalsha(sha: string, numKeys: number, ...args: string[]): Promise<unknown>
  eval(script: string, numKeys: number, ...args: string[]): Promise<unknown>
  del(key: string): Promise<unknown>
  isCluster?: boolean
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
  const run = scriptRunner(client, clock === 'limiter' ? LIMITER_CLOCK_TTL_SLACK_MS : '')

  async function take(
    policy: string,
    key: string,
    bucket: TokenBucket,
    now: number,
    cost: number,
  ): Promise<StoreDecision> {
    const reply = await run(`${prefix}${policy}:${key}`, [
      numberText(bucket.msPerToken),
      numberText(bucket.burst),
      numberText(cost),
      clock === 'limiter' ? String(now) : '',
    ])
    const [allowed, raw, seconds, micros] = reply
    const state = raw === '' || raw === null ? FULL_BUCKET_STATE : Number(raw)
    // Redis's TIME as it returned it (seconds, microseconds), combined with the script's
    // arithmetic, so both sides hold the same double.
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

/**
 * Runs the script for one key and resolves with its part of the reply:
 * [verdict, state read before, TIME seconds, TIME microseconds].
 */
type ScriptRunner = (key: string, args: string[]) => Promise<unknown[]>

/** Decimal text of a number, remembered for the few values a limiter uses (rates, bursts, costs). */
const numberTexts = new Map<number, string>()
function numberText(value: number): string {
  let text = numberTexts.get(value)
  if (text === undefined) {
    text = String(value)
    if (numberTexts.size < 1024) numberTexts.set(value, text)
  }
  return text
}

function isNoScript(err: unknown): boolean {
  return String((err as { message?: unknown } | null)?.message ?? err).includes('NOSCRIPT')
}

/** Splits a reply for `keys` keys into each key's part (the TIME parts go to every key). */
function splitReply(reply: unknown, keys: number): unknown[][] {
  if (!Array.isArray(reply) || (reply.length !== 2 * keys && reply.length !== 2 * keys + 2)) {
    throw new CortexError('ERR_CORTEX_STORE', `Unexpected reply from the rate-limit script: ${String(reply)}`)
  }
  const seconds = reply[2 * keys]
  const micros = reply[2 * keys + 1]
  const parts: unknown[][] = []
  for (let i = 0; i < keys; i++) parts.push([reply[2 * i], reply[2 * i + 1], seconds, micros])
  return parts
}

function scriptRunner(client: unknown, slack: string): ScriptRunner {
  const c = client as Partial<IoRedisLike & NodeRedisLike> | null
  if (c && typeof c.evalsha === 'function' && typeof c.eval === 'function') {
    const io = c as IoRedisLike
    const call = async (keys: string[], args: string[]): Promise<unknown[][]> => {
      let reply: unknown
      try {
        reply = await io.evalsha(SCRIPT_SHA, keys.length, ...keys, slack, ...args)
      } catch (err) {
        if (!isNoScript(err)) throw err
        reply = await io.eval(GCRA_SCRIPT, keys.length, ...keys, slack, ...args)
      }
      return splitReply(reply, keys.length)
    }
    // A Cluster needs every key of one call on one node: one call per decision there.
    if (io.isCluster === true) return async (key, args) => (await call([key], args))[0] as unknown[]
    return batched(call)
  }
  if (c && typeof c.evalSha === 'function' && typeof c.eval === 'function') {
    const nr = c as NodeRedisLike
    return async (key, args) => {
      const options = { keys: [key], arguments: [slack, ...args] }
      let reply: unknown
      try {
        reply = await nr.evalSha(SCRIPT_SHA, options)
      } catch (err) {
        if (!isNoScript(err)) throw err
        reply = await nr.eval(GCRA_SCRIPT, options)
      }
      return splitReply(reply, 1)[0] as unknown[]
    }
  }
  throw new CortexConfigError(
    'client',
    client,
    'an ioredis client (with evalsha) or a node-redis v4+ client (with evalSha)',
    'redisStore',
  )
}

interface Queued {
  key: string
  args: string[]
  resolve: (part: unknown[]) => void
  reject: (err: unknown) => void
}

/**
 * Gathers the decisions asked for in one tick and sends them as calls of the
 * script over up to MAX_BATCH keys each, at the end of the tick (a
 * microtask). A decision alone in its tick goes out alone; a failed call
 * fails each of its decisions, which the limiter's failure policy handles.
 */
function batched(call: (keys: string[], args: string[]) => Promise<unknown[][]>): ScriptRunner {
  let queue: Queued[] = []
  const send = (batch: Queued[]): void => {
    const keys: string[] = []
    const args: string[] = []
    for (const q of batch) {
      keys.push(q.key)
      for (const a of q.args) args.push(a)
    }
    call(keys, args).then(
      (parts) => {
        batch.forEach((q, i) => {
          q.resolve(parts[i] as unknown[])
        })
      },
      (err: unknown) => {
        for (const q of batch) q.reject(err)
      },
    )
  }
  const flush = (): void => {
    const pending = queue
    queue = []
    for (let i = 0; i < pending.length; i += MAX_BATCH) send(pending.slice(i, i + MAX_BATCH))
  }
  return (key, args) =>
    new Promise((resolve, reject) => {
      if (queue.push({ key, args, resolve, reject }) === 1) queueMicrotask(flush)
    })
}
