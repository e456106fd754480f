/**
 * `pnpm demo`: starts the Fastify inference API on a free port (in-memory
 * store, modelled energy unless the machine has sensors), drives load at
 * every endpoint with a progress display, and prints what @cortex/* shows:
 * the baseline table with each SLO's pass/fail, a burst answered with 429 and
 * Retry-After, energy and CO₂ per request, and the change that low-power mode
 * makes to energy per request and latency with the server busy (closed loop,
 * the method of benchmarks/low-power: see low-power-comparison.ts). Writes
 * reports/ and stops everything it started.
 *
 *   --duration <seconds>   total load time (default 45: 40% baseline, 60% low-power comparison)
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
import { measureKnobSteps } from './knob-steps.ts'
import { latencyChartSvg } from './latency-chart.ts'
import {
  type ClosedLoopLoad,
  COMPARISON_MODELS,
  compareModes,
  comparisonSchedule,
  type Mode,
  type ModeFigures,
  type ModelMachine,
  type Run,
  runJoules,
  TARGET_SAVING,
  WARM_UP,
} from './low-power-comparison.ts'

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
const baselineSeconds = totalSeconds * 0.4
/** The low-power comparison: four closed-loop runs sharing the rest. */
const compareSeconds = totalSeconds * 0.6

/** Virtual clients (distinct API keys) of the baseline and of each low-power phase. */
const BASELINE_CLIENTS = 5000
const PHASE_CLIENTS = 10_000

const tty = process.stdout.isTTY === true
const bold = (s: string) => (tty ? `\x1b[1m${s}\x1b[22m` : s)
const heading = (s: string) => console.log(`\n${bold(`== ${s} ==`)}\n`)

interface EnergyJson {
  joules: number
  durationSeconds: number
  estimated: boolean
  avgWatts: number
  currentWatts: number
  carbonIntensity: { gramsPerKWh: number; source: string; country?: string }
  sources: { name: string; used: boolean; kind?: string; details?: Record<string, unknown> }[]
  powerBudgetWatts?: number
  /** The machine's figures, where the meter tells them apart from this process's (the budget judges these). */
  host?: { joules: number }
  ram?: { watts: number }
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

/** The server's CPU time so far, from prom-client's `process_cpu_seconds_total` on `/metrics`. */
async function serverCpuSeconds(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text()
  const line = text.split('\n').find((l) => l.startsWith('process_cpu_seconds_total '))
  const seconds = Number(line?.split(' ')[1])
  if (!Number.isFinite(seconds)) throw new Error('/metrics has no process_cpu_seconds_total')
  return seconds
}

/** Each mode's next virtual client, carried across its runs so no key repeats within a comparison. */
const nextKey: Record<Mode, number> = { normal: 0, low: 0 }

const inferenceJoules = (energy: EnergyJson) =>
  INFERENCE.reduce((sum, route) => sum + (energy.routes[route]?.joules ?? 0), 0)

/**
 * One closed-loop run: `connections` clients each send their next inference
 * request (the three endpoints in turn, a fresh recognised key each) as soon
 * as the last is answered, for `seconds`. Returns the server's CPU time and
 * the wall time between the two reads around the load.
 */
async function closedLoopRun(url: string, mode: Mode, load: ClosedLoopLoad): Promise<Run> {
  const meterBefore = await getJson<EnergyJson>(`${url}/metrics/energy`)
  const requests = INFERENCE.map((endpoint) => {
    const [method, path] = endpoint.split(' ') as [string, string]
    const sample = config.slos.requests[endpoint as keyof typeof config.slos.requests]
    return {
      method: method as 'POST',
      path,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(sample.body),
      setupRequest: (req: autocannon.Request) => {
        req.headers = { ...req.headers, 'x-api-key': `demo-${mode}-${nextKey[mode]++ % PHASE_CLIENTS}` }
        return req
      },
    }
  })
  const cpu0 = await serverCpuSeconds(url)
  const t0 = performance.now()
  const result = await new Promise<autocannon.Result>((done, fail) => {
    const run = autocannon({ url, ...load, requests }, (err, r) => (err ? fail(err) : done(r)))
    if (tty) {
      let t = 0
      run.on('tick', () => process.stdout.write(`\r  ${mode}: ${++t}/${load.duration} s`))
      run.on('done', () => process.stdout.write('\r\x1b[K'))
    }
  })
  const cpu1 = await serverCpuSeconds(url)
  const wallSeconds = (performance.now() - t0) / 1000
  await new Promise((r) => setTimeout(r, 400)) // let the meter close its last interval
  const meterAfter = await getJson<EnergyJson>(`${url}/metrics/energy`)
  return {
    mode,
    answered: result['2xx'],
    refused: result.non2xx + result.errors,
    cpuSeconds: cpu1 - cpu0,
    wallSeconds,
    meterJoules: inferenceJoules(meterAfter) - inferenceJoules(meterBefore),
    meterWatts:
      ((meterAfter.host ?? meterAfter).joules - (meterBefore.host ?? meterBefore).joules) /
      (meterAfter.durationSeconds - meterBefore.durationSeconds),
    p50Ms: result.latency.p50,
    p97_5Ms: result.latency.p97_5,
  }
}

const setMode = async (url: string, mode: 'normal' | 'low' | 'auto') => {
  const res = await fetch(`${url}/admin/power-mode`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ mode, reason: 'demo' }),
  })
  await res.arrayBuffer()
  if (!res.ok) throw new Error(`PUT /admin/power-mode ${mode}: ${res.status}`)
}

/** Cores and TDP of the server meter's CPU model, so the demo's models match what the server reports. */
function modelMachine(energy: EnergyJson): ModelMachine & { tdp: string } {
  const details = energy.sources.find((s) => s.name === 'cpu-model')?.details ?? {}
  const cores = Number(details.cores)
  const tdpWatts = Number(details.tdpWatts)
  if (!(cores >= 1) || !(tdpWatts > 0)) throw new Error('/metrics/energy does not describe its CPU model')
  return { cores, tdpWatts, tdp: String(details.tdp ?? `${tdpWatts} W`) }
}

async function lowPower(url: string, seconds: number) {
  const schedule = comparisonSchedule(seconds)
  const first = schedule[0] as (typeof schedule)[number]
  heading(
    `Low-power mode at saturation: ${first.load.connections} closed-loop clients keep the server busy; ${schedule.length} runs of ${first.load.duration} s (${schedule.map((s) => s.mode).join(', ')}) after ${WARM_UP.length} unmeasured warm-up runs of ${WARM_UP[0]?.load.duration} s`,
  )
  const energy = await getJson<EnergyJson>(`${url}/metrics/energy`)
  const machine = modelMachine(energy)
  const runs: Run[] = []
  try {
    for (const step of WARM_UP) {
      await setMode(url, step.mode)
      await closedLoopRun(url, step.mode, step.load)
    }
    for (const step of schedule) {
      await setMode(url, step.mode)
      runs.push(await closedLoopRun(url, step.mode, step.load))
    }
  } finally {
    await setMode(url, 'auto')
  }
  const result = compareModes(runs, machine)
  const pct = (x: number) => `${x < 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(1)}%`
  const j = (x: number) => x.toFixed(4)
  const models = COMPARISON_MODELS
  console.log(
    `| run | mode | answered | refused | server CPU s | wall s | cores busy | CPU ms/req | P50 ms | P97.5 ms | ${models.map((m) => `J/req ${m}`).join(' | ')} |`,
  )
  console.log(`|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|${models.map(() => '---:|').join('')}`)
  runs.forEach((r, i) => {
    console.log(
      `| ${i + 1} | ${r.mode} | ${r.answered} | ${r.refused} | ${r.cpuSeconds.toFixed(2)} | ${r.wallSeconds.toFixed(2)} | ${(r.cpuSeconds / r.wallSeconds).toFixed(2)} | ${((r.cpuSeconds * 1000) / r.answered).toFixed(3)} | ${r.p50Ms} | ${r.p97_5Ms} | ${models.map((m) => j(runJoules(r, m, machine) / r.answered)).join(' | ')} |`,
    )
  })
  console.log(`\n| pair (runs) | ${models.map((m) => `saving ${m}`).join(' | ')} | saving CPU time/request |`)
  console.log(`|---|${models.map(() => '---:|').join('')}---:|`)
  result.pairs.forEach((p, i) => {
    console.log(
      `| ${i + 1} (${2 * i + 1}–${2 * i + 2}) | ${models.map((m) => pct(p.saving[m])).join(' | ')} | ${pct(p.cpuSaving)} |`,
    )
  })
  console.log(
    `| median pair | ${models.map((m) => pct(result.saving[m])).join(' | ')} | ${pct(result.cpuSaving)} |`,
  )
  console.log(
    `| worst pair | ${models.map((m) => pct(result.worstPair[m])).join(' | ')} | ${pct(result.worstPairCpuSaving)} |`,
  )
  const unequal = result.pairs
    .map((_, i) => [runs[2 * i], runs[2 * i + 1]] as [Run, Run])
    .map(([a, b], i) => ({ i, a: a.cpuSeconds / a.wallSeconds, b: b.cpuSeconds / b.wallSeconds }))
    .filter(({ a, b }) => Math.max(a, b) / Math.min(a, b) > 1.25)
  for (const { i, a, b } of unequal)
    console.log(
      `  pair ${i + 1}: the machine gave the server ${a.toFixed(2)} then ${b.toFixed(2)} cores (other load changed), so the idle power the models charge per request differs between its two runs`,
    )
  const load = (f: ModeFigures) =>
    `${f.throughput.toFixed(0)} answered req/s, ${f.coresBusy.toFixed(2)} of ${machine.cores} cores busy, ${f.cpuMsPerRequest.toFixed(3)} CPU ms/request, ${models.map((m) => `${f.watts[m].toFixed(1)} W ${m}`).join(' / ')}`
  console.log(`\n  load, normal: ${load(result.normal)}`)
  console.log(`  load, low:    ${load(result.low)}`)
  console.log(
    `  models: server CPU time over wall time on ${machine.cores} cores, TDP ${machine.tdp}; joules ÷ requests answered 2xx`,
  )
  console.log(
    `  the server's own meter (${energy.estimated ? 'modelled: Teads CPU + RAM model' : 'measured'}): ${j(result.normal.meterJoulesPerRequest)} J/request normal, ${j(result.low.meterJoulesPerRequest)} low (${pct(result.meterSaving)}, all runs together)`,
  )
  const budget = energy.powerBudgetWatts
  if (budget !== undefined) {
    const watts = result.normal.meterWatts
    console.log(
      watts > budget
        ? `  power budget ${budget} W: the busy server read ${watts.toFixed(1)} W on its meter in normal mode, over the budget: the load where the budget trigger switches to low mode`
        : `  power budget ${budget} W: the busy server read ${watts.toFixed(1)} W on its meter in normal mode, under the budget: one busy process on ${machine.cores} cores at a ${machine.tdpWatts} W TDP cannot reach it; saturation is the nearest this machine gets`,
    )
  }
  if (result.normal.refused + result.low.refused > 0)
    console.log(
      `  note: ${result.normal.refused + result.low.refused} responses were not 2xx; their CPU is charged to the answered requests`,
    )
  const p50 = (mode: Mode) => runs.filter((r) => r.mode === mode).reduce((a, r) => a + r.p50Ms, 0)
  console.log(
    `\n  low-power mode at saturation (${first.load.connections} closed-loop clients; ${result.normal.throughput.toFixed(0)} req/s in normal mode, ${result.low.throughput.toFixed(0)} req/s in low): ${models.map((m) => `${pct(result.saving[m])} (${m})`).join(', ')} energy per request on the median pair, worst pair ${models.map((m) => pct(result.worstPair[m])).join(' / ')}; CPU time per request ${pct(result.cpuSaving)}; median latency ${pct(1 - p50('low') / p50('normal'))}`,
  )
  console.log(
    `  target (≥ ${TARGET_SAVING * 100}% less energy per request under every model on the median pair, and ≥ ${TARGET_SAVING * 100}% less CPU time per request in every pair): ${result.met ? 'met' : 'NOT met'}`,
  )
  const knobs = measureKnobSteps()
  const base = knobs[0]?.cpuMsPerRequest ?? Number.NaN
  console.log(
    "\n  Where the saving comes from: the simulated inference of the sample requests alone, in this process's CPU time, low mode's knobs added one at a time",
  )
  console.log('\n| knobs | inference CPU ms/request | vs normal | this step |')
  console.log('|---|---:|---:|---:|')
  knobs.forEach(({ step, cpuMsPerRequest }, i) => {
    const previous = knobs[i - 1]?.cpuMsPerRequest
    console.log(
      `| ${step.name} | ${cpuMsPerRequest.toFixed(3)} | ${i === 0 ? '' : pct(1 - cpuMsPerRequest / base)} | ${previous === undefined ? '' : pct((previous - cpuMsPerRequest) / base)} |`,
    )
  })
  console.log(
    `\n  the rest of a request's server CPU in normal mode (HTTP, JSON, the @cortex stack, scheduling): about ${(result.normal.cpuMsPerRequest - base).toFixed(3)} of ${result.normal.cpuMsPerRequest.toFixed(3)} ms, paid in both modes; no cache here (every demo request repeats one prompt, so a cache would answer all of them)`,
  )
  return {
    knobSteps: knobs.map(({ step, cpuMsPerRequest }) => ({ name: step.name, cpuMsPerRequest })),
    method: `closed loop at saturation (${first.load.connections} clients), runs ${schedule.map((s) => s.mode).join(', ')}; server CPU time over wall time under the ${models.join(', ')} CPU power models; joules ÷ requests answered 2xx`,
    machine,
    runs,
    ...result,
  }
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

  const comparison = await lowPower(url, compareSeconds)

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
