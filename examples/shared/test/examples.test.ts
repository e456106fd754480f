/**
 * Smoke-runs the three inference-API examples over real HTTP on loopback:
 * every endpoint answers, every primitive is visibly wired, and the three
 * frameworks behave the same.
 */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, describe, expect, it } from 'vitest'
import { type CortexStack, createCortexStack } from '../src/index.js'

type Started = { url: string; close: () => Promise<void> }

async function listenHttp(server: Server): Promise<Started> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

const examples: Record<string, (stack: CortexStack) => Promise<Started>> = {
  express: async (stack) =>
    listenHttp((await import('../../inference-api-express/src/server.ts')).buildServer(stack)),
  koa: async (stack) =>
    listenHttp((await import('../../inference-api-koa/src/server.ts')).buildServer(stack)),
  fastify: async (stack) => {
    const app = await (await import('../../inference-api-fastify/src/server.ts')).buildServer(stack)
    const url = await app.listen({ port: 0, host: '127.0.0.1' })
    return { url, close: () => app.close() }
  },
}

const cleanup: Array<() => Promise<void>> = []
afterAll(async () => {
  for (const c of cleanup.splice(0)) await c()
})

const post = (url: string, body: unknown, key = 'smoke') =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': key },
    body: JSON.stringify(body),
  })

describe.each(Object.keys(examples))('inference-api-%s', (name) => {
  it('serves every endpoint with rate limits, SLO metrics, energy and power mode wired', async () => {
    const stack = createCortexStack({ redisUrl: '' })
    const server = await (examples[name] as (s: CortexStack) => Promise<Started>)(stack)
    cleanup.push(async () => {
      await server.close()
      await stack.close()
    })
    const { url } = server

    expect(await (await fetch(`${url}/health/live`)).json()).toEqual({ status: 'ok' })
    expect(await (await fetch(`${url}/health/ready`)).json()).toMatchObject({
      status: 'ready',
      powerMode: 'normal',
    })

    const embed = await post(`${url}/embed/multimodal`, { text: 'a red bicycle' })
    expect(embed.status).toBe(200)
    expect(embed.headers.get('power-mode')).toBe('normal')
    expect(embed.headers.get('ratelimit-policy')).toBe('"POST /embed/multimodal";q=60;w=60')
    expect(await embed.json()).toMatchObject({ model: 'large', dimensions: 8 })
    expect(
      (await post(`${url}/agents/plan`, { goal: 'book a table for four near the station' })).status,
    ).toBe(200)
    expect((await post(`${url}/agents/reflect`, { plan: ['a', 'b'], outcome: 'done' })).status).toBe(200)
    expect((await post(`${url}/agents/plan`, { nope: true })).status).toBe(400)

    // Burst 10 on embed: one used above, nine more pass, the next is refused with Retry-After.
    for (let i = 0; i < 9; i++)
      expect((await post(`${url}/embed/multimodal`, { text: `t${i}` })).status).toBe(200)
    const refused = await post(`${url}/embed/multimodal`, { text: 'one too many' })
    expect(refused.status).toBe(429)
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(await refused.json()).toMatchObject({ error: 'rate_limited', policy: 'POST /embed/multimodal' })
    expect((await post(`${url}/embed/multimodal`, { text: 'another client' }, 'other')).status).toBe(200)
    for (let i = 0; i < 30; i++) expect((await fetch(`${url}/health/live`)).status).toBe(200)

    const metrics = await (await fetch(`${url}/metrics`)).text()
    expect(metrics).toMatch(
      /http_request_duration_seconds_bucket\{[^}]*route="\/embed\/multimodal"[^}]*le="0.2"/,
    )
    expect(metrics).toContain('power_mode{mode="normal"} 1')
    expect(metrics).toContain('power_budget_watts')

    await stack.meter.sample()
    const energy = (await (await fetch(`${url}/metrics/energy`)).json()) as {
      estimated: boolean
      routes: Record<string, { requests: number }>
    }
    expect(energy.routes['POST /embed/multimodal']?.requests).toBe(12)

    const switched = await fetch(`${url}/admin/power-mode`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ mode: 'low' }),
    })
    expect(switched.status).toBe(200)
    const low = await post(`${url}/agents/plan`, { goal: 'the same goal in low-power mode' }, 'third')
    expect(low.headers.get('power-mode')).toBe('low')
    expect(await low.json()).toMatchObject({ model: 'small', tokens: 256 })
  })
})
