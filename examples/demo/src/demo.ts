/**
 * `pnpm demo`: starts the Fastify inference API on a free port (in-memory
 * store, modelled energy unless the machine has sensors), drives load at
 * every endpoint with a progress display, and prints what @cortex/* shows:
 * the baseline table with each SLO's pass/fail, a burst answered with 429 and
 * Retry-After, energy and CO₂ per request, and the change that low-power mode
 * makes to energy per request and latency. Writes reports/ and stops
 * everything it started.
 *
 *   --duration <seconds>   total load time (default 45; the whole demo stays under 60 s)
 *   --out <dir>            where reports go (default <repo>/reports)
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import {
  type BaselineProgress,
  type BaselineResult,
  baselineMarkdown,
  baselineTable,
  generateArtifacts,
  runBaseline,
} from '@cortex/cli'
import { config } from '@cortex-examples/shared'
import autocannon from 'autocannon'
import { latencyChartSvg } from './latency-chart.ts'

const here = dirname(fileURLToPath(import.meta.url))
const repo = resolve(here, '../../..')
const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '45' },
    out: { type: 'string', default: join(repo, 'reports') },
  },
})
const totalSeconds = Number(values.duration)
if (!(totalSeconds >= 4)) {
  console.error(`--duration must be a number of seconds ≥ 4, got ${JSON.stringify(values.duration)}`)
  process.exit(2)
}
const outDir = resolve(values.out as string)
const baselineSeconds = totalSeconds * 0.5
const compareSeconds = totalSeconds * 0.25 // per mode

/** Virtual clients (distinct API keys) of the baseline and of each low-power phase. */
const BASELINE_CLIENTS = 5000
const PHASE_CLIENTS = 2000

const tty = process.stdout.isTTY === true
const bold = (s: string) => (tty ? `\x1b[1m${s}\x1b[22m` : s)
const heading = (s: string) => console.log(`\n${bold(`== ${s} ==`)}\n`)

interface EnergyJson {
  estimated: boolean
  avgWatts: number
  currentWatts: number
  carbonIntensity: { gramsPerKWh: number; source: string; country?: string }
  sources: { name: string; used: boolean; kind?: string }[]
  routes: Record<string, { requests: number; joules: number; joulesPerRequest: number; co2Grams: number }>
}

// --- the server ----------------------------------------------------------------
/**
 * The API keys of the demo's virtual clients, for the server to recognise
 * (it keys clients by API key only for keys it knows; any other request is
 * limited by its address, and every demo client shares 127.0.0.1).
 */
async function writeDemoKeys(): Promise<string> {
  const keys = ['demo-burst-client']
  for (let n = 0; n < BASELINE_CLIENTS; n++) keys.push(`baseline-client-${n}`)
  for (const label of ['normal', 'low'])
    for (let n = 0; n < PHASE_CLIENTS; n++) keys.push(`demo-${label}-${n}`)
  const file = join(await mkdtemp(join(tmpdir(), 'cortex-demo-')), 'api-keys.txt')
  await writeFile(file, `${keys.join('\n')}\n`)
  return file
}

async function startServer(): Promise<{ child: ChildProcess; url: string }> {
  const main = join(repo, 'examples/inference-api-fastify/src/main.ts')
  const keysFile = await writeDemoKeys()
  const child = spawn(process.execPath, ['--import', 'tsx', main], {
    cwd: join(repo, 'examples/inference-api-fastify'),
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      REDIS_URL: '',
      ENERGY_INTERVAL_MS: '250',
      API_KEYS_FILE: keysFile,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error('the example server did not start within 30 s')), 30_000)
    child.once('exit', (code) => reject(new Error(`the example server exited early (code ${code})`)))
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      try {
        const event = JSON.parse(line) as { event?: string; url?: string }
        if (event.event === 'listening' && event.url) {
          clearTimeout(timer)
          resolvePromise({ child, url: event.url })
        }
      } catch {
        // not a JSON line: ignore
      }
    })
  })
}

function progressPrinter(): (p: BaselineProgress) => void {
  let last = ''
  return (p) => {
    const width = 24
    const done = Math.min(1, p.elapsedSeconds / p.durationSeconds)
    const bar = `${'█'.repeat(Math.round(done * width))}${'░'.repeat(width - Math.round(done * width))}`
    const line = `  [${p.index}/${p.total}] ${p.endpoint.padEnd(24)} ${bar} ${String(p.responses).padStart(6)} responses`
    if (tty) process.stdout.write(`\r${line}${p.phase === 'done' ? '\n' : ''}`)
    else if (p.phase === 'done' && line !== last) console.log(line)
    last = line
  }
}

const getJson = async <T>(url: string): Promise<T> => (await fetch(url)).json() as Promise<T>

// --- the steps -------------------------------------------------------------------
async function burst(url: string): Promise<void> {
  heading('Rate limits: a burst of 15 requests from one client to POST /embed/multimodal')
  const body = JSON.stringify(config.slos.requests['POST /embed/multimodal'].body)
  const responses = await Promise.all(
    Array.from({ length: 15 }, () =>
      fetch(`${url}/embed/multimodal`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': 'demo-burst-client' },
        body,
      }),
    ),
  )
  const statuses = responses.map((r) => r.status)
  const refused = responses.find((r) => r.status === 429)
  console.log(`  statuses: ${statuses.join(' ')}`)
  console.log(
    `  ${statuses.filter((s) => s === 200).length} admitted (burst 10), ${statuses.filter((s) => s === 429).length} refused with 429`,
  )
  if (refused) {
    console.log(`  Retry-After: ${refused.headers.get('retry-after')} s`)
    console.log(`  RateLimit-Policy: ${refused.headers.get('ratelimit-policy')}`)
    console.log(`  RateLimit: ${refused.headers.get('ratelimit')}`)
    console.log(`  body: ${JSON.stringify(await refused.json())}`)
  }
  await Promise.all(responses.map((r) => (r.bodyUsed ? undefined : r.arrayBuffer())))
}

function energyTable(energy: EnergyJson, routes: string[]): string {
  const label = energy.estimated ? 'modelled' : 'measured'
  const lines = [
    '| endpoint | requests | J/request | mg CO₂/request |',
    '|---|---:|---:|---:|',
    ...routes.map((route) => {
      const r = energy.routes[route]
      if (!r || r.requests === 0) return `| ${route} | 0 | – | – |`
      return `| ${route} | ${r.requests} | ${r.joulesPerRequest.toFixed(4)} | ${((r.co2Grams / r.requests) * 1000).toFixed(4)} |`
    }),
  ]
  const used = energy.sources.filter((s) => s.used).map((s) => s.name)
  return `${lines.join('\n')}\n\n  average ${energy.avgWatts.toFixed(2)} W (${label}; sources: ${used.join(', ') || 'none'}), grid ${energy.carbonIntensity.gramsPerKWh.toFixed(1)} gCO₂e/kWh (${energy.carbonIntensity.source}${energy.carbonIntensity.country ? ` ${energy.carbonIntensity.country}` : ''})`
}

const INFERENCE = ['POST /embed/multimodal', 'POST /agents/plan', 'POST /agents/reflect'] as const

/**
 * Drives the three inference endpoints at a fixed rate for `seconds` (open
 * loop: the same offered load in both modes, so energy per request compares
 * like with like) and returns the energy per request and latency.
 */
async function phase(url: string, seconds: number, label: string, rate: number) {
  const before = await getJson<EnergyJson>(`${url}/metrics/energy`)
  let n = 0
  const requests = INFERENCE.map((endpoint) => {
    const [method, path] = endpoint.split(' ') as [string, string]
    const sample = config.slos.requests[endpoint as keyof typeof config.slos.requests]
    return {
      method: method as 'POST',
      path,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(sample.body),
      setupRequest: (req: autocannon.Request) => {
        req.headers = { ...req.headers, 'x-api-key': `demo-${label}-${n++ % PHASE_CLIENTS}` }
        return req
      },
    }
  })
  const result = await new Promise<autocannon.Result>((done, fail) => {
    const run = autocannon(
      { url, connections: 6, duration: seconds, overallRate: rate, requests },
      (err, r) => (err ? fail(err) : done(r)),
    )
    if (tty) {
      let t = 0
      run.on('tick', () => process.stdout.write(`\r  ${label}: ${++t}/${Math.round(seconds)} s`))
      run.on('done', () => process.stdout.write('\n'))
    }
  })
  await new Promise((r) => setTimeout(r, 400)) // let the meter close its last interval
  const after = await getJson<EnergyJson>(`${url}/metrics/energy`)
  let joules = 0
  let count = 0
  for (const route of INFERENCE) {
    joules += (after.routes[route]?.joules ?? 0) - (before.routes[route]?.joules ?? 0)
    count += (after.routes[route]?.requests ?? 0) - (before.routes[route]?.requests ?? 0)
  }
  return {
    joulesPerRequest: count > 0 ? joules / count : Number.NaN,
    requests: count,
    p95: result.latency.p97_5 ?? result.latency.p99,
    p50: result.latency.p50,
    estimated: after.estimated,
    non2xx: result.non2xx,
  }
}

async function lowPower(
  url: string,
  rate: number,
): Promise<{
  rate: number
  normal: Awaited<ReturnType<typeof phase>>
  low: Awaited<ReturnType<typeof phase>>
}> {
  heading(`Low-power mode: the same inference load (${rate} req/s) in normal mode, then in low mode`)
  const normal = await phase(url, compareSeconds, 'normal', rate)
  const switched = await fetch(`${url}/admin/power-mode`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ mode: 'low', reason: 'demo' }),
  })
  console.log(`  switched: ${JSON.stringify(await switched.json())}`)
  const low = await phase(url, compareSeconds, 'low', rate)
  await fetch(`${url}/admin/power-mode`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ mode: 'auto' }),
  })
  const change = (a: number, b: number) => `${b < a ? '−' : '+'}${Math.abs((1 - b / a) * 100).toFixed(1)}%`
  console.log('\n| mode | requests | J/request | P50 (ms) | P97.5 (ms) |')
  console.log('|---|---:|---:|---:|---:|')
  for (const [name, p] of [
    ['normal', normal],
    ['low', low],
  ] as const) {
    console.log(`| ${name} | ${p.requests} | ${p.joulesPerRequest.toFixed(4)} | ${p.p50} | ${p.p95} |`)
  }
  console.log(
    `\n  low-power mode: ${change(normal.joulesPerRequest, low.joulesPerRequest)} energy per request, ${change(normal.p50, low.p50)} median latency (${normal.estimated ? 'modelled' : 'measured'} energy)`,
  )
  return { rate, normal, low }
}

// --- main ----------------------------------------------------------------------------
const started = performance.now()
console.log(bold('@cortex/* demo: an inference API with rate limits, SLOs, energy and low-power mode'))
const { child, url } = await startServer()
let exitCode = 0
try {
  console.log(`  Fastify example listening on ${url} (in-memory rate-limit store)`)

  heading(`Baseline: ${baselineSeconds.toFixed(0)} s of load across every endpoint`)
  const baseline: BaselineResult = await runBaseline({
    url,
    slos: config.slos,
    durationSeconds: baselineSeconds,
    connections: 8,
    clients: { header: 'x-api-key', count: BASELINE_CLIENTS },
    onProgress: progressPrinter(),
  })
  console.log(`\n${baselineTable(baseline)}\n`)
  for (const o of baseline.objectives) {
    console.log(
      `  ${o.met ? 'pass' : 'FAIL'}  ${o.name.padEnd(22)} ${o.route.padEnd(24)} ${o.threshold.padEnd(12)} SLI ${(o.sli * 100).toFixed(2)}%`,
    )
  }

  await burst(url)

  heading('Energy per endpoint (since the server started)')
  const energy = await getJson<EnergyJson>(`${url}/metrics/energy`)
  console.log(
    energyTable(
      energy,
      baseline.endpoints.map((e) => e.endpoint),
    ),
  )

  // Half of what the slowest inference endpoint sustained in the baseline: both modes keep up.
  const sustained = baseline.endpoints.filter((e) => e.method === 'POST').map((e) => e.requestsPerSecond)
  const rate = Math.max(10, Math.round(Math.min(...sustained) * 0.5))
  const comparison = await lowPower(url, rate)

  heading('Reports')
  await mkdir(outDir, { recursive: true })
  const written = [
    join(outDir, 'baseline.json'),
    join(outDir, 'baseline.md'),
    join(outDir, 'latency.svg'),
    join(outDir, 'energy.json'),
  ]
  await writeFile(written[0] as string, `${JSON.stringify(baseline, null, 2)}\n`)
  await writeFile(written[1] as string, baselineMarkdown(baseline))
  await writeFile(written[2] as string, latencyChartSvg(baseline))
  await writeFile(
    written[3] as string,
    `${JSON.stringify({ snapshot: energy, lowPower: comparison }, null, 2)}\n`,
  )
  written.push(
    ...(await generateArtifacts(config.slos, join(outDir, 'observability'), {
      k6OutDir: join(outDir, 'k6'),
    })),
  )
  for (const file of written) console.log(`  ${relative(process.cwd(), file)}`)
  console.log(`\nDone in ${((performance.now() - started) / 1000).toFixed(1)} s.`)
} catch (err) {
  console.error(`demo failed: ${(err as Error).stack ?? err}`)
  exitCode = 1
} finally {
  child.kill('SIGTERM')
  await new Promise((r) => {
    const t = setTimeout(() => {
      child.kill('SIGKILL')
      r(undefined)
    }, 3000)
    child.once('exit', () => {
      clearTimeout(t)
      r(undefined)
    })
  })
}
process.exit(exitCode)
