/**
 * API documentation from the configuration that enforces it: a Markdown
 * table of the policies (in matching order) and an OpenAPI 3 fragment with
 * the 429 response, its headers and body, referenced from every exactly
 * matched operation.
 */
import type { HeaderFormat } from './headers.js'
import { windowSeconds } from './headers.js'
import type { PolicyDescription } from './policies.js'

export interface PolicyDocs {
  /** A Markdown table, one row per policy, most specific first, followed by the matching rule. */
  markdown: string
  /** An OpenAPI 3.x fragment: `components` (429 response, headers, body schema) and `paths` for exact policies. */
  openapi: {
    components: {
      headers: Record<string, unknown>
      schemas: Record<string, unknown>
      responses: Record<string, unknown>
    }
    paths: Record<string, Record<string, unknown>>
    'x-rate-limit-policies': unknown[]
  }
}

function formatWindow(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`
  }
  return `${ms}ms`
}

const KIND_ORDER = { exact: 0, wildcard: 1, default: 2 } as const

function matchOrder(policies: readonly PolicyDescription[]): PolicyDescription[] {
  return [...policies].sort(
    (a, b) =>
      KIND_ORDER[a.kind] - KIND_ORDER[b.kind] ||
      b.path.length - a.path.length ||
      (a.method === '*' ? 1 : 0) - (b.method === '*' ? 1 : 0),
  )
}

function headerDocs(format: HeaderFormat | false): Record<string, unknown> {
  const retryAfter = {
    description:
      'Seconds to wait before retrying (sent with 429). Waiting this long is enough to be admitted.',
    schema: { type: 'integer', minimum: 1 },
  }
  if (format === 'ietf') {
    return {
      'RateLimit-Policy': {
        description:
          'Quota policies (draft-ietf-httpapi-ratelimit-headers): a list of "policy";q=<requests>;w=<window seconds>.',
        schema: { type: 'string' },
        example: '"POST /embed/multimodal";q=60;w=60',
      },
      RateLimit: {
        description:
          'Current state per policy: "policy";r=<remaining requests>;t=<seconds until more quota is available: the next token, 0 when full> (draft-10).',
        schema: { type: 'string' },
        example: '"POST /embed/multimodal";r=9;t=1',
      },
      'Retry-After': retryAfter,
    }
  }
  if (format === 'draft-7') {
    return {
      'RateLimit-Policy': {
        description: '<limit>;w=<window seconds>',
        schema: { type: 'string' },
        example: '60;w=60',
      },
      RateLimit: {
        description: 'limit=<limit>, remaining=<remaining>, reset=<seconds until full>',
        schema: { type: 'string' },
        example: 'limit=60, remaining=9, reset=6',
      },
      'Retry-After': retryAfter,
    }
  }
  if (format === 'legacy') {
    return {
      'X-RateLimit-Limit': { description: 'Requests per window.', schema: { type: 'integer' } },
      'X-RateLimit-Remaining': { description: 'Requests left now.', schema: { type: 'integer' } },
      'X-RateLimit-Reset': {
        description: 'Seconds until the quota is fully restored.',
        schema: { type: 'integer' },
      },
      'Retry-After': retryAfter,
    }
  }
  return { 'Retry-After': retryAfter }
}

/**
 * Documents a limiter's policies.
 *
 * @example
 * const { markdown, openapi } = describePolicies(limiter)
 * fs.writeFileSync('docs/rate-limits.md', markdown)
 * Object.assign(spec.components.responses, openapi.components.responses)
 */
export function describePolicies(limiter: {
  readonly policies: readonly PolicyDescription[]
  readonly headerFormat: HeaderFormat | false
}): PolicyDocs {
  const ordered = matchOrder(limiter.policies)
  const rows = ordered.map((p) => {
    const target = p.kind === 'default' ? '`*` (default)' : `\`${p.name.trim()}\``
    if (p.unlimited) return `| ${target} | unlimited | — | — |`
    const throttle = p.maxDelayMs > 0 ? `held up to ${p.maxDelayMs} ms` : '—'
    return `| ${target} | ${p.limit} per ${formatWindow(p.windowMs)} | ${p.burst} | ${throttle} |`
  })
  const markdown = [
    '| Endpoint | Limit | Burst | Throttling |',
    '|---|---|---:|---|',
    ...rows,
    '',
    'The most specific policy applies: an exact path (for the method, then for any method), then the `/*` wildcard with the longest prefix, then the `*` default. Paths compare case-insensitively; HEAD follows GET. A refused request gets `429` with `Retry-After` (seconds) and `{ "error": "rate_limited", "policy", "retryAfterSeconds" }`.',
    '',
  ].join('\n')

  const headers = headerDocs(limiter.headerFormat)
  const headerRefs = Object.fromEntries(
    Object.keys(headers).map((h) => [h, { $ref: `#/components/headers/${h}` }]),
  )
  const paths: Record<string, Record<string, unknown>> = {}
  for (const p of ordered) {
    if (p.kind !== 'exact' || p.method === '*' || p.unlimited) continue
    const original = p.name.trim().split(/\s+/)[1] as string
    const operations = paths[original] ?? {}
    operations[p.method.toLowerCase()] = {
      responses: { '429': { $ref: '#/components/responses/TooManyRequests' } },
      'x-rate-limit': {
        policy: p.name,
        limit: p.limit,
        windowSeconds: windowSeconds(p.windowMs),
        burst: p.burst,
      },
    }
    paths[original] = operations
  }
  return {
    markdown,
    openapi: {
      components: {
        headers,
        schemas: {
          RateLimited: {
            type: 'object',
            required: ['error', 'policy', 'retryAfterSeconds'],
            properties: {
              error: { type: 'string', enum: ['rate_limited'] },
              policy: { type: 'string', description: 'The policy that refused the request.' },
              retryAfterSeconds: {
                type: 'integer',
                description:
                  'Same as Retry-After; -1 when the request costs more than the burst and no wait admits it.',
              },
            },
          },
        },
        responses: {
          TooManyRequests: {
            description: 'Rate limited: retry after Retry-After seconds.',
            headers: headerRefs,
            content: { 'application/json': { schema: { $ref: '#/components/schemas/RateLimited' } } },
          },
        },
      },
      paths,
      'x-rate-limit-policies': ordered.map((p) =>
        p.unlimited
          ? { policy: p.name, unlimited: true }
          : {
              policy: p.name,
              limit: p.limit,
              windowSeconds: windowSeconds(p.windowMs),
              burst: p.burst,
              ...(p.maxDelayMs > 0 ? { maxDelayMs: p.maxDelayMs } : {}),
            },
      ),
    },
  }
}
