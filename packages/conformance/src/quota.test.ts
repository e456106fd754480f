/**
 * Quotas for an inference endpoint, the same in every framework: a list
 * policy (requests and tokens per minute) decided all or nothing from a
 * cost estimated per request, every limit in the headers, the actual cost
 * settled from the handler, and a failed response giving its token
 * reservation back.
 */
import { createRateLimiter, type RateLimitDecision } from '@cortex/token-bucket'
import { afterEach, describe, expect, it } from 'vitest'
import type { Quota, RouteReply } from './harness.js'
import { drivers, type RunningServer } from './index.js'

const running: RunningServer[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()))
})

const T0 = 1_764_000_000_000

/** The request header the cost estimate comes from, read from any framework's request. */
function estimate(req: unknown): number {
  const r = req as { headers?: Record<string, unknown>; req?: { header(name: string): string | undefined } }
  const raw = typeof r.req?.header === 'function' ? r.req.header('x-max-tokens') : r.headers?.['x-max-tokens']
  return Number(raw ?? 0)
}

function planLimiter() {
  return createRateLimiter({
    policies: {
      'POST /agents/plan': [
        { name: 'requests', limit: 5, window: '1m' },
        { name: 'tokens', limit: 1000, window: '1m', unit: 'tokens' },
      ],
    },
    clock: () => T0,
    logger: false,
  })
}

async function post(url: string, maxTokens: number, mode = 'ok') {
  const res = await fetch(`${url}/agents/plan`, {
    method: 'POST',
    headers: { 'x-max-tokens': String(maxTokens), 'x-mode': mode },
  })
  const body = (await res.json()) as { limits?: string[][]; error?: string }
  return { res, body }
}

/** Waits for the response-end work (the refund of a failed response) to run. */
const settleLater = () => new Promise((resolve) => setTimeout(resolve, 30))

describe.each(drivers)('quotas on $name', (driver) => {
  async function start(handler: (quota: Quota) => RouteReply) {
    const server = await driver.start({
      routes: [
        {
          method: 'POST',
          path: '/agents/plan',
          handler: (_info, extras) => handler(extras.quota as Quota),
        },
      ],
      middleware: [
        {
          parts: {
            rateLimit: { limiter: planLimiter(), cost: (req: unknown) => ({ tokens: estimate(req) }) },
          },
        },
      ],
    })
    running.push(server)
    return server
  }

  it('reserves the estimate, sends every limit, and settles the actual cost from the handler', async () => {
    const server = await start((quota) => {
      const decisions = quota.decisions() as RateLimitDecision[]
      quota.settle({ tokens: 100 })
      return { body: { limits: decisions.map((d) => d.limits?.map((l) => `${l.name}=${l.remaining}`)) } }
    })
    const first = await post(server.url, 800)
    expect(first.res.status).toBe(200)
    // The handler saw the reservation (800 of 1,000 tokens), and the headers carry both limits.
    expect(first.body.limits).toEqual([['requests=4', 'tokens=200']])
    expect(first.res.headers.get('ratelimit-policy')).toBe(
      '"POST /agents/plan:requests";q=5;w=60, "POST /agents/plan:tokens";q=1000;w=60;qu="tokens"',
    )
    expect(first.res.headers.get('ratelimit')).toMatch(
      /^"POST \/agents\/plan:requests";r=4;t=\d+, "POST \/agents\/plan:tokens";r=200;t=\d+$/,
    )
    // Settled to 100: the next request finds 900 tokens, and reserves 800 of them.
    const second = await post(server.url, 800)
    expect(second.res.status).toBe(200)
    expect(second.body.limits).toEqual([['requests=3', 'tokens=100']])
    // 900 do not fit (800 left after the second settle): refused by tokens, nothing charged.
    const third = await post(server.url, 900)
    expect(third.res.status).toBe(429)
    expect(third.body).toMatchObject({ error: 'rate_limited', policy: 'POST /agents/plan' })
    // 100 tokens short at 1,000 per minute: 6 s (the clock is frozen, so the bucket never refills).
    expect(third.res.headers.get('retry-after')).toBe('6')
    const fourth = await post(server.url, 0)
    expect(fourth.body.limits).toEqual([['requests=2', 'tokens=800']])
  })

  it('gives a failed response’s token reservation back, and keeps a successful unsettled one', async () => {
    let fail = true
    const server = await start(() => (fail ? { status: 500, body: { error: 'model down' } } : { body: {} }))
    const failed = await post(server.url, 700)
    expect(failed.res.status).toBe(500)
    await settleLater()
    fail = false
    const next = await post(server.url, 700)
    expect(next.res.status).toBe(200)
    // The 700 came back (the request itself still counted): 1,000 − 700 = 300 after this one.
    expect(next.res.headers.get('ratelimit')).toMatch(/requests";r=3;t=\d+, .*tokens";r=300;/)
    await settleLater()
    // Unsettled but successful: the estimate stands.
    const third = await post(server.url, 300)
    expect(third.res.headers.get('ratelimit')).toMatch(/tokens";r=0;/)
  })
})
