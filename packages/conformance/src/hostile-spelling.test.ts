/**
 * No spelling of a URL steps around a limit. A client that rewrites the
 * request target (absolute-form, percent-encoding, case, slashes, dot
 * segments, `;params`, queries, fragments) must never reach a limited
 * handler more often than the policy allows, in any adapter; and a spelling
 * the router answers 404 must not be charged to the route's policy.
 *
 * Requests go over raw sockets: `fetch` normalises the target before it
 * leaves the client, and a hostile client does not.
 */

import { createRequire } from 'node:module'
import { pathOf } from '@cortex/core'
import { createRateLimiter } from '@cortex/token-bucket'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { raw } from '../../../test-support/raw-request.js'
import { drivers, type RunningServer } from './index.js'

const LIMIT = 5
const running: RunningServer[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()))
})

/** Spellings of `POST /embed/multimodal` a hostile client tries (the first is the plain one). */
const SPELLINGS = [
  '/embed/multimodal',
  'http://x/embed/multimodal',
  'http://127.0.0.1/embed/multimodal',
  'HTTP://X/embed/multimodal',
  'http://u@x:99/embed/multimodal',
  'http://[::1]/embed/multimodal',
  'http:///embed/multimodal',
  'ws://x/embed/multimodal',
  '/embed/multimodal?x=1',
  '/embed/multimodal#f',
  '/embed/multimodal#/x',
  '/embed\\multimodal#x',
  'http://x/embed/multimodal\\#',
  '/embed/multimodal/',
  '/EMBED/multimodal',
  '/Embed/Multimodal/',
  'http://x/EMBED/multimodal/',
  '/%65mbed/multimodal',
  '/embed/multimoda%6C',
  'http://x/%65mbed/multimodal',
  '/embed%2Fmultimodal',
  '/embed%2fmultimodal',
  '/embed/multimodal%2F',
  '/embed/multimodal;x=1',
  '//embed/multimodal',
  '/embed//multimodal',
  '/embed/multimodal//',
  '/./embed/multimodal',
  '/embed/./multimodal',
  '/x/../embed/multimodal',
  '/%2e/embed/multimodal',
  '/embed/multimodal/.',
  '/embed/multimodal%20',
  '/embed/multimodal%3F',
]

async function startCounting(driver: (typeof drivers)[number]) {
  const runs = { embed: 0 }
  const limiter = createRateLimiter({
    policies: {
      'POST /embed/multimodal': { limit: LIMIT, window: '1h' },
      '*': { limit: 1000, window: '1h' },
    },
    logger: false,
  })
  const server = await driver.start({
    routes: [
      {
        method: 'POST',
        path: '/embed/multimodal',
        handler: () => {
          runs.embed++
          return { body: { ok: true } }
        },
      },
      { method: 'GET', path: '/health/live' },
    ],
    middleware: [{ parts: { rateLimit: { limiter } } }],
  })
  running.push(server)
  return { server, runs }
}

/** One path segment as written, as encoded or in another case. */
function segmentSpelling(seg: string): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.constant(seg) },
    { weight: 1, arbitrary: fc.constant(seg.toUpperCase()) },
    {
      weight: 2,
      arbitrary: fc
        .nat({ max: seg.length - 1 })
        .map((i) => `${seg.slice(0, i)}%${seg.charCodeAt(i).toString(16)}${seg.slice(i + 1)}`),
    },
  )
}

/** Spellings a hostile client builds from the plain path (fast-check). */
const spelling = fc
  .record({
    scheme: fc.constantFrom('', 'http://x', 'HTTP://127.0.0.1:8080', 'http://u@h', 'https://x'),
    segments: fc.tuple(...['embed', 'multimodal'].map((seg) => segmentSpelling(seg))),
    separator: fc.constantFrom('/', '/', '/', '//', '/./', '/x/../', '%2F', '\\'),
    lead: fc.constantFrom('/', '/', '/', '//', '/./'),
    tail: fc.constantFrom('', '', '/', '//', ';p=1', '/.', '%20'),
    query: fc.constantFrom('', '?a=1', '?', '#f', '#/x', '?a#b'),
  })
  .map(({ scheme, segments, separator, lead, tail, query }) => {
    return `${scheme}${lead}${segments[0]}${separator}${segments[1]}${tail}${query}`
  })

describe.each(drivers)('hostile spellings on $name', (driver) => {
  it(`runs a limited handler at most ${LIMIT} times across ${SPELLINGS.length} spellings of its route, sent twice each`, async () => {
    const { server, runs } = await startCounting(driver)
    const statuses: Record<string, number[]> = {}
    for (let round = 0; round < 2; round++) {
      for (const target of SPELLINGS) {
        const res = await raw(server.url, target)
        statuses[target] = [...(statuses[target] ?? []), res.status]
      }
    }
    expect(runs.embed, JSON.stringify(statuses)).toBeGreaterThan(0)
    expect(runs.embed, JSON.stringify(statuses)).toBeLessThanOrEqual(LIMIT)
  })

  it('never charges a spelling the router answers 404 to the route policy', async () => {
    const { server, runs } = await startCounting(driver)
    const charged: string[] = []
    for (const target of SPELLINGS) {
      const res = await raw(server.url, target)
      if (res.status === 404 && (res.headers['ratelimit-policy'] ?? '').includes('POST /embed/multimodal'))
        charged.push(target)
    }
    expect(charged).toEqual([])
    // Whatever was refused above, the route's budget holds: never more than LIMIT handler runs.
    expect(runs.embed).toBeLessThanOrEqual(LIMIT)
  })

  it(`runs the handler at most ${LIMIT} times across generated spellings`, async () => {
    const { server, runs } = await startCounting(driver)
    // The plain spelling spends the whole budget first: any generated spelling that still reaches
    // the handler stepped around the limit.
    for (let i = 0; i < LIMIT; i++) await raw(server.url, '/embed/multimodal')
    expect(runs.embed).toBe(LIMIT)
    const reached: string[] = []
    for (const target of fc.sample(spelling, { numRuns: 80, seed: 20261204 })) {
      const before = runs.embed
      await raw(server.url, target)
      if (runs.embed > before) reached.push(target)
    }
    expect(reached).toEqual([])
  })
})

describe('pathOf, the path Express and Koa route on', () => {
  // The same `parseurl` Express's router and Koa's `ctx.path` use, loaded from Express's own dependencies.
  const parseurl = createRequire(createRequire(import.meta.url).resolve('express'))('parseurl') as (req: {
    url: string
  }) => { pathname: string | null } | undefined

  it('equals parseurl’s pathname for every generated spelling', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          spelling,
          fc.string({ unit: 'binary-ascii' }).map((s) => `/${s}`),
        ),
        (target) => {
          const routed = parseurl({ url: target })?.pathname ?? target
          expect(pathOf(target)).toBe(routed)
        },
      ),
      { numRuns: 2000 },
    )
  })
})
