import { randomUUID } from 'node:crypto'
import { connect } from 'node:net'
import Redis, { Cluster } from 'ioredis'
import { createClient } from 'redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RateLimitDecision } from './decision.js'
import { createRateLimiter } from './rate-limiter.js'
import { type IoRedisLike, redisStore } from './redis-store.js'

const HOST = '127.0.0.1'
const PLAN = 'POST /agents/plan'
const T0 = 1_764_000_000_000
const RUN = `cortex-test:${randomUUID()}:`

function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: HOST, port })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(500, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

const single = await reachable(6379)
if (!single && process.env.CORTEX_REQUIRE_REDIS === '1') {
  throw new Error('CORTEX_REQUIRE_REDIS=1 but no Redis answers on 127.0.0.1:6379')
}
const clusterNodes = (process.env.CORTEX_REDIS_CLUSTER ?? '127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003')
  .split(',')
  .map((hostPort) => {
    const [host, port] = hostPort.split(':')
    return { host: host as string, port: Number(port) }
  })
const cluster = await reachable(clusterNodes[0]?.port ?? 7001)
if (!cluster && process.env.CORTEX_REQUIRE_REDIS_CLUSTER === '1') {
  throw new Error(
    `CORTEX_REQUIRE_REDIS_CLUSTER=1 but no Redis Cluster answers on ${JSON.stringify(clusterNodes)}`,
  )
}

const LIMITS = [
  { name: 'requests', limit: 10, window: '1m' },
  { name: 'tokens', limit: 1000, window: '1m', unit: 'tokens' },
  { name: 'daily', limit: 20, window: '1d' },
] as const

/** Counts script calls, so "one call per decision" is checked, not assumed. */
function counting(client: IoRedisLike) {
  const calls = { n: 0 }
  const wrapped: IoRedisLike = {
    evalsha: (...args) => {
      calls.n++
      return client.evalsha(...args)
    },
    eval: (...args) => client.eval(...args),
    del: (key) => client.del(key),
    isCluster: client.isCluster,
  }
  return { wrapped, calls }
}

function limiterOn(client: Parameters<typeof redisStore>[0]['client'], prefix: string, clock?: () => number) {
  return createRateLimiter({
    policies: { [PLAN]: [...LIMITS] },
    store: redisStore({ client, prefix, clock: clock ? 'limiter' : 'redis' }),
    clock,
    storeTimeoutMs: 2000,
    onStoreError: 'deny',
    logger: false,
  })
}

function limit(d: RateLimitDecision, name: string) {
  const l = d.limits?.find((x) => x.name === name)
  if (l === undefined) throw new Error(`no limit ${name} in ${JSON.stringify(d)}`)
  return l
}

/** The scenario every Redis client must pass: all or nothing, exact retry, settle refund and overrun. */
async function scenario(client: Parameters<typeof redisStore>[0]['client'], prefix: string) {
  let now = T0
  const limiter = limiterOn(client, prefix, () => now)
  const first = await limiter.consume('k', PLAN, { tokens: 600 })
  expect(first.degraded).toBe(false)
  expect(first.allowed).toBe(true)
  expect(limit(first, 'tokens').remaining).toBe(400)
  const refused = await limiter.consume('k', PLAN, { tokens: 600 })
  expect(refused.allowed).toBe(false)
  expect(refused.binding).toBe('tokens')
  // 200 tokens short at 1,000/min: 12 s.
  expect(refused.retryAfterMs).toBeCloseTo(12_000, 6)
  const after = await limiter.peek('k', PLAN)
  expect([limit(after, 'requests').remaining, limit(after, 'daily').remaining]).toEqual([9, 19])
  // Settle: 600 reserved, 100 used → 500 back.
  await limiter.settle(first, { tokens: 100 })
  expect(limit(await limiter.peek('k', PLAN), 'tokens').remaining).toBe(900)
  // An overrun is owed.
  const second = await limiter.consume('k', PLAN, { tokens: 100 })
  await limiter.settle(second, { tokens: 1300 })
  const owed = await limiter.consume('k', PLAN, { tokens: 1 })
  expect(owed.allowed).toBe(false)
  expect(owed.retryAfterMs).toBeCloseTo(401 * 60, 6)
  now += 401 * 60
  expect((await limiter.consume('k', PLAN, { tokens: 1 })).allowed).toBe(true)
  await limiter.reset('k')
  expect(limit(await limiter.peek('k', PLAN), 'tokens').remaining).toBe(1000)
}

describe.skipIf(!single)('list policies on Redis', () => {
  let io: Redis
  let nodeRedis: ReturnType<typeof createClient>
  beforeAll(async () => {
    io = new Redis({ host: HOST, port: 6379 })
    nodeRedis = createClient({ url: `redis://${HOST}:6379` })
    nodeRedis.on('error', () => {})
    await nodeRedis.connect()
  })
  afterAll(async () => {
    const keys = await io.keys(`${RUN}*`)
    if (keys.length > 0) await io.del(...keys)
    io.disconnect()
    await nodeRedis.quit()
  })

  it('decides, settles and resets with ioredis, one script call per decision', async () => {
    const { wrapped, calls } = counting(io)
    await scenario(wrapped, `${RUN}io:`)
    // The scenario makes 5 consumes, 3 peeks and 2 settles (a reset uses DEL).
    expect(calls.n).toBe(10)
  })

  it('decides, settles and resets with node-redis', async () => {
    await scenario(nodeRedis, `${RUN}nr:`)
  })

  it('keeps every limit of one client under one hash tag', async () => {
    const limiter = limiterOn(io, `${RUN}tag:`)
    await limiter.consume('client-1', PLAN, { tokens: 5 })
    const keys = (await io.keys(`${RUN}tag:*`)).sort()
    expect(keys).toEqual(['daily', 'requests', 'tokens'].map((l) => `${RUN}tag:{${PLAN}:client-1}:${l}`))
  })
})

describe.skipIf(!cluster)('list policies on a Redis Cluster', () => {
  let client: Cluster
  beforeAll(async () => {
    client = new Cluster(clusterNodes, { redisOptions: { connectTimeout: 2000 } })
    await new Promise<void>((resolve, reject) => {
      client.once('ready', () => resolve())
      client.once('error', reject)
    })
  })
  afterAll(async () => {
    await Promise.all(
      client.nodes('master').map(async (node) => {
        const keys = await node.keys(`${RUN}*`)
        if (keys.length > 0) await Promise.all(keys.map((k) => node.del(k)))
      }),
    )
    client.disconnect()
  })

  it('runs a multi-limit decision as one atomic call on one node', async () => {
    const { wrapped, calls } = counting(client as unknown as IoRedisLike)
    await scenario(wrapped, `${RUN}cl:`)
    expect(calls.n).toBe(10)
  })

  it('spreads clients over the slots while each client’s limits share one', async () => {
    const limiter = limiterOn(client, `${RUN}spread:`)
    const slots = new Set<number>()
    for (let i = 0; i < 20; i++) {
      const d = await limiter.consume(`client-${i}`, PLAN, { tokens: 1 })
      expect(d.allowed).toBe(true)
      const keySlots = await Promise.all(
        LIMITS.map((l) => client.cluster('KEYSLOT', `${RUN}spread:{${PLAN}:client-${i}}:${l.name}`)),
      )
      expect(new Set(keySlots).size).toBe(1)
      slots.add(keySlots[0] as number)
    }
    expect(slots.size).toBeGreaterThan(10)
  })
})
