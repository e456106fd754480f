/**
 * Policy keys: typed as `` `${Method} /${string}` | '*' `` (the
 * `@ts-expect-error` lines fail `pnpm typecheck` if a bad key stops being a
 * type error), and a route template refused when the limiter is created
 * rather than accepted and never matched.
 */
import { isCortexError } from '@cortex/core'
import { describe, expect, expectTypeOf, it } from 'vitest'
import { createPolicyMatcher, type PolicyKey, parsePolicies } from './policies.js'
import { createRateLimiter } from './rate-limiter.js'

const rate = { limit: 10, window: '1m' } as const

function configError(fn: () => unknown) {
  try {
    fn()
  } catch (err) {
    if (isCortexError(err, 'ERR_CORTEX_CONFIG')) return err as unknown as Error & { option: string }
    throw err
  }
  throw new Error('expected a CortexConfigError')
}

describe('policy keys', () => {
  it('the key type accepts every key shape the limiter accepts', () => {
    expectTypeOf<'POST /embed/multimodal'>().toExtend<PolicyKey>()
    expectTypeOf<'GET /health/*'>().toExtend<PolicyKey>()
    expectTypeOf<'* /embed'>().toExtend<PolicyKey>()
    expectTypeOf<'get /lower-case'>().toExtend<PolicyKey>()
    expectTypeOf<'*'>().toExtend<PolicyKey>()
    expectTypeOf<'POST embed'>().not.toExtend<PolicyKey>()
    expectTypeOf<'FETCH /x'>().not.toExtend<PolicyKey>()
    expectTypeOf<'/embed'>().not.toExtend<PolicyKey>()
    const limiter = createRateLimiter({
      policies: {
        'POST /embed': rate,
        'GET /health/*': 'unlimited',
        '* /x': rate,
        'get /y': rate,
        '*': rate,
      },
      logger: false,
    })
    expect(limiter.policies.map((p) => p.name)).toHaveLength(5)
    limiter.close()
  })

  it('a key without a method or a leading slash is a type error, and refused at run time', () => {
    expect(() =>
      createRateLimiter({
        // @ts-expect-error no leading slash
        policies: { 'POST embed': rate },
        logger: false,
      }),
    ).toThrow(/policies\["POST embed"\]/)
    expect(() =>
      createRateLimiter({
        // @ts-expect-error not a method
        policies: { 'FETCH /x': rate, '/y': rate },
        logger: false,
      }),
    ).toThrow(/policies\["\/y"\]/)
  })

  it('refuses a route template key, which would never match, naming the key and the fix', () => {
    const err = configError(() => parsePolicies({ 'POST /agents/:id': rate }))
    expect(err.option).toBe('policies["POST /agents/:id"]')
    expect(err.message).toContain("':id' never matches")
    expect(err.message).toContain("use 'POST /agents/*'")
    expect(configError(() => parsePolicies({ 'GET /:tenant/items/*': rate })).message).toContain(
      "use 'GET /*'",
    )
    // a colon inside a segment is a literal path (`/v1/things:batchGet`), not a template
    const m = createPolicyMatcher(parsePolicies({ 'POST /v1/things:batchGet': rate }), (p) => p.name)
    expect(m.match('POST', '/v1/things:batchGet')).toBe('POST /v1/things:batchGet')
  })
})
