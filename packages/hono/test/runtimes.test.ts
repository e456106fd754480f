/**
 * @cortex/hono on real Bun and Deno: the same small app (test/fixtures/server.mjs,
 * on the built packages) served by `Bun.serve` and `Deno.serve`, driven from
 * here over loopback. The binaries come from CORTEX_BUN / CORTEX_DENO (else
 * the CI cache); a missing runtime or build skips its cases, unless
 * CORTEX_REQUIRE_RUNTIMES=1 (CI), where it fails them.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { raw } from '../../../test-support/raw-request.js'

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))
const packageDir = here('..')
const fixture = here('./fixtures/server.mjs')
/** The fixture loads the built packages. */
const built = ['../dist', '../../core/dist', '../../slo/dist', '../../token-bucket/dist'].every((dir) =>
  existsSync(here(`${dir}/index.js`)),
)
const required = process.env.CORTEX_REQUIRE_RUNTIMES === '1'
const cache = '/root/.cache/cortex-ci/runtimes/node_modules/.bin'
const LIMIT = 3

/** Spellings of `POST /embed/multimodal` a hostile client tries (as in the conformance case). */
const SPELLINGS = [
  '/embed/multimodal',
  'http://x/embed/multimodal',
  'http://127.0.0.1/embed/multimodal',
  'HTTP://X/embed/multimodal',
  'http://u@x:99/embed/multimodal',
  'http://[::1]/embed/multimodal',
  '/embed/multimodal?x=1',
  '/embed/multimodal#f',
  '/embed\\multimodal#x',
  '/embed/multimodal/',
  '/EMBED/multimodal',
  '/%65mbed/multimodal',
  '/embed/multimoda%6C',
  'http://x/%65mbed/multimodal',
  '/embed%2Fmultimodal',
  '/embed/multimodal;x=1',
  '//embed/multimodal',
  '/embed//multimodal',
  '/./embed/multimodal',
  '/embed/./multimodal',
  '/x/../embed/multimodal',
  '/%2e/embed/multimodal',
  '/embed/multimodal/.',
  '/embed/multimodal%20',
]

const runtimes = [
  {
    name: 'bun',
    binary: process.env.CORTEX_BUN || `${cache}/bun`,
    args: [fixture],
  },
  {
    name: 'deno',
    binary: process.env.CORTEX_DENO || `${cache}/deno`,
    args: ['run', '--allow-net', '--allow-read', '--allow-env', '--allow-sys', fixture],
  },
]

/** Starts the fixture; resolves with its base URL once it prints `LISTENING <port>` (20 s at most). */
function startServer(binary: string, args: string[], children: ChildProcess[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, {
      cwd: packageDir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' },
    })
    children.push(child)
    let output = ''
    const timer = setTimeout(() => reject(new Error(`${binary} did not start in 20 s:\n${output}`)), 20_000)
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const match = /LISTENING (\d+)/.exec(output)
      if (match) {
        clearTimeout(timer)
        resolve(`http://127.0.0.1:${match[1]}`)
      }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.on('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${binary} exited with ${code}:\n${output}`))
    })
  })
}

describe.each(runtimes)('@cortex/hono on $name', ({ name, binary, args }) => {
  const available = built && existsSync(binary)
  const children: ChildProcess[] = []
  let url = ''

  beforeAll(async () => {
    if (available) url = await startServer(binary, args, children)
  }, 30_000)

  afterAll(() => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL')
  })

  if (!available) {
    const why = built ? `no ${name} binary at ${binary}` : 'the package is not built (pnpm build)'
    if (required) it(`runs (CORTEX_REQUIRE_RUNTIMES=1): ${why}`, () => expect.fail(why))
    else it.skip(`skipped: ${why}`, () => {})
    return
  }

  it('resolves the client address from the runtime and the route from the matched template', async () => {
    const res = await fetch(`${url}/whoami?x=1`)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({
      method: 'GET',
      path: '/whoami',
      route: '/whoami',
      clientAddress: '127.0.0.1',
    })
  })

  it(`sends the RateLimit headers, then 429 with Retry-After after ${LIMIT}, whatever the spelling`, async () => {
    const post = () => fetch(`${url}/embed/multimodal`, { method: 'POST', body: '{}' })
    for (let i = 1; i <= LIMIT; i++) {
      const res = await post()
      expect(res.status).toBe(200)
      expect(res.headers.get('ratelimit-policy')).toBe(`"POST /embed/multimodal";q=${LIMIT};w=3600`)
      expect(res.headers.get('ratelimit')).toMatch(
        new RegExp(`^"POST /embed/multimodal";r=${LIMIT - i};t=\\d+$`),
      )
      await res.arrayBuffer()
    }
    const refused = await post()
    expect(refused.status).toBe(429)
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(await refused.json()).toMatchObject({ error: 'rate_limited', policy: 'POST /embed/multimodal' })
    // The budget is spent: no spelling of the route reaches the handler again (each is refused,
    // answered 404, or rejected by the runtime's parser).
    const reached: string[] = []
    for (const target of SPELLINGS) if ((await raw(url, target)).status === 200) reached.push(target)
    expect(reached).toEqual([])
  })

  it('serves the SLO metrics with the route template to loopback, and refuses the rest', async () => {
    const res = await fetch(`${url}/metrics`)
    expect(res.status).toBe(200)
    const text = await res.text()
    expect(text).toMatch(
      /http_request_duration_seconds_count\{method="POST",route="\/embed\/multimodal",status_code="200"\} [1-9]/,
    )
    expect(text).toMatch(/route="\/embed\/multimodal",status_code="429"/)
    const forwarded = await fetch(`${url}/metrics`, { headers: { 'x-forwarded-for': '127.0.0.1' } })
    expect(forwarded.status).toBe(403)
    await forwarded.arrayBuffer()
    const elsewhere = await fetch(`${url}/metrics/elsewhere`)
    expect(elsewhere.status).toBe(403)
    expect(await elsewhere.json()).toMatchObject({ error: 'forbidden' })
  })
})
