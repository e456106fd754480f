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
import type { LimitsMode, RateLimitStore, StoreDecision, StoreLimit, StoreLimitsAnswer } from './store.js'

/**
 * The GCRA step over one or more keys, in order (a key may repeat: each step
 * sees the one before). ARGV[1] is a TTL slack in ms ('' for none). Then come
 * runs of five: how many of the next keys the run covers, and their
 * msPerToken, burst, cost and now in ms ('' to use Redis's TIME, read once per
 * call). Consecutive decisions of one policy and cost share a run, so a batch
 * of one policy sends five arguments in all instead of four per key: parsing
 * arguments was a third of the script's time.
 *
 * The slack is for `clock: 'limiter'`: the key expires in Redis's real time,
 * which need not follow the limiter's clock, and a key that outlives its
 * bucket's refill is harmless while one that expires early would grant
 * tokens. Returns, per key, the verdict (1 or 0) and the state read before
 * ('' for none), then TIME's two parts if it was read — as Redis gave them:
 * formatting a float in Lua costs more than the rest of the script.
 */
export const GCRA_SCRIPT = `local slack = tonumber(ARGV[1]) or 0
local t
local serverNow
local out = {}
local i = 0
for a = 2, #ARGV, 5 do
  local msPerToken = tonumber(ARGV[a + 1])
  local burst = tonumber(ARGV[a + 2])
  local cost = tonumber(ARGV[a + 3])
  local now
  if ARGV[a + 4] ~= '' then
    now = tonumber(ARGV[a + 4])
  else
    if not t then
      t = redis.call('TIME')
      serverNow = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
    end
    now = serverNow
  end
  local costMs = cost * msPerToken
  local capacity = burst * msPerToken
  for k = 1, tonumber(ARGV[a]) do
    i = i + 1
    local raw = redis.call('GET', KEYS[i])
    local state = nil
    if raw then state = tonumber(raw) end
    local allowed = 0
    if cost == 0 then
      allowed = 1
    elseif cost > 0 and cost <= burst then
      local base = now
      if state ~= nil and state > now then base = state end
      if (base - now) + costMs <= capacity then
        allowed = 1
        local tat = base + costMs
        redis.call('SET', KEYS[i], string.format('%.17g', tat), 'PX', math.max(1, math.ceil(tat - now)) + slack)
      end
    end
    out[2 * i - 1] = allowed
    out[2 * i] = raw or ''
  end
end
if t then
  out[2 * i + 1] = t[1]
  out[2 * i + 2] = t[2]
end
return out`

/**
 * A list policy's limits for one client, atomically, in one call: KEYS are
 * the limits' keys (one hash slot: see `limitKey`). ARGV[1] is the mode —
 * `take` (charge every limit its cost if all of them admit it, none
 * otherwise), `peek` (read only) or `charge` (add each cost unconditionally,
 * negative to give back: how `settle` applies an actual cost) — ARGV[2] the
 * time in ms ('' for Redis's TIME), ARGV[3] the TTL slack, then per key its
 * msPerToken, burst and cost. The arithmetic is GCRA_SCRIPT's (and
 * `@cortex/core`'s `take` and `charge`). Returns the verdict (1 or 0), each
 * key's state read before ('' for none), then TIME's two parts if read.
 */
export const LIMITS_SCRIPT = `local mode = ARGV[1]
local slack = tonumber(ARGV[3]) or 0
local t
local now
if ARGV[2] ~= '' then
  now = tonumber(ARGV[2])
else
  t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
end
local n = #KEYS
local out = {1}
local bases = {}
for i = 1, n do
  local raw = redis.call('GET', KEYS[i])
  out[i + 1] = raw or ''
  local base = now
  if raw then
    local state = tonumber(raw)
    if state and state > now then base = state end
  end
  bases[i] = base
  if mode == 'take' then
    local msPerToken = tonumber(ARGV[1 + 3 * i])
    local burst = tonumber(ARGV[2 + 3 * i])
    local cost = tonumber(ARGV[3 + 3 * i])
    if cost ~= 0 and not (cost > 0 and cost <= burst and (base - now) + cost * msPerToken <= burst * msPerToken) then
      out[1] = 0
    end
  end
end
if mode ~= 'peek' and (mode == 'charge' or out[1] == 1) then
  for i = 1, n do
    local msPerToken = tonumber(ARGV[1 + 3 * i])
    local cost = tonumber(ARGV[3 + 3 * i])
    if cost ~= 0 then
      local tat = bases[i] + cost * msPerToken
      if tat > now then
        redis.call('SET', KEYS[i], string.format('%.17g', tat), 'PX', math.max(1, math.ceil(tat - now)) + slack)
      else
        redis.call('DEL', KEYS[i])
      end
    end
  end
end
if t then
  out[n + 2] = t[1]
  out[n + 3] = t[2]
end
return out`

const SCRIPT_SHA = createHash('sha1').update(GCRA_SCRIPT).digest('hex')
const LIMITS_SHA = createHash('sha1').update(LIMITS_SCRIPT).digest('hex')
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
  /**
   * Prepended to every key: `<prefix><policy>:<client key>`, and for a list
   * policy's limits `<prefix>{<policy>:<client key>}:<limit>` — the braces
   * are a Redis Cluster hash tag, so one client's limits share a hash slot
   * and are decided in one atomic call. Default `cortex:rl:`.
   */
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
  const limiterClock = clock === 'limiter'
  const send = scriptSender(client, limiterClock ? LIMITER_CLOCK_TTL_SLACK_MS : '')

  function take(
    policy: string,
    key: string,
    bucket: TokenBucket,
    now: number,
    cost: number,
  ): Promise<StoreDecision> {
    return send(`${prefix}${policy}:${key}`, bucket, cost, limiterClock ? now : Number.NaN)
  }

  async function reset(policy: string, key: string, limits?: readonly StoreLimit[]): Promise<void> {
    if (limits === undefined) {
      await client.del(`${prefix}${policy}:${key}`)
      return
    }
    for (const limit of limits) await client.del(limitKey(prefix, policy, key, limit))
  }

  const runLimits = limitsRunner(client)

  async function takeLimits(
    policy: string,
    key: string,
    limits: readonly StoreLimit[],
    now: number,
    costs: readonly number[],
    mode: LimitsMode,
  ): Promise<StoreLimitsAnswer> {
    const keys = limits.map((l) => limitKey(prefix, policy, key, l))
    const reply = await runLimits(
      keys,
      limitsArgs(mode, limiterClock ? now : Number.NaN, slack, limits, costs),
    )
    const n = limits.length
    if (!Array.isArray(reply) || (reply.length !== n + 1 && reply.length !== n + 3)) {
      throw new CortexError(
        'ERR_CORTEX_STORE',
        `Unexpected reply from the rate-limit script: ${String(reply)}`,
      )
    }
    const at = reply.length === n + 1 ? now : Number(reply[n + 1]) * 1000 + Number(reply[n + 2]) / 1000
    const states: number[] = new Array(n)
    for (let i = 0; i < n; i++) {
      const raw = reply[i + 1]
      states[i] = raw === '' || raw === null || raw === undefined ? FULL_BUCKET_STATE : Number(raw)
    }
    return { allowed: Number(reply[0]) === 1, states, now: at }
  }

  async function chargeLimits(
    policy: string,
    key: string,
    limits: readonly StoreLimit[],
    now: number,
    costs: readonly number[],
  ): Promise<void> {
    const keys = limits.map((l) => limitKey(prefix, policy, key, l))
    await runLimits(keys, limitsArgs('charge', limiterClock ? now : Number.NaN, slack, limits, costs))
  }

  const slack = limiterClock ? LIMITER_CLOCK_TTL_SLACK_MS : ''
  return { name: 'redis', take, reset, takeLimits, chargeLimits }
}

/** A list policy limit's key: the hash tag `{policy:key}` puts one client's limits in one hash slot. */
function limitKey(prefix: string, policy: string, key: string, limit: StoreLimit): string {
  return `${prefix}{${policy}:${key}}:${limit.name}`
}

function limitsArgs(
  mode: LimitsMode | 'charge',
  now: number,
  slack: string,
  limits: readonly StoreLimit[],
  costs: readonly number[],
): string[] {
  const args = [mode, Number.isNaN(now) ? '' : String(now), slack]
  for (let i = 0; i < limits.length; i++) {
    const bucket = (limits[i] as StoreLimit).bucket
    args.push(numberText(bucket.msPerToken), numberText(bucket.burst), String(costs[i]))
  }
  return args
}

/** Runs LIMITS_SCRIPT (EVALSHA, EVAL on NOSCRIPT) on either client shape. */
function limitsRunner(client: unknown): (keys: string[], args: string[]) => Promise<unknown> {
  const c = client as Partial<IoRedisLike & NodeRedisLike>
  if (typeof c.evalsha === 'function') {
    const io = c as IoRedisLike
    return async (keys, args) => {
      try {
        return await io.evalsha(LIMITS_SHA, keys.length, ...keys, ...args)
      } catch (err) {
        if (!isNoScript(err)) throw err
        return io.eval(LIMITS_SCRIPT, keys.length, ...keys, ...args)
      }
    }
  }
  const nr = c as NodeRedisLike
  return async (keys, args) => {
    const options = { keys, arguments: args }
    try {
      return await nr.evalSha(LIMITS_SHA, options)
    } catch (err) {
      if (!isNoScript(err)) throw err
      return nr.eval(LIMITS_SCRIPT, options)
    }
  }
}

/** Asks the script for one decision; `now` is NaN to use Redis's clock. */
type ScriptSender = (key: string, bucket: TokenBucket, cost: number, now: number) => Promise<StoreDecision>

/** One decision on its way to Redis. */
class Pending {
  constructor(
    readonly key: string,
    readonly bucket: TokenBucket,
    readonly cost: number,
    /** The limiter's clock, or NaN for Redis's. */
    readonly now: number,
    readonly resolve: (d: StoreDecision) => void,
    readonly reject: (err: unknown) => void,
  ) {}
}

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

/** Same bucket, cost and clock: the script can decide both from one run of arguments. */
function sameRun(a: Pending, b: Pending): boolean {
  return a.bucket === b.bucket && a.cost === b.cost && Object.is(a.now, b.now)
}

/** The script's keys and arguments for `batch` (see GCRA_SCRIPT). */
function scriptCall(batch: Pending[], slack: string): { keys: string[]; args: string[] } {
  const keys = batch.map((p) => p.key)
  const args: string[] = [slack]
  let start = 0
  for (let i = 1; i <= batch.length; i++) {
    // Close the run that began at `start` where the batch ends or the next decision differs.
    if (i < batch.length && sameRun(batch[i] as Pending, batch[start] as Pending)) continue
    const first = batch[start] as Pending
    args.push(
      String(i - start),
      numberText(first.bucket.msPerToken),
      numberText(first.bucket.burst),
      numberText(first.cost),
      Number.isNaN(first.now) ? '' : String(first.now),
    )
    start = i
  }
  return { keys, args }
}

/**
 * Hands each decision of `batch` its part of the script's reply: the verdict
 * and the state read before, and Redis's TIME as it returned it (seconds,
 * microseconds), combined with the script's arithmetic so both sides hold the
 * same double. The figures come from `@cortex/core` applied to that state and
 * time, so they are the ones the memory store would give.
 */
function settle(batch: Pending[], reply: unknown): void {
  const n = batch.length
  if (!Array.isArray(reply) || (reply.length !== 2 * n && reply.length !== 2 * n + 2)) {
    fail(
      batch,
      new CortexError('ERR_CORTEX_STORE', `Unexpected reply from the rate-limit script: ${String(reply)}`),
    )
    return
  }
  const redisNow =
    reply.length === 2 * n ? Number.NaN : Number(reply[2 * n]) * 1000 + Number(reply[2 * n + 1]) / 1000
  for (let i = 0; i < n; i++) {
    const p = batch[i] as Pending
    const raw = reply[2 * i + 1]
    const state = raw === '' || raw === null || raw === undefined ? FULL_BUCKET_STATE : Number(raw)
    const at = Number.isNaN(p.now) ? redisNow : p.now
    const d: StoreDecision = p.bucket.take(state, at, p.cost)
    d.now = at
    // The script's verdict is what was written; the arithmetic is the same,
    // so this only guards against a foreign script under the same SHA.
    const admitted = Number(reply[2 * i]) === 1
    if (d.allowed !== admitted) {
      d.allowed = admitted
      if (!admitted && d.retryAfterMs === 0) d.retryAfterMs = p.bucket.msPerToken
    }
    p.resolve(d)
  }
}

function fail(batch: Pending[], err: unknown): void {
  for (const p of batch) p.reject(err)
}

function scriptSender(client: unknown, slack: string): ScriptSender {
  const c = client as Partial<IoRedisLike & NodeRedisLike> | null
  let exec: (keys: string[], args: string[]) => Promise<unknown>
  let batching: boolean
  if (c && typeof c.evalsha === 'function' && typeof c.eval === 'function') {
    const io = c as IoRedisLike
    exec = async (keys, args) => {
      try {
        return await io.evalsha(SCRIPT_SHA, keys.length, ...keys, ...args)
      } catch (err) {
        if (!isNoScript(err)) throw err
        return io.eval(GCRA_SCRIPT, keys.length, ...keys, ...args)
      }
    }
    // A Cluster needs every key of one call on one node: one call per decision there.
    batching = io.isCluster !== true
  } else if (c && typeof c.evalSha === 'function' && typeof c.eval === 'function') {
    const nr = c as NodeRedisLike
    exec = async (keys, args) => {
      const options = { keys, arguments: args }
      try {
        return await nr.evalSha(SCRIPT_SHA, options)
      } catch (err) {
        if (!isNoScript(err)) throw err
        return nr.eval(GCRA_SCRIPT, options)
      }
    }
    // node-redis gives no portable way to tell a cluster client: one call per decision.
    batching = false
  } else {
    throw new CortexConfigError(
      'client',
      client,
      'an ioredis client (with evalsha) or a node-redis v4+ client (with evalSha)',
      'redisStore',
    )
  }

  const run = (batch: Pending[]): void => {
    let call: { keys: string[]; args: string[] }
    try {
      call = scriptCall(batch, slack)
    } catch (err) {
      fail(batch, err)
      return
    }
    exec(call.keys, call.args).then(
      (reply) => {
        try {
          settle(batch, reply)
        } catch (err) {
          fail(batch, err)
        }
      },
      (err: unknown) => fail(batch, err),
    )
  }

  if (!batching) {
    return (key, bucket, cost, now) =>
      new Promise((resolve, reject) => run([new Pending(key, bucket, cost, now, resolve, reject)]))
  }

  // Gathers the decisions asked for in one tick and sends them as calls of
  // the script over up to MAX_BATCH keys each, at the end of the tick (a
  // microtask). A decision alone in its tick goes out alone; a failed call
  // fails each of its decisions, which the limiter's failure policy handles.
  let queue: Pending[] = []
  const flush = (): void => {
    const pending = queue
    queue = []
    if (pending.length <= MAX_BATCH) run(pending)
    else for (let i = 0; i < pending.length; i += MAX_BATCH) run(pending.slice(i, i + MAX_BATCH))
  }
  return (key, bucket, cost, now) =>
    new Promise((resolve, reject) => {
      if (queue.push(new Pending(key, bucket, cost, now, resolve, reject)) === 1) queueMicrotask(flush)
    })
}
