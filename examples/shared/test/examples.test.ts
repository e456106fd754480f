/**
 * Smoke-runs the three inference-API examples over real HTTP on loopback:
 * every endpoint answers, every primitive is visibly wired, and the three
 * frameworks behave the same.
 */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { connect } from 'node:net'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { type CortexStack, config, createCortexStack } from '../src/index.js'

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

const KEYS = ['smoke', 'other', 'third']

async function startExample(name: string): Promise<{ url: string; stack: CortexStack }> {
  const stack = createCortexStack({ redisUrl: '', apiKeys: KEYS })
  const server = await (examples[name] as (s: CortexStack) => Promise<Started>)(stack)
  cleanup.push(async () => {
    await server.close()
    await stack.close()
  })
  return { url: server.url, stack }
}

const send = (url: string, method: string, body: string, headers: Record<string, string> = {}) =>
  fetch(url, { method, headers: { 'content-type': 'application/json', ...headers }, body })

/** Writes the head and part of a body, then hangs up: an aborted request. */
function abortMidBody(url: string, path: string): Promise<void> {
  const { port } = new URL(url)
  return new Promise((resolve) => {
    const socket = connect(Number(port), '127.0.0.1', () => {
      socket.write(
        `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"goal":`,
      )
      setTimeout(() => socket.destroy(), 5)
    })
    socket.on('close', () => resolve())
    socket.on('error', () => resolve())
  })
}

describe.each(Object.keys(examples))('inference-api-%s', (name) => {
  it('serves every endpoint with rate limits, SLO metrics, energy and power mode wired', async () => {
    const stack = createCortexStack({ redisUrl: '', apiKeys: KEYS })
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
    expect(await low.json()).toMatchObject({
      model: 'small',
      tokens: config.powerModes.low.knobs.maxTokens,
    })
  })

  it('keys clients by API key only for recognised keys: inventing a key per request does not step around the limit', async () => {
    const { url } = await startExample(name)
    const plan = { goal: 'a goal' }
    // POST /agents/plan allows 10 a minute per client; 14 invented keys from one address share its budget.
    const statuses: number[] = []
    for (let i = 0; i < 14; i++)
      statuses.push((await post(`${url}/agents/plan`, plan, `invented-${i}`)).status)
    expect(statuses.filter((s) => s === 200)).toHaveLength(10)
    expect(statuses.slice(10)).toEqual([429, 429, 429, 429])
    // A recognised key has its own budget.
    expect((await post(`${url}/agents/plan`, plan, 'other')).status).toBe(200)
  })

  it('answers bad bodies with 400 JSON and a message, never 500, and oversized bodies with 413', async () => {
    const { url } = await startExample(name)
    const bad: [string, string][] = [
      ['/agents/reflect', '{"plan":[{"toString":1}],"outcome":"x"}'],
      ['/agents/reflect', '{"plan":"abc","outcome":"x"}'],
      ['/agents/reflect', '{"plan":["a"],"outcome":{"x":1}}'],
      ['/agents/plan', '{"goal":42}'],
      ['/agents/plan', '[1,2]'],
      ['/agents/plan', 'null'],
      ['/embed/multimodal', '{"text":{"a":1}}'],
      ['/embed/multimodal', '{"imageUrl":7}'],
      ['/embed/multimodal', '{not json'],
      ['/agents/plan', `{"goal":"${'x'.repeat(5000)}"}`],
    ]
    for (const [path, body] of bad) {
      const res = await send(`${url}${path}`, 'POST', body, { 'x-api-key': 'third' })
      expect(res.status, `${path} ${body.slice(0, 40)}`).toBe(400)
      expect(await res.json()).toMatchObject({ error: 'bad_request', message: expect.any(String) })
    }
    const huge = await send(
      `${url}/embed/multimodal`,
      'POST',
      JSON.stringify({ text: 'x'.repeat(2 * 1024 * 1024) }),
      {
        'x-api-key': 'third',
      },
    )
    expect(huge.status).toBe(413)
    expect(await huge.json()).toMatchObject({ error: 'payload_too_large' })
  })

  it('validates the admin endpoint: mode, a capped ttlMs, loopback only, no untrusted proxy', async () => {
    const { url, stack } = await startExample(name)
    const admin = (body: unknown, headers?: Record<string, string>) =>
      send(`${url}/admin/power-mode`, 'PUT', JSON.stringify(body), headers)
    for (const body of [
      { mode: 'low', ttlMs: -1 },
      { mode: 'low', ttlMs: 1e300 },
      { mode: 'low', ttlMs: 3_600_001 },
      { mode: 'low', ttlMs: 1.5e3 + 0.5 },
      { mode: 'low', ttlMs: '60000' },
      { mode: 'turbo' },
      { mode: ['low'] },
      'low',
    ]) {
      const res = await admin(body)
      expect(res.status, JSON.stringify(body)).toBe(400)
      expect(await res.json()).toMatchObject({ error: 'bad_request' })
    }
    expect(stack.power.mode).toBe('normal')
    const proxied = await admin({ mode: 'low' }, { 'x-forwarded-for': '203.0.113.9' })
    expect(proxied.status).toBe(403)
    expect(stack.power.mode).toBe('normal')
    const ok = await admin({ mode: 'low', ttlMs: 60_000 })
    expect(ok.status).toBe(200)
    expect(await ok.json()).toMatchObject({ mode: 'low' })
    await admin({ mode: 'auto' })
  })

  it('writes a few log lines a minute, without stack traces, for a flood of aborted and malformed requests', async () => {
    const { url } = await startExample(name)
    const lines: string[] = []
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk))
      return true
    })
    const errors = vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => {
      lines.push(args.map(String).join(' '))
    })
    try {
      for (let i = 0; i < 40; i++) await abortMidBody(url, '/agents/plan')
      for (let i = 0; i < 40; i++)
        await send(`${url}/agents/reflect`, 'POST', '{"plan":', { 'x-api-key': 'smoke' })
      await new Promise((resolve) => setTimeout(resolve, 100))
    } finally {
      spy.mockRestore()
      errors.mockRestore()
    }
    const text = lines.join('')
    expect(text.split('\n').filter((l) => l.trim() !== '').length, text).toBeLessThanOrEqual(6)
    expect(text).not.toMatch(/\n\s+at /)
  })
})
