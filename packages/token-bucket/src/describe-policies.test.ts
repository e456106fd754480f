import { describe, expect, it } from 'vitest'
import { describePolicies } from './describe-policies.js'
import { createRateLimiter } from './rate-limiter.js'

describe('describePolicies', () => {
  const limiter = createRateLimiter({
    policies: {
      '*': { limit: 600, window: '1m' },
      'GET /health/*': 'unlimited',
      'POST /embed/multimodal': { limit: 60, window: '1m', burst: 10 },
      'POST /agents/plan': { limit: 10, window: '1m', maxDelayMs: 2000 },
    },
  })

  it('documents every policy in matching order as a Markdown table', () => {
    const { markdown } = describePolicies(limiter)
    const rows = markdown.split('\n').filter((l) => l.startsWith('| `'))
    expect(rows).toEqual([
      '| `POST /embed/multimodal` | 60 per 1m | 10 | — |',
      '| `POST /agents/plan` | 10 per 1m | 10 | held up to 2000 ms |',
      '| `GET /health/*` | unlimited | — | — |',
      '| `*` (default) | 600 per 1m | 600 | — |',
    ])
    expect(markdown).toMatch(/most specific policy applies/)
  })

  it('gives an OpenAPI fragment: the 429 response with its headers, referenced by exact operations', () => {
    const { openapi } = describePolicies(limiter)
    expect(openapi.components.responses.TooManyRequests).toMatchObject({
      headers: {
        'RateLimit-Policy': { $ref: '#/components/headers/RateLimit-Policy' },
        RateLimit: { $ref: '#/components/headers/RateLimit' },
        'Retry-After': { $ref: '#/components/headers/Retry-After' },
      },
      content: { 'application/json': { schema: { $ref: '#/components/schemas/RateLimited' } } },
    })
    expect(openapi.paths['/embed/multimodal']?.post).toMatchObject({
      responses: { '429': { $ref: '#/components/responses/TooManyRequests' } },
      'x-rate-limit': { limit: 60, windowSeconds: 60, burst: 10 },
    })
    expect(openapi['x-rate-limit-policies']).toHaveLength(4)
    expect(JSON.parse(JSON.stringify(openapi))).toEqual(openapi)
  })

  it('follows the header format', () => {
    const legacy = createRateLimiter({ policies: { '*': { limit: 1, window: 1000 } }, headers: 'legacy' })
    expect(Object.keys(describePolicies(legacy).openapi.components.headers)).toContain(
      'X-RateLimit-Remaining',
    )
  })
})
