/**
 * @cortex/token-bucket against the peers, in one run:
 *  - memory store decisions/s on one key and on 100k keys round-robin, through
 *    each library's own call (ours: the public `limiter.consume`), and bytes
 *    per tracked key at 1M keys (heap delta after `global.gc()`);
 *  - Redis decisions/s with 50 in flight against rate-limiter-flexible's
 *    RateLimiterRedis on the same server, and the commands each decision
 *    costs, from `INFO commandstats` deltas.
 * Targets: ≥ 1.2× the fastest peer on 100k keys; ≤ 64 bytes/key; Redis ≥ 1.3×
 * with one round trip per decision.
 */
import { createRequire } from 'node:module'
import { createRateLimiter, memoryStore } from '@cortex/token-bucket'
import { MemoryStore } from 'express-rate-limit'
import Redis from 'ioredis'
import { TokenBucket } from 'limiter'
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible'
import { compare, printEnvironment } from '../_lib/compare.js'

const require = createRequire(import.meta.url)
type LocalStoreType = {
  incr(key: string, cb: (err: unknown, r: { current: number }) => void, timeWindow: number, max: number): void
}
const LocalStore = require('@fastify/rate-limit/store/LocalStore') as new (
  continueExceeding: boolean,
  exponentialBackoff: boolean,
  cache?: number,
) => LocalStoreType

const gc = (globalThis as { gc?: () => void }).gc
if (!gc) throw new Error('run with node --expose-gc (pnpm bench does)')

const N = 1000
/** 10 interleaved rounds of 300 ms per contender: this VM's speed drifts over seconds. */
const MEMORY_TIMING = { timeMs: Number(process.env.BENCH_TIME_MS ?? 3000), rounds: 10 }
const KEYS = 100_000
const MILLION = 1_000_000
/**
 * Peers are configured never to refuse; ours too, with a rate whose per-token
 * time (3.6 µs) stays above the float resolution of epoch milliseconds, so
 * every decision really writes state (at 1e9 per minute it would round away
 * and the store would keep nothing, which would flatter it).
 */
const BIG = 1e9
/** Results land here, kept a small integer (`| 0`) so no row pays for a growing double. */
let sink = 0
const onIncr = (_err: unknown, r: { current: number }) => {
  sink = (sink + r.current) | 0
}
const swallow = () => {}

function ipKey(i: number): string {
  return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`
}
const keys = Array.from({ length: MILLION }, (_, i) => ipKey(i))
/**
 * The one-key row's key, built at run time like the 100k keys and like a
 * server's client keys: a string literal would be an internalised string, a
 * representation no request key has, and code that saw both would dispatch
 * on the representation for every character it reads.
 */
const ONE_KEY = ['203', '0', '113', '9'].join('.')

/** One contender per library, each with its own state, so the rows do not share caches. */
function contenders(keyCount: number) {
  const limiter = createRateLimiter({
    policies: { 'POST /x': { limit: BIG, window: '1h' } },
    store: memoryStore({ maxKeys: Math.max(keyCount, 1) }),
  })
  const local = new LocalStore(false, false, Math.max(keyCount, 5000))
  const erl = new MemoryStore()
  erl.init({ windowMs: 60_000 } as never)
  const rlf = new RateLimiterMemory({ points: BIG, duration: 60 })
  const buckets = new Map<string, TokenBucket>()
  return {
    ours: (key: string) => {
      if ((limiter.consume(key, 'POST /x') as { allowed: boolean }).allowed) sink = (sink + 1) | 0
    },
    local: (key: string) => local.incr(key, onIncr, 60_000, BIG),
    erl: (key: string) => {
      void erl.increment(key)
    },
    rlf: (key: string) => {
      rlf.consume(key).catch(swallow)
    },
    limiter: (key: string) => {
      let b = buckets.get(key)
      if (b === undefined) {
        b = new TokenBucket({ bucketSize: BIG, tokensPerInterval: BIG, interval: 'minute' })
        buckets.set(key, b)
      }
      if (b.tryRemoveTokens(1)) sink = (sink + 1) | 0
    },
    close: () => erl.shutdown(),
  }
}

function rows(c: ReturnType<typeof contenders>, next: () => string) {
  return [
    {
      name: '@cortex/token-bucket limiter.consume (memory store)',
      ours: true,
      opsPerCall: N,
      fn: () => {
        for (let i = 0; i < N; i++) c.ours(next())
      },
    },
    {
      name: '@fastify/rate-limit LocalStore.incr',
      opsPerCall: N,
      fn: () => {
        for (let i = 0; i < N; i++) c.local(next())
      },
    },
    {
      name: 'express-rate-limit MemoryStore.increment',
      opsPerCall: N,
      fn: () => {
        for (let i = 0; i < N; i++) c.erl(next())
      },
    },
    {
      name: 'rate-limiter-flexible RateLimiterMemory.consume',
      opsPerCall: N,
      fn: () => {
        for (let i = 0; i < N; i++) c.rlf(next())
      },
    },
    {
      name: 'limiter TokenBucket (Map of buckets)',
      opsPerCall: N,
      fn: () => {
        for (let i = 0; i < N; i++) c.limiter(next())
      },
    },
  ]
}

// --- bytes per tracked key at 1M keys ------------------------------------------
// Each contender is measured in a fresh process (the same file with
// `--bytes <name>`), so timers and garbage from the other sections or
// contenders cannot shift the heap between the two readings.
/** Keeps the measured store reachable until after the second reading. */
const retained: unknown[] = []
/** JS heap plus ArrayBuffer memory (typed arrays live outside the heap). */
function heapAfterGc(): number {
  gc?.()
  gc?.()
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}
async function bytesPerKey(name: keyof ReturnType<typeof contenders>): Promise<number> {
  const all = contenders(MILLION)
  retained.push(all)
  const f = all[name] as (key: string) => void
  const before = heapAfterGc()
  for (let i = 0; i < MILLION; i++) f(keys[i] as string)
  // Let promise-based stores settle before measuring.
  await new Promise((r) => setImmediate(r))
  const after = heapAfterGc()
  return (after - before) / MILLION
}
const BYTES_ROWS = [
  ['ours', '**@cortex/token-bucket memoryStore (via limiter.consume)**'],
  ['local', '@fastify/rate-limit LocalStore'],
  ['erl', 'express-rate-limit MemoryStore'],
  ['rlf', 'rate-limiter-flexible RateLimiterMemory'],
  ['limiter', 'limiter TokenBucket (Map of buckets)'],
] as const
const bytesArg = process.argv.indexOf('--bytes')
if (bytesArg !== -1) {
  const name = process.argv[bytesArg + 1] as (typeof BYTES_ROWS)[number][0]
  process.stdout.write(String(await bytesPerKey(name)))
  process.exit(0)
}

await printEnvironment()

// --- memory store: one key, then 100k keys round-robin -----------------------
{
  const c = contenders(1)
  await compare(
    'memory store decisions, one key',
    rows(c, () => ONE_KEY),
    MEMORY_TIMING,
  )
  c.close()
}
{
  const c = contenders(KEYS)
  let cursor = 0
  const next = () => keys[cursor++ % KEYS] as string
  // Fill every store first, so the rows measure lookups, not first inserts.
  for (let i = 0; i < KEYS; i++)
    for (const f of [c.ours, c.local, c.erl, c.rlf, c.limiter]) f(keys[i] as string)
  await compare('memory store decisions, 100k keys round-robin', rows(c, next), MEMORY_TIMING)
  c.close()
}

// --- Redis: 50 in flight ----------------------------------------------------
async function redisSection(): Promise<void> {
  const client = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true, maxRetriesPerRequest: 1 })
  client.on('error', swallow)
  try {
    await client.connect()
  } catch {
    console.log('\n## Redis: skipped (no Redis on 127.0.0.1:6379)')
    client.disconnect()
    return
  }
  const run = `cortex-bench:${process.pid}:`
  const limiter = createRateLimiter({
    policies: { 'POST /x': { limit: BIG, window: '1h' } },
    store: (await import('@cortex/token-bucket')).redisStore({ client, prefix: `${run}ours:` }),
    storeTimeoutMs: 10_000,
  })
  const rlf = new RateLimiterRedis({ storeClient: client, points: BIG, duration: 60, keyPrefix: `${run}rlf` })
  const REDIS_KEYS = 1000
  const PER_CALL = 2000
  const INFLIGHT = 50
  let cursor = 0
  const inFlight = async (total: number, op: (key: string) => Promise<unknown>) => {
    let started = 0
    const worker = async () => {
      while (started < total) {
        started++
        await op(keys[cursor++ % REDIS_KEYS] as string)
      }
    }
    await Promise.all(Array.from({ length: INFLIGHT }, worker))
  }
  const ours = (key: string) => Promise.resolve(limiter.consume(key, 'POST /x'))
  const theirs = (key: string) => rlf.consume(key).catch(swallow)
  await inFlight(PER_CALL, ours)
  await inFlight(PER_CALL, theirs)
  await compare(
    `Redis decisions, ${INFLIGHT} in flight, ${REDIS_KEYS} keys (same server, same ioredis client)`,
    [
      {
        name: '@cortex/token-bucket redisStore',
        ours: true,
        opsPerCall: PER_CALL,
        fn: () => inFlight(PER_CALL, ours),
      },
      {
        name: 'rate-limiter-flexible RateLimiterRedis',
        opsPerCall: PER_CALL,
        fn: () => inFlight(PER_CALL, theirs),
      },
    ],
    // Interleaved rounds, as for the memory store: Redis shares the two cores
    // with this process, and where the scheduler puts it drifts over seconds.
    { timeMs: Number(process.env.BENCH_TIME_MS ?? 3000), rounds: 6 },
  )

  const commandStats = async (): Promise<Map<string, number>> => {
    const text = await client.info('commandstats')
    const m = new Map<string, number>()
    for (const line of text.split('\n')) {
      const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line)
      if (match) m.set(match[1] as string, Number(match[2]))
    }
    return m
  }
  const DECISIONS = 10_000
  console.log(`\n## Redis commands per decision (INFO commandstats deltas over ${DECISIONS} decisions)\n`)
  console.log(
    '| contender | commands per decision (sent by the client in bold; the rest run inside the script) |',
  )
  console.log('|---|---|')
  for (const [name, op] of [
    ['@cortex/token-bucket redisStore', ours],
    ['rate-limiter-flexible RateLimiterRedis', theirs],
  ] as const) {
    const before = await commandStats()
    await inFlight(DECISIONS, op)
    const after = await commandStats()
    const parts: string[] = []
    for (const [cmd, calls] of after) {
      const delta = calls - (before.get(cmd) ?? 0)
      if (delta <= 0 || cmd === 'info') continue
      const perDecision = (delta / DECISIONS).toFixed(2)
      parts.push(cmd.startsWith('eval') ? `**${cmd} ${perDecision}**` : `${cmd} ${perDecision}`)
    }
    console.log(`| ${name} | ${parts.join(', ')} |`)
  }
  let cursorScan = '0'
  do {
    const [next, found] = await client.scan(cursorScan, 'MATCH', `${run}*`, 'COUNT', 1000)
    cursorScan = next
    if (found.length > 0) await client.del(...found)
  } while (cursorScan !== '0')
  client.disconnect()
}
await redisSection()

console.log(
  `\n## bytes per tracked key at ${MILLION / 1e6}M keys (heapUsed + arrayBuffers delta after gc, one fresh process each; keys pre-allocated)\n`,
)
console.log('| contender | bytes/key |')
console.log('|---|---:|')
const { execFileSync } = await import('node:child_process')
const { fileURLToPath } = await import('node:url')
for (const [name, label] of BYTES_ROWS) {
  const out = execFileSync(
    process.execPath,
    [...process.execArgv, fileURLToPath(import.meta.url), '--bytes', name],
    {
      encoding: 'utf8',
    },
  )
  console.log(`| ${label} | ${Number(out).toFixed(0)} |`)
}

if (sink === -1) console.log(sink)
// rate-limiter-flexible and express-rate-limit keep timers; end the run explicitly.
process.exit(0)
