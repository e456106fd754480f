/**
 * A child process for redis-store.test.ts: its own ioredis client hammers one
 * key through a limiter with the Redis store, then reports how many requests
 * were admitted. Run with `--import tsx` (TSX_TSCONFIG_PATH maps @cortex/core
 * to its sources).
 */
import Redis from 'ioredis'
import { createRateLimiter } from '../src/rate-limiter.js'
import { redisStore } from '../src/redis-store.js'

const [url, prefix, attemptsText] = process.argv.slice(2)
const client = new Redis(url as string)
const limiter = createRateLimiter({
  policies: { 'POST /hammer': { limit: 100, window: '1d' } },
  store: redisStore({ client, prefix }),
  storeTimeoutMs: 5000,
  onStoreError: 'deny',
})
process.send?.({ ready: true })
process.once('message', async () => {
  const attempts = Number(attemptsText)
  const decisions = await Promise.all(
    Array.from({ length: attempts }, () => limiter.consume('one-client', 'POST /hammer')),
  )
  const admitted = decisions.filter((d) => d.allowed).length
  const degraded = decisions.filter((d) => d.degraded !== false).length
  process.send?.({ admitted, degraded }, () => {
    client.disconnect()
    process.exit(0)
  })
})
