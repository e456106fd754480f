import { type ChildProcess, execFileSync, fork, spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { connect, createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import Redis from 'ioredis'
import { createClient } from 'redis'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import type { RateLimitDecision } from './decision.js'
import { memoryStore } from './memory-store.js'
import { createRateLimiter, type RateLimitEvent } from './rate-limiter.js'
import { redisStore } from './redis-store.js'

const HOST = '127.0.0.1'
const URL_ = `redis://${HOST}:6379`
const required = process.env.CORTEX_REQUIRE_REDIS === '1'
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

const available = await reachable(6379)
if (!available) {
  if (required) throw new Error('CORTEX_REQUIRE_REDIS=1 but no Redis answers on 127.0.0.1:6379')
  console.warn(
    '⚠ skipping Redis store tests: no Redis on 127.0.0.1:6379 (set CORTEX_REQUIRE_REDIS=1 to fail instead)',
  )
}
let redisServerBinary: string | undefined
try {
  redisServerBinary = execFileSync('which', ['redis-server'], { encoding: 'utf8' }).trim() || undefined
} catch {
  redisServerBinary = undefined
}
if (!redisServerBinary) {
  if (required)
    throw new Error('CORTEX_REQUIRE_REDIS=1 but redis-server is not on PATH (needed to stop Redis mid-run)')
  console.warn('⚠ skipping the Redis outage test: redis-server is not on PATH')
}

const T0 = 1_764_000_000_000
let io: Redis
let nodeRedis: ReturnType<typeof createClient>

beforeAll(async () => {
  if (!available) return
  io = new Redis(URL_)
  nodeRedis = createClient({ url: URL_ })
  nodeRedis.on('error', () => {})
  await nodeRedis.connect()
})

afterAll(async () => {
  if (!available) return
  const keys = await io.keys(`${RUN}*`)
  if (keys.length > 0) await io.del(...keys)
  io.disconnect()
  await nodeRedis.quit()
})

const ops = fc.array(
  fc.record({
    dt: fc.oneof(
      fc.constant(0),
      fc.double({ min: 0, max: 5000, noNaN: true }),
      fc.integer({ min: 0, max: 120_000 }),
    ),
    cost: fc.oneof(
      fc.constant(1),
      fc.integer({ min: 0, max: 12 }),
      fc.double({ min: 0, max: 3, noNaN: true }),
    ),
    peek: fc.boolean(),
  }),
  { minLength: 1, maxLength: 40 },
)

describe.skipIf(!available)('redisStore against the real server on 127.0.0.1:6379', () => {
  for (const clientName of ['ioredis', 'node-redis'] as const) {
    it(`${clientName}: decides exactly as the memory store for any sequence (injected clock), so it never admits more than burst + rate × elapsed`, async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 1, max: 20 }),
          fc.integer({ min: 1, max: 100 }),
          fc.integer({ min: 100, max: 120_000 }),
          ops,
          async (burst, limit, windowMs, sequence) => {
            const now = { t: T0 }
            const policies = { '*': { limit, window: windowMs, burst } }
            const client = clientName === 'ioredis' ? io : nodeRedis
            const prefix = `${RUN}prop:${randomUUID()}:`
            const viaRedis = createRateLimiter({
              policies,
              store: redisStore({ client: client as never, prefix, clock: 'limiter' }),
              clock: () => now.t,
              storeTimeoutMs: 5000,
              onStoreError: 'deny',
            })
            const inMemory = createRateLimiter({ policies, store: memoryStore(), clock: () => now.t })
            const admitted: { t: number; cost: number }[] = []
            for (const { dt, cost, peek } of sequence) {
              now.t += dt
              const r = peek ? await viaRedis.peek('k', '*', cost) : await viaRedis.consume('k', '*', cost)
              const m = peek ? inMemory.peek('k', '*', cost) : inMemory.consume('k', '*', cost)
              expect(r).toEqual(m)
              if (!peek && r.allowed && cost > 0) admitted.push({ t: now.t, cost })
            }
            for (let i = 0; i < admitted.length; i++) {
              let sum = 0
              for (let j = i; j < admitted.length; j++) {
                sum += (admitted[j] as { cost: number }).cost
                const span = (admitted[j] as { t: number }).t - (admitted[i] as { t: number }).t
                // Each admission's charge is rounded to the nearest double: up to half an
                // ulp of the state short (2^-13 ms below 2^41 ms), see @cortex/core's README.
                const rounding = (j - i + 1) * 2 ** -13
                expect(sum).toBeLessThanOrEqual(
                  burst + (limit / windowMs) * (span + 1e-3 + rounding) + 1e-9 * burst,
                )
              }
            }
          },
        ),
        { numRuns: 60 },
      )
    })

    it(`${clientName}: with clock 'limiter' the key outlives Redis's real time — a frozen clock admits no second request after the bucket's refill time has passed in real time`, async () => {
      const client = clientName === 'ioredis' ? io : nodeRedis
      const now = { t: T0 }
      const limiter = createRateLimiter({
        // One token per millisecond, burst 1: in Redis time the bucket is full again after 1 ms.
        policies: { '*': { limit: 1000, window: 1000, burst: 1 } },
        store: redisStore({
          client: client as never,
          prefix: `${RUN}frozen:${randomUUID()}:`,
          clock: 'limiter',
        }),
        clock: () => now.t,
        storeTimeoutMs: 5000,
        onStoreError: 'deny',
      })
      expect((await limiter.consume('k', '*')).allowed).toBe(true)
      await new Promise((resolve) => setTimeout(resolve, 50))
      const again = await limiter.consume('k', '*')
      expect(again.degraded).toBe(false)
      expect(again.allowed).toBe(false)
      now.t += 1
      expect((await limiter.consume('k', '*')).allowed).toBe(true)
    })

    it(`${clientName}: uses Redis TIME by default, refuses past the burst with an exact hint, and expires the key when full again`, async () => {
      const client = clientName === 'ioredis' ? io : nodeRedis
      const prefix = `${RUN}time:`
      const limiter = createRateLimiter({
        policies: { 'POST /x': { limit: 60, window: '1m', burst: 3 } },
        store: redisStore({ client: client as never, prefix }),
        // A wildly wrong local clock changes nothing: Redis's clock decides.
        clock: () => 0,
        storeTimeoutMs: 5000,
      })
      const key = `${clientName}-${randomUUID()}`
      const results: RateLimitDecision[] = []
      for (let i = 0; i < 4; i++) results.push(await limiter.consume(key, 'POST /x'))
      expect(results.map((d) => d.allowed)).toEqual([true, true, true, false])
      expect(results[3]).toMatchObject({ remaining: 0, retryAfterSeconds: 1, degraded: false })
      expect(results[3]?.retryAfterMs).toBeGreaterThan(900)
      expect(results[3]?.retryAfterMs).toBeLessThanOrEqual(1000)
      const pttl = await io.pttl(`${prefix}POST /x:${key}`)
      expect(pttl).toBeGreaterThan(2000)
      expect(pttl).toBeLessThanOrEqual(3001)
      await limiter.reset(key, 'POST /x')
      expect(await io.exists(`${prefix}POST /x:${key}`)).toBe(0)
      expect((await limiter.consume(key, 'POST /x')).allowed).toBe(true)
    })
  }

  it('ioredis: the decisions of one tick go to Redis as one call of the script per 32 keys, each answered as alone', async () => {
    const client = new Redis(URL_)
    await client.ping()
    const calls: number[] = []
    const evalsha = client.evalsha.bind(client) as (...a: unknown[]) => Promise<unknown>
    ;(client as unknown as { evalsha: (...a: unknown[]) => Promise<unknown> }).evalsha = (...a) => {
      calls.push(a[1] as number)
      return evalsha(...a)
    }
    const limiter = createRateLimiter({
      policies: { '*': { limit: 30, window: '1h', burst: 30 } },
      store: redisStore({ client, prefix: `${RUN}batch:` }),
      storeTimeoutMs: 5000,
    })
    try {
      // 40 decisions in one tick, one key and two others in between: calls of 32 and 8 keys.
      const pending = Array.from({ length: 40 }, (_, i) =>
        limiter.consume(i === 10 ? 'x' : i === 20 ? 'y' : 'k', '*'),
      )
      const decisions = await Promise.all(pending)
      expect(calls).toEqual([32, 8])
      // Each key's decisions happen in order within and across calls: exactly the burst is admitted.
      const forK = decisions.filter((_, i) => i !== 10 && i !== 20)
      expect(forK.filter((d) => d.allowed)).toHaveLength(30)
      expect(forK.slice(0, 30).every((d) => d.allowed)).toBe(true)
      expect(forK.slice(30).every((d) => !d.allowed && d.retryAfterSeconds >= 1)).toBe(true)
      expect(forK[29]?.remaining).toBe(0)
      expect([decisions[10]?.remaining, decisions[20]?.remaining]).toEqual([29, 29])
      // A decision alone in its tick is a call of one key.
      await expect(Promise.resolve(limiter.consume('z', '*'))).resolves.toMatchObject({ allowed: true })
      expect(calls).toEqual([32, 8, 1])
    } finally {
      client.disconnect()
    }
  })

  it('ioredis: a tick mixing policies, costs, peeks and repeated keys decides as the memory store does in the same order', async () => {
    // One call of the script carries runs of arguments (consecutive decisions
    // with the same policy and cost share one); this checks that every run
    // boundary keeps each decision on its own bucket, cost and order.
    const decision = fc.record({
      key: fc.constantFrom('a', 'b', 'c'),
      policy: fc.constantFrom('POST /x', 'POST /y', 'GET /z'),
      cost: fc.oneof(fc.constant(1), fc.constant(1), fc.constant(0), fc.integer({ min: 2, max: 4 })),
      peek: fc.boolean(),
    })
    const tick = fc.record({
      dt: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 30_000 })),
      decisions: fc.array(decision, { minLength: 1, maxLength: 45 }),
    })
    const policies = {
      'POST /x': { limit: 5, window: '1m', burst: 3 },
      'POST /y': { limit: 100, window: '1h', burst: 4 },
      'GET /z': { limit: 2, window: '10s' },
    }
    await fc.assert(
      fc.asyncProperty(fc.array(tick, { minLength: 1, maxLength: 6 }), async (ticks) => {
        const now = { t: T0 }
        const viaRedis = createRateLimiter({
          policies,
          store: redisStore({ client: io, prefix: `${RUN}runs:${randomUUID()}:`, clock: 'limiter' }),
          clock: () => now.t,
          storeTimeoutMs: 5000,
          onStoreError: 'deny',
        })
        const inMemory = createRateLimiter({ policies, store: memoryStore(), clock: () => now.t })
        for (const { dt, decisions } of ticks) {
          now.t += dt
          const fromRedis = await Promise.all(
            decisions.map(({ key, policy, cost, peek }) =>
              peek ? viaRedis.peek(key, policy, cost) : viaRedis.consume(key, policy, cost),
            ),
          )
          const fromMemory = decisions.map(({ key, policy, cost, peek }) =>
            peek ? inMemory.peek(key, policy, cost) : inMemory.consume(key, policy, cost),
          )
          expect(fromRedis).toEqual(fromMemory)
        }
      }),
      { numRuns: 40 },
    )
  })

  it('several processes hammering one key admit exactly what the bucket allows', async () => {
    const prefix = `${RUN}hammer:`
    const script = fileURLToPath(new URL('../test/redis-hammer.ts', import.meta.url))
    const tsconfig = fileURLToPath(new URL('../test/tsconfig.hammer.json', import.meta.url))
    const children: ChildProcess[] = []
    try {
      for (let i = 0; i < 4; i++) {
        const child = fork(script, [URL_, prefix, '150'], {
          execArgv: ['--import', 'tsx'],
          env: { ...process.env, TSX_TSCONFIG_PATH: tsconfig },
          cwd: fileURLToPath(new URL('..', import.meta.url)),
          stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        })
        children.push(child)
      }
      await Promise.all(children.map((c) => once(c, 'message')))
      const reports = children.map(
        (c) => once(c, 'message') as Promise<[{ admitted: number; degraded: number }]>,
      )
      for (const c of children) c.send('go')
      const results = (await Promise.all(reports)).map(([r]) => r)
      // 600 attempts at 100 per day, burst 100: the refill during the run is a
      // few thousandths of a token, so exactly the burst is admitted.
      expect(results.reduce((n, r) => n + r.degraded, 0)).toBe(0)
      expect(results.reduce((n, r) => n + r.admitted, 0)).toBe(100)
    } finally {
      for (const c of children) if (c.exitCode === null) c.kill()
    }
  }, 60_000)
})

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, HOST, () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    redisServerBinary as string,
    ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  )
  for (let i = 0; i < 100; i++) {
    if (await reachable(port)) return child
    await new Promise((r) => setTimeout(r, 50))
  }
  child.kill('SIGKILL')
  throw new Error(`redis-server did not start on port ${port}`)
}

async function stopRedis(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGKILL')
  await exited
}

describe.skipIf(!redisServerBinary)('redisStore when Redis stops mid-run (a throwaway redis-server)', () => {
  it('applies the configured policy within the timeout, logs once, and resumes when Redis returns; falls back to EVAL on NOSCRIPT', async () => {
    const port = await freePort()
    let server = await startRedis(port)
    const client = new Redis({ host: HOST, port, retryStrategy: () => 50, maxRetriesPerRequest: null })
    client.on('error', () => {})
    const warn = vi.fn()
    const events: RateLimitEvent[] = []
    const limiter = createRateLimiter({
      policies: { '*': { limit: 1000, window: '1m' } },
      store: redisStore({ client, prefix: `${RUN}outage:` }),
      onStoreError: 'deny',
      storeTimeoutMs: 100,
      storeRetryIntervalMs: 100,
      logger: { warn, info: () => {} },
      onEvent: (e) => events.push(e),
    })
    try {
      // A fresh server has no scripts: the first EVALSHA meets NOSCRIPT and EVAL follows.
      expect(await limiter.consume('k', '*')).toMatchObject({ allowed: true, degraded: false })
      const stats = await client.info('commandstats')
      expect(stats).toMatch(/cmdstat_evalsha:calls=1,.*failed_calls=1/)
      expect(stats).toMatch(/cmdstat_eval:calls=1,/)
      expect(await limiter.consume('k', '*')).toMatchObject({ allowed: true, degraded: false })

      await stopRedis(server)
      const during: RateLimitDecision[] = []
      for (let i = 0; i < 10; i++) during.push(await limiter.consume('k', '*'))
      expect(during.every((d) => d.allowed === false && d.degraded === 'deny')).toBe(true)
      expect(during[0]?.retryAfterSeconds).toBeGreaterThanOrEqual(1)
      expect(warn).toHaveBeenCalledTimes(1)
      expect(events.map((e) => e.type)).toEqual(['store-error'])

      server = await startRedis(port)
      let resumed: RateLimitDecision | undefined
      for (let i = 0; i < 100 && resumed === undefined; i++) {
        const d = await limiter.consume('k', '*')
        if (d.degraded === false) resumed = d
        else await new Promise((r) => setTimeout(r, 50))
      }
      expect(resumed).toMatchObject({ allowed: true, degraded: false })
      expect(events.map((e) => e.type)).toEqual(['store-error', 'store-recovered'])
      expect(warn).toHaveBeenCalledTimes(1)
    } finally {
      client.disconnect()
      await stopRedis(server)
    }
  }, 30_000)
})
