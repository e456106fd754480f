import { describe, expect, it } from 'vitest'
import { createPolicyMatcher, parsePolicies } from './policies.js'

function matcher(policies: Record<string, unknown>) {
  const m = createPolicyMatcher(parsePolicies(policies), (p) => p.name)
  return (method: string, path: string) => m.match(method, path)
}

describe('policy matching: the most specific policy wins', () => {
  const match = matcher({
    'POST /embed/multimodal': { limit: 60, window: '1m', burst: 10 },
    '* /embed/multimodal': { limit: 5, window: '1m' },
    'GET /health/*': 'unlimited',
    '* /health/deep/*': 'unlimited',
    'GET /*': { limit: 100, window: '1m' },
    'GET /metrics': 'unlimited',
    '*': { limit: 600, window: '1m' },
  })

  it.each([
    ['POST', '/embed/multimodal', 'POST /embed/multimodal'],
    ['PUT', '/embed/multimodal', '* /embed/multimodal'],
    ['GET', '/health/live', 'GET /health/*'],
    ['GET', '/health', 'GET /health/*'],
    ['GET', '/healthz', 'GET /*'],
    ['GET', '/health/deep/db', '* /health/deep/*'],
    ['HEAD', '/health/live', 'GET /health/*'],
    ['GET', '/metrics', 'GET /metrics'],
    ['GET', '/anything', 'GET /*'],
    ['DELETE', '/anything', '*'],
    ['POST', '/Embed/Multimodal/', 'POST /embed/multimodal'],
    ['post', '/embed/multimodal?x=1', 'POST /embed/multimodal'],
  ])('%s %s → %s', (method, path, policy) => {
    expect(match(method, path)).toBe(policy)
  })

  it('answers a repeated request line the same way (it is remembered), also past the bound on remembered lines', () => {
    const fresh = matcher({
      'POST /embed/multimodal': { limit: 60, window: '1m' },
      'GET /health/*': 'unlimited',
      'GET /*': { limit: 100, window: '1m' },
    })
    const lines = Array.from({ length: 6000 }, (_, i) =>
      i % 3 === 0
        ? (['POST', `/embed/multimodal${i % 2 ? '/' : ''}`] as const)
        : i % 3 === 1
          ? (['GET', `/health/${i}`] as const)
          : (['GET', `/x${i}?q=${i}`] as const),
    )
    const first = lines.map(([m, p]) => fresh(m, p))
    // Twice more: the first 4,096 distinct lines now come from memory, the rest are computed again.
    for (let round = 0; round < 2; round++) {
      lines.forEach(([m, p], i) => {
        expect(fresh(m, p)).toBe(first[i])
      })
    }
    expect(first.slice(0, 3)).toEqual(['POST /embed/multimodal', 'GET /health/*', 'GET /*'])
    expect(fresh('DELETE', '/x2')).toBeUndefined()
    expect(fresh('DELETE', '/x2')).toBeUndefined()
  })

  it('without a default, an unmatched request has no policy', () => {
    const m = matcher({ 'GET /a': 'unlimited' })
    expect(m('GET', '/b')).toBeUndefined()
    expect(m(undefined as never, undefined as never)).toBeUndefined()
  })
})

describe('parsePolicies', () => {
  it('fills defaults: burst = limit, no throttling', () => {
    expect(parsePolicies({ 'POST /x': { limit: 10, window: '30s' } })[0]).toMatchObject({
      method: 'POST',
      path: '/x',
      kind: 'exact',
      limit: 10,
      windowMs: 30_000,
      burst: 10,
      maxDelayMs: 0,
    })
    expect(parsePolicies({ 'GET /a/*': { limit: 1, window: 500, maxDelayMs: '2s' } })[0]).toMatchObject({
      kind: 'wildcard',
      path: '/a',
      windowMs: 500,
      maxDelayMs: 2000,
    })
  })

  it('rejects a non-object, a wrong policy value and a window of zero', () => {
    expect(() => parsePolicies(null)).toThrow(/`policies`/)
    expect(() => parsePolicies({ 'GET /a': 'limited' })).toThrow(/`policy` in policy "GET \/a"/)
    expect(() => parsePolicies({ 'GET /a': { limit: 1, window: 0 } })).toThrow(/`window` in policy "GET \/a"/)
    expect(() => parsePolicies({ 'GET /a': { limit: 1.5, window: 1 } })).toThrow(/`limit`.*integer/)
  })
})
