import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BaselineResult } from './baseline.js'
import { runCli } from './cli.js'
import { compareBaselines, parseTolerance } from './compare.js'
import { loadSloConfig } from './load-config.js'

const config = {
  service: 'cli-test',
  objectives: [
    { name: 'embed-latency', route: 'POST /embed/multimodal', latency: { percentile: 95, thresholdMs: 500 } },
    { name: 'user-latency', route: 'GET /users/:id', threshold: 'p(99)<1000' },
    { name: 'availability', route: '*', availability: { errorRate: 0.01 } },
  ],
  requests: { 'POST /embed/multimodal': { body: { text: 'a cat on a mat' } } },
}

let dir: string
let server: Server
let url: string
const seen = {
  embedBodies: 0,
  badBodies: 0,
  users: new Set<string>(),
  apiKeys: new Set<string>(),
  /** When set, every embed request after the first few is refused 429, as a limiter keyed on one client would. */
  limited: false,
  admitted: 0,
}

function io() {
  let out = ''
  let err = ''
  return {
    io: {
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: (s: string) => (err += s) },
      cwd: dir,
    },
    out: () => out,
    err: () => err,
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cortex-cli-'))
  server = createServer((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      const key = req.headers['x-api-key']
      if (typeof key === 'string') seen.apiKeys.add(key)
      if (req.method === 'POST' && req.url === '/embed/multimodal') {
        if (seen.limited && ++seen.admitted > 3) {
          res.writeHead(429, { 'retry-after': '60' }).end('{"error":"rate_limited"}')
          return
        }
        try {
          if (typeof JSON.parse(body).text !== 'string') throw new Error('no text')
          seen.embedBodies++
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"vector":[1,2,3]}')
        } catch {
          seen.badBodies++
          res.writeHead(400).end()
        }
        return
      }
      const user = /^\/users\/([^/]+)$/.exec(req.url ?? '')
      if (req.method === 'GET' && user) {
        seen.users.add(user[1] as string)
        res.writeHead(200).end('{}')
        return
      }
      res.writeHead(404).end()
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  await writeFile(
    join(dir, 'slo.config.ts'),
    `const config: { service: string } & Record<string, unknown> = ${JSON.stringify(config)}\nexport default config\n`,
  )
  await writeFile(join(dir, 'slo.config.json'), JSON.stringify(config))
  await writeFile(join(dir, 'slo.config.mjs'), `export const slos = ${JSON.stringify(config)}\n`)
})

afterAll(async () => {
  server.closeAllConnections()
  await new Promise((r) => server.close(r))
  await rm(dir, { recursive: true, force: true })
})

describe('loadSloConfig', () => {
  it.each(['slo.config.ts', 'slo.config.json', 'slo.config.mjs'])('loads %s', async (file) => {
    const slos = await loadSloConfig(file, dir)
    expect(slos.service).toBe('cli-test')
    expect(slos.objectives.map((o) => o.name)).toEqual(['embed-latency', 'user-latency', 'availability'])
  })
})

describe('cortex CLI end to end against a loopback server', () => {
  let baseline: BaselineResult

  it('baseline drives every endpoint (with the configured JSON body) and writes JSON and Markdown', async () => {
    const run = io()
    const code = await runCli(
      [
        'baseline',
        '--url',
        url,
        '--config',
        'slo.config.ts',
        '--duration',
        '1s',
        '--connections',
        '2',
        '--out',
        'baseline.json',
      ],
      run.io,
    )
    expect(run.err()).toContain('[1/2] POST /embed/multimodal')
    expect(code).toBe(0)
    baseline = JSON.parse(await readFile(join(dir, 'baseline.json'), 'utf8'))
    expect(baseline.endpoints.map((e) => e.endpoint)).toEqual(['POST /embed/multimodal', 'GET /users/:id'])
    for (const e of baseline.endpoints) {
      expect(e.requests).toBeGreaterThan(0)
      expect(e.statusCodes).toEqual({ '200': e.requests })
      expect(e.p50).toBeGreaterThan(0)
      expect(e.p99).toBeGreaterThanOrEqual(e.p95)
      expect(e.errorRate).toBe(0)
    }
    expect(seen.embedBodies).toBeGreaterThan(0)
    expect(seen.badBodies).toBe(0)
    expect([...seen.users]).toEqual(['1'])
    expect(baseline.objectives.map((o) => [o.name, o.met])).toEqual([
      ['embed-latency', true],
      ['user-latency', true],
      ['availability', true],
    ])
    const md = await readFile(join(dir, 'baseline.md'), 'utf8')
    expect(md).toContain('| POST /embed/multimodal |')
    expect(md).toContain('| embed-latency | POST /embed/multimodal | p(95)<500 |')
    expect(run.out()).toContain(
      '| endpoint | requests | req/s | refused (429) | P50 (ms) | P95 (ms) | P99 (ms) | error rate |',
    )
  })

  it('baseline --clients rotates a synthetic client id so per-client limits see many clients', async () => {
    seen.apiKeys.clear()
    const run = io()
    const code = await runCli(
      [
        'baseline',
        '--url',
        url,
        '--config',
        'slo.config.json',
        '--duration',
        '1s',
        '--connections',
        '2',
        '--clients',
        '5',
        '--out',
        'clients.json',
        '--quiet',
      ],
      run.io,
    )
    expect(code).toBe(0)
    expect([...seen.apiKeys].sort()).toEqual([0, 1, 2, 3, 4].map((n) => `baseline-client-${n}`))
  })

  it('compare exits 0 without a regression and 1 with one', async () => {
    const same = io()
    expect(await runCli(['compare', 'baseline.json', 'baseline.json'], same.io)).toBe(0)
    expect(same.out()).toContain('No regression (tolerance 10%)')

    const slower: BaselineResult = structuredClone(baseline)
    slower.endpoints[0]!.p95 = baseline.endpoints[0]!.p95 * 1.5
    slower.objectives[0]!.met = false
    await writeFile(join(dir, 'current.json'), JSON.stringify(slower))
    const worse = io()
    expect(await runCli(['compare', 'baseline.json', 'current.json', '--tolerance', '20%'], worse.io)).toBe(1)
    expect(worse.out()).toMatch(
      /\| POST \/embed\/multimodal \| P95 \(ms\) \|.*\| \+50\.0% \| \*\*REGRESSION\*\* \|/,
    )
    expect(worse.out()).toContain('2 regressions (tolerance 20%)')
    // the same change within a 60 % tolerance is no latency regression (the objective still is)
    expect(compareBaselines(baseline, slower, { tolerance: 0.6 }).regressions).toBe(1)
  })

  it('baseline counts 429s apart, warns loudly and exits 1 when they dominate (unless --allow-refusals); compare never calls them a latency regression', async () => {
    seen.limited = true
    seen.admitted = 0
    try {
      const args = [
        'baseline',
        '--url',
        url,
        '--config',
        'slo.config.json',
        '--duration',
        '1s',
        '--connections',
        '2',
      ]
      const run = io()
      expect(await runCli([...args, '--out', 'limited.json', '--quiet'], run.io)).toBe(1)
      expect(run.err()).toMatch(/refusals dominate POST \/embed\/multimodal \(\d+ of \d+ refused with 429\)/)
      expect(run.err()).toContain('--clients')
      const limited = JSON.parse(await readFile(join(dir, 'limited.json'), 'utf8')) as BaselineResult
      const embed = limited.endpoints.find((e) => e.endpoint === 'POST /embed/multimodal')!
      expect(embed.refused).toBeGreaterThan(embed.requests / 2)
      expect(embed.statusCodes['429']).toBe(embed.refused)
      expect(embed.statusCodes['200']).toBe(3)
      expect(limited.refusalDominated).toEqual(['POST /embed/multimodal'])
      // The objective judged only the admitted responses, never the refusals.
      expect(limited.objectives.find((o) => o.name === 'embed-latency')?.requests).toBe(3)
      expect(await readFile(join(dir, 'limited.md'), 'utf8')).toContain('WARNING: refusals dominate')
      seen.admitted = 0
      expect(await runCli([...args, '--out', 'allowed.json', '--allow-refusals', '--quiet'], io().io)).toBe(0)
      // Against a clean baseline, the refused run's latency and throughput are shown, not judged.
      const slowRefusals: BaselineResult = structuredClone(limited)
      for (const e of slowRefusals.endpoints) if (e.refused > 0) e.p95 = baseline.endpoints[0]!.p95 * 100
      const c = compareBaselines(baseline, slowRefusals)
      const rows = c.rows.filter((r) => r.endpoint === 'POST /embed/multimodal' && r.metric !== 'errorRate')
      expect(rows.every((r) => !r.regression && r.notCompared === 'refusals')).toBe(true)
    } finally {
      seen.limited = false
    }
  })

  it('compare --min-delta-ms ignores latency changes below that many milliseconds', async () => {
    const noisy: BaselineResult = structuredClone(baseline)
    noisy.endpoints[0]!.p99 = baseline.endpoints[0]!.p99 * 1.5 // +50 %, but a fraction of a ms here
    await writeFile(join(dir, 'noisy.json'), JSON.stringify(noisy))
    const delta = noisy.endpoints[0]!.p99 - baseline.endpoints[0]!.p99
    expect(await runCli(['compare', 'baseline.json', 'noisy.json'], io().io)).toBe(1)
    const above = String(Math.ceil(delta) + 1)
    expect(await runCli(['compare', 'baseline.json', 'noisy.json', '--min-delta-ms', above], io().io)).toBe(0)
    expect(await runCli(['compare', 'baseline.json', 'noisy.json', '--min-delta-ms', 'soon'], io().io)).toBe(
      2,
    )
  })

  it('the built-in `cortex` process exits non-zero on a regression', async () => {
    const bin = fileURLToPath(new URL('./bin.ts', import.meta.url))
    const cwd = fileURLToPath(new URL('..', import.meta.url)) // where tsx resolves
    const args = ['--import', 'tsx', bin, 'compare', join(dir, 'baseline.json'), join(dir, 'current.json')]
    // @cortex/* from the sources, so the README's test command needs no build.
    const env = {
      ...process.env,
      TSX_TSCONFIG_PATH: fileURLToPath(new URL('../../../tsconfig.sources.json', import.meta.url)),
    }
    const result = await promisify(execFile)(process.execPath, args, { cwd, env }).then(
      ({ stdout }) => ({ code: 0, stdout }),
      (err: { code?: number; stdout?: string }) => ({ code: err.code, stdout: err.stdout ?? '' }),
    )
    expect(result.stdout).toContain('**REGRESSION**')
    expect(result.code).toBe(1)
  })

  it('slo generate writes rules, dashboard, k6 thresholds and script', async () => {
    const run = io()
    expect(await runCli(['slo', 'generate', 'slo.config.json', '--out', 'gen'], run.io)).toBe(0)
    const rules = await readFile(join(dir, 'gen', 'prometheus-rules.yml'), 'utf8')
    expect(rules).toContain("record: 'slo:sli_error:ratio_rate5m'")
    const dashboard = JSON.parse(await readFile(join(dir, 'gen', 'grafana-dashboard.json'), 'utf8'))
    expect(dashboard.templating.list[0].name).toBe('datasource')
    expect(JSON.parse(await readFile(join(dir, 'gen', 'k6-thresholds.json'), 'utf8'))).toEqual({
      'http_req_duration{endpoint:POST /embed/multimodal}': ['p(95)<500'],
      'http_req_duration{endpoint:GET /users/:id}': ['p(99)<1000'],
      http_req_failed: ['rate<0.01'],
    })
    const script = await readFile(join(dir, 'gen', 'k6-script.js'), 'utf8')
    expect(script).toContain(
      '{ duration: "2m", target: 100 },\n    { duration: "5m", target: 100 },\n    { duration: "2m", target: 0 },',
    )
    expect(script).toContain('JSON.stringify({"text":"a cat on a mat"})')
  })

  it('slo generate --compatibility sloth writes Sloth-compatible rules; another value is a usage error', async () => {
    expect(await runCli(['slo', 'generate', 'slo.config.json', '--out', 'plain', '-q'], io().io)).toBe(0)
    expect(await readFile(join(dir, 'plain', 'prometheus-rules.yml'), 'utf8')).not.toContain('sloth_')
    const run = io()
    expect(
      await runCli(
        ['slo', 'generate', 'slo.config.json', '--out', 'sloth', '--compatibility', 'sloth'],
        run.io,
      ),
    ).toBe(0)
    const rules = await readFile(join(dir, 'sloth', 'prometheus-rules.yml'), 'utf8')
    expect(rules).toContain('sloth_slo_info')
    expect(rules).toContain('sloth_severity')
    const bad = io()
    expect(
      await runCli(['slo', 'generate', 'slo.config.json', '--out', 'x', '--compatibility', 'pyrra'], bad.io),
    ).toBe(2)
    expect(bad.err()).toContain('--compatibility takes "sloth"')
  })

  it('usage errors exit 2, bad tolerances are refused', async () => {
    const run = io()
    expect(await runCli(['baseline', '--url', url], run.io)).toBe(2)
    expect(run.err()).toContain('Usage:')
    expect(await runCli(['frobnicate'], io().io)).toBe(2)
    expect(parseTolerance('10%')).toBe(0.1)
    expect(parseTolerance('0.25')).toBe(0.25)
    expect(() => parseTolerance('10')).toThrow(/tolerance/)
  })

  it('every command and subcommand prints its own usage on --help and exits 0', async () => {
    const cases: [string[], string, string[]][] = [
      // argv, what the usage must show, other commands' usage it must not show
      [['slo', '--help'], 'cortex slo generate <config>', ['cortex baseline', 'cortex compare']],
      [['slo', '-h'], 'cortex slo generate <config>', ['cortex baseline']],
      [['slo', 'generate', '--help'], 'cortex slo generate <config>', ['cortex baseline', 'cortex compare']],
      [['slo', 'generate', 'slo.config.json', '-h'], 'cortex slo generate <config>', ['cortex compare']],
      [['baseline', '--help'], 'cortex baseline --url <base>', ['cortex slo generate', 'cortex compare']],
      [['compare', '--help'], 'cortex compare <baseline.json>', ['cortex slo generate', 'cortex baseline']],
      [['help', 'compare'], 'cortex compare <baseline.json>', ['cortex baseline']],
    ]
    for (const [argv, shows, hides] of cases) {
      const run = io()
      expect(await runCli(argv, run.io), argv.join(' ')).toBe(0)
      expect(run.out(), argv.join(' ')).toContain(shows)
      for (const other of hides) expect(run.out(), argv.join(' ')).not.toContain(other)
      expect(run.err()).toBe('')
    }
    // --help does nothing else: no files written
    expect(await runCli(['slo', 'generate', 'slo.config.json', '--out', 'help-out', '--help'], io().io)).toBe(
      0,
    )
    expect(await readdir(dir)).not.toContain('help-out')
    const all = io()
    expect(await runCli(['--help'], all.io)).toBe(0)
    for (const c of ['cortex slo generate', 'cortex baseline', 'cortex compare', '--version'])
      expect(all.out()).toContain(c)
  })

  it("a command's usage error shows that command's usage and exits 2", async () => {
    const run = io()
    expect(await runCli(['slo'], run.io)).toBe(2)
    expect(run.err()).toContain('slo needs a subcommand')
    expect(run.err()).toContain('cortex slo generate <config>')
    const bad = io()
    expect(await runCli(['compare', '--tolerence', '5%', 'a', 'b'], bad.io)).toBe(2)
    expect(bad.err()).toContain("'--tolerence'")
    expect(bad.err()).toContain('cortex compare <baseline.json>')
    expect(bad.err()).not.toContain('cortex baseline')
  })

  it('--version prints the package version', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string
    }
    for (const flag of ['--version', '-v']) {
      const run = io()
      expect(await runCli([flag], run.io)).toBe(0)
      expect(run.out()).toBe(`${pkg.version}\n`)
    }
  })

  it('--quiet prints nothing on success, and still the errors', async () => {
    const generate = io()
    expect(
      await runCli(['slo', 'generate', 'slo.config.json', '--out', 'quiet-gen', '--quiet'], generate.io),
    ).toBe(0)
    expect(generate.out() + generate.err()).toBe('')
    expect(await readdir(join(dir, 'quiet-gen'))).toContain('k6-script.js')

    const compare = io()
    expect(await runCli(['compare', 'baseline.json', 'baseline.json', '-q'], compare.io)).toBe(0)
    expect(compare.out() + compare.err()).toBe('')
    const regression = io()
    expect(await runCli(['compare', 'baseline.json', 'current.json', '--quiet'], regression.io)).toBe(1)
    expect(regression.out() + regression.err()).toBe('')

    const baseline = io()
    const args = ['baseline', '--url', url, '--config', 'slo.config.json', '--duration', '300ms']
    expect(await runCli([...args, '--out', 'quiet.json', '--quiet'], baseline.io)).toBe(0)
    expect(baseline.out() + baseline.err()).toBe('')
    expect(JSON.parse(await readFile(join(dir, 'quiet.json'), 'utf8')).endpoints.length).toBeGreaterThan(0)

    const failing = io()
    expect(await runCli(['slo', 'generate', 'missing.json', '--out', 'x', '--quiet'], failing.io)).toBe(1)
    expect(failing.err()).toContain('missing.json')
  })

  it("generated k6 scripts' header shows the --base-url given", async () => {
    const args = [
      'slo',
      'generate',
      'slo.config.json',
      '--out',
      'gen-url',
      '--base-url',
      'https://staging.example:8443',
    ]
    expect(await runCli(args, io().io)).toBe(0)
    const script = await readFile(join(dir, 'gen-url', 'k6-script.js'), 'utf8')
    expect(script.split('\n')[0]).toContain('k6 run -e BASE_URL=https://staging.example:8443 this-file.js')
    expect(script).not.toContain('localhost:3000')
  })
})
