import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, describe, expect, it } from 'vitest'
import { defineSlos, type SloConfig } from './define-slos.js'
import { k6Script, k6Thresholds } from './k6.js'

const run = promisify(execFile)
const root = fileURLToPath(new URL('../../../', import.meta.url))
const dirs: string[] = []
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
})

/**
 * Type-checks k6 scripts as k6's own types see them (`@types/k6`, `checkJs`):
 * the imports, the `http` calls and `options` (annotated `Options` in the
 * script). Returns tsc's output, '' when it accepts them all.
 */
async function k6TypeErrors(scripts: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cortex-k6-types-'))
  dirs.push(dir)
  for (const [name, text] of Object.entries(scripts)) await writeFile(join(dir, `${name}.js`), text)
  const types = join(root, 'node_modules', '@types')
  await writeFile(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        allowJs: true,
        checkJs: true,
        noEmit: true,
        strict: true,
        target: 'ES2022',
        module: 'ESNext',
        moduleResolution: 'Bundler',
        typeRoots: [types],
        types: ['k6'],
        paths: { 'k6/*': [join(types, 'k6', '*')] },
      },
      include: ['*.js'],
    }),
  )
  try {
    await run(join(root, 'node_modules', '.bin', 'tsc'), ['-p', join(dir, 'tsconfig.json')], { cwd: dir })
    return ''
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string }
    return `${stdout}${stderr}` || String(error)
  }
}

const slos = {
  service: 'cortex-api',
  objectives: [
    { name: 'embed-latency', route: 'POST /embed/multimodal', latency: { percentile: 95, thresholdMs: 200 } },
    { name: 'plan-latency', route: 'POST /agents/plan', threshold: 'p(95)<2000' },
    { name: 'user', route: '/users/:id', threshold: 'p(99)<300' },
    { name: 'availability', route: '*', availability: { errorRate: 0.005 } },
  ],
  requests: { 'POST /embed/multimodal': { body: { text: 'hello' } } },
} satisfies SloConfig

describe('k6', () => {
  it('k6Thresholds keys latency and availability objectives per endpoint tag', () => {
    expect(k6Thresholds(slos)).toEqual({
      'http_req_duration{endpoint:POST /embed/multimodal}': ['p(95)<200'],
      'http_req_duration{endpoint:POST /agents/plan}': ['p(95)<2000'],
      'http_req_duration{endpoint:/users/:id}': ['p(99)<300'],
      http_req_failed: ['rate<0.005'],
    })
  })

  it('k6Script uses the seed load profile, tags requests like the thresholds, sends configured bodies', () => {
    const script = k6Script(slos, { baseUrl: 'http://127.0.0.1:3000' })
    expect(script).toContain(
      '{ duration: "2m", target: 100 },\n    { duration: "5m", target: 100 },\n    { duration: "2m", target: 0 },',
    )
    expect(script).toContain('"http_req_duration{endpoint:POST /embed/multimodal}": [')
    expect(script).toContain('tags: { endpoint: "POST /embed/multimodal" }')
    expect(script).toContain('tags: { endpoint: "/users/:id" }')
    expect(script).toContain('BASE_URL + "/users/1"')
    expect(script).toContain('JSON.stringify({"text":"hello"})')
    expect(script).toContain('http.setResponseCallback(http.expectedStatuses({ min: 100, max: 499 }))')
    // the script is valid JavaScript (k6 globals aside)
    const body = script
      .replace(/^import .*$/m, '')
      .replace(/^export default /m, 'const run = ')
      .replace(/^export /gm, '')
    expect(() => new Function('__ENV', 'http', body)).not.toThrow()
  })
})

describe("generated scripts against k6's types (@types/k6, checkJs)", () => {
  const committed = Object.fromEntries(
    [
      'examples/observability/k6-script.js',
      ...['multimodal', 'agents', 'health'].map((n) => `examples/load/k6/load-${n}.js`),
    ].map((path, i) => [`committed${i}`, readFileSync(join(root, path), 'utf8')]),
  )

  it('every generated script type-checks', async () => {
    const scripts = {
      ...committed,
      all: k6Script(slos, { baseUrl: 'http://127.0.0.1:3000' }),
      stages: k6Script(slos, { stages: [{ duration: '30s', target: 5 }], endpoints: ['POST /agents/plan'] }),
      exactCodes: k6Script({
        service: 'codes',
        objectives: [
          { name: 'ok', route: 'GET /x', availability: { errorRate: 0.01, errorStatusCodes: [500, 503] } },
        ],
        requests: { 'GET /x': { headers: { 'x-api-key': 'k' } } },
      }),
    }
    expect(await k6TypeErrors(scripts)).toBe('')
  })

  it('the check catches options k6 does not accept', async () => {
    const broken = k6Script(slos).replace('target: 100 }', 'target: "100" }')
    expect(await k6TypeErrors({ broken })).toMatch(/error TS2322[^\n]*string[^\n]*number/)
  })
})

describe('k6 generator checks', () => {
  it("the header's run line shows the base URL given, else the default", () => {
    expect(k6Script(slos, { baseUrl: 'https://staging.example' }).split('\n')[0]).toContain(
      'k6 run -e BASE_URL=https://staging.example this-file.js',
    )
    expect(k6Script(slos).split('\n')[0]).toContain('k6 run -e BASE_URL=http://localhost:3000 this-file.js')
    expect(k6Script(slos, { baseUrl: 'http://x\n// injected' }).split('\n')[1]).not.toContain('injected')
  })

  it('refuses a route k6 would split into another submetric', () => {
    const config = {
      service: 's',
      objectives: [{ name: 'csv', route: 'GET /a,b', threshold: 'p(95)<200' as const }],
    }
    expect(() => k6Thresholds(config)).toThrow(/`route`[\s\S]*no `,`/)
    expect(() => k6Script(config)).toThrow(/`route`/)
  })
})

describe('loadScripts', () => {
  const config = {
    service: 'api',
    objectives: [
      { name: 'embed', route: 'POST /embed', latency: { percentile: 95, thresholdMs: 200 } },
      { name: 'plan', route: 'POST /plan', latency: { percentile: 95, thresholdMs: 2000 } },
      { name: 'availability', route: '*', availability: { errorRate: 0.005 } },
    ],
    loadScripts: { 'load-embed': ['POST /embed'] },
  }

  it('a per-script endpoint filter keeps only its endpoints, their thresholds and the service-wide ones', () => {
    const script = k6Script(config, { endpoints: defineSlos(config).loadScripts['load-embed'] })
    expect(script).toContain('"/embed"')
    expect(script).not.toContain('"/plan"')
    expect(script).toContain('http_req_duration{endpoint:POST /embed}')
    expect(script).not.toContain('http_req_duration{endpoint:POST /plan}')
    expect(script).toContain('http_req_failed')
  })

  it('rejects a load script naming an endpoint no objective or request names', () => {
    expect(() => defineSlos({ ...config, loadScripts: { x: ['GET /nowhere'] } })).toThrow(
      '`loadScripts["x"][0]`',
    )
    expect(() => defineSlos({ ...config, loadScripts: { 'bad/name': ['POST /embed'] } })).toThrow(
      'loadScripts',
    )
    expect(() => defineSlos({ ...config, loadScripts: { x: [] } })).toThrow('non-empty')
  })
})
