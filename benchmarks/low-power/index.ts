/**
 * The measured saving of low-power mode.
 *
 * An inference-like service (real CPU work whose cost follows the mode's
 * knobs: model depth, token cap, micro-batching, a cache of repeated prompts)
 * is served through @cortex/low-power's controller. A fixed, seeded trace of
 * requests is replayed by 16 closed-loop clients, alternating normal and low
 * mode run after run. CPU-seconds come from `process.cpuUsage()`; joules per
 * request are computed from them with @cortex/core's Teads, linear and cubic
 * CPU power models over the run's wall time, so idle power is included.
 *
 * Closed loop means the server is kept busy: this measures the energy a
 * request costs on a loaded server. Throttling alone would not be an honest
 * saving (the models disagree about it, see REFERENCE.md); the saving here
 * comes from doing less work per request.
 */
import { cpus } from 'node:os'
import { performance } from 'node:perf_hooks'
import { type CpuPowerModel, cpuEnergyJoules, DEFAULT_TDP_WATTS } from '@cortex/core'
import { raplSource } from '@cortex/energy'
import { createPowerModeController, type PowerModeController } from '@cortex/low-power'

const REQUESTS = Number(process.env.LOW_POWER_REQUESTS ?? 1200)
const RUNS_PER_MODE = Number(process.env.LOW_POWER_RUNS ?? 5)
const CLIENTS = 16
const HIDDEN = 256
const MODELS: CpuPowerModel[] = ['teads', 'linear', 'cubic']
const CORES = cpus().length
const TDP = Number(process.env.LOW_POWER_TDP_WATTS ?? DEFAULT_TDP_WATTS)

// --- the trace: seeded, so every run serves exactly the same requests -------
function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

interface TraceRequest {
  prompt: number
  tokens: number
}

function makeTrace(n: number, seed: number): TraceRequest[] {
  const rnd = mulberry32(seed)
  // Zipf-like popularity over 300 prompts: a few are asked again and again.
  const weights = Array.from({ length: 300 }, (_, i) => 1 / (i + 1) ** 1.05)
  const total = weights.reduce((a, b) => a + b, 0)
  const pick = () => {
    let r = rnd() * total
    for (let i = 0; i < weights.length; i++) {
      r -= weights[i] as number
      if (r <= 0) return i
    }
    return weights.length - 1
  }
  return Array.from({ length: n }, () => ({ prompt: pick(), tokens: 32 + Math.floor(rnd() * 480) }))
}

// --- the "model": real floating-point work ---------------------------------
const WEIGHTS = new Float64Array(8 * HIDDEN).map((_, i) => Math.sin(i) * 0.01)

/** Per-invocation overhead (graph set-up, kernel launch): paid once per call, batch or not. */
function invocationOverhead(): number {
  let acc = 0
  for (let i = 0; i < 60_000; i++) acc += Math.sqrt(i) * 1e-9
  return acc
}

function forward(prompt: number, tokens: number, layers: number): number {
  let acc = prompt
  for (let t = 0; t < tokens; t++) {
    for (let l = 0; l < layers; l++) {
      const base = l * HIDDEN
      for (let i = 0; i < HIDDEN; i++) acc = acc * 0.999 + (WEIGHTS[base + i] as number) * (t + 1)
    }
  }
  return acc
}

interface Knobs {
  layers: number
  maxTokens: number
  cache: boolean
  batch?: { maxSize: number; maxWaitMs: number }
}

const MODES = {
  normal: {
    concurrency: 8,
    rateLimitScale: 1,
    knobs: { model: 'large', layers: 8, maxTokens: 1024, cache: false },
  },
  low: {
    concurrency: 2,
    rateLimitScale: 0.5,
    knobs: { model: 'small', layers: 6, maxTokens: 256, cache: true, batch: { maxSize: 8, maxWaitMs: 2 } },
  },
}

function createService(power: PowerModeController<'normal' | 'low'>) {
  const cache = new Map<number, number>()
  const infer = power.batcher((items: TraceRequest[]) => {
    const k = power.knobs as unknown as Knobs
    invocationOverhead()
    return items.map((r) => forward(r.prompt, Math.min(r.tokens, k.maxTokens), k.layers))
  })
  return async function handle(request: TraceRequest): Promise<number> {
    return power.run(async () => {
      const k = power.knobs as unknown as Knobs
      const key = request.prompt * 10_000 + Math.min(request.tokens, k.maxTokens)
      if (k.cache) {
        const hit = cache.get(key)
        if (hit !== undefined) return hit
      }
      const result = await infer(request)
      if (k.cache) {
        if (cache.size >= 1024) cache.delete(cache.keys().next().value as number)
        cache.set(key, result)
      }
      return result
    })
  }
}

interface RunResult {
  mode: string
  cpuSeconds: number
  wallSeconds: number
  p95Ms: number
  joulesPerRequest: Record<CpuPowerModel, number>
  /** Package energy per request from RAPL, where the machine exposes it (whole machine, not just this process). */
  measuredJoulesPerRequest: number | undefined
}

// Measured joules where the machine exposes RAPL (not on this CI machine kind).
const rapl = raplSource()
const raplStatus = await rapl.available()
const raplJoules = async (): Promise<number | undefined> => {
  if (!raplStatus.available) return undefined
  const reading = await rapl.read(Date.now())
  return 'joules' in reading ? reading.joules : undefined
}

async function runOnce(mode: 'normal' | 'low', trace: TraceRequest[]): Promise<RunResult> {
  const power = createPowerModeController({ modes: MODES, initial: mode })
  const handle = createService(power)
  const latencies: number[] = []
  let next = 0
  const rapl0 = await raplJoules()
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (next < trace.length) {
        const request = trace[next++] as TraceRequest
        const start = performance.now()
        await handle(request)
        latencies.push(performance.now() - start)
      }
    }),
  )
  const wallSeconds = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  const rapl1 = await raplJoules()
  const cpuSeconds = (cpu.user + cpu.system) / 1e6
  power.close()
  latencies.sort((a, b) => a - b)
  const joulesPerRequest = Object.fromEntries(
    MODELS.map((m) => [m, cpuEnergyJoules(m, cpuSeconds, wallSeconds, CORES, TDP) / trace.length]),
  ) as Record<CpuPowerModel, number>
  return {
    mode,
    cpuSeconds,
    wallSeconds,
    p95Ms: latencies[Math.floor(0.95 * (latencies.length - 1))] as number,
    joulesPerRequest,
    measuredJoulesPerRequest:
      rapl0 !== undefined && rapl1 !== undefined ? (rapl1 - rapl0) / trace.length : undefined,
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

const trace = makeTrace(REQUESTS, 42)
console.log(
  `# low-power benchmark · ${new Date().toISOString().slice(0, 10)} · Node ${process.version} · ${CORES} × ${cpus()[0]?.model ?? 'CPU'} · TDP ${TDP} W (modelled)`,
)
console.log(
  `# trace: ${REQUESTS} seeded requests, ${CLIENTS} closed-loop clients, ${RUNS_PER_MODE} interleaved runs per mode\n`,
)

await runOnce('normal', trace.slice(0, 100)) // warm-up: JIT both code paths before measuring
await runOnce('low', trace.slice(0, 100))

const normal: RunResult[] = []
const low: RunResult[] = []
for (let i = 0; i < RUNS_PER_MODE; i++) {
  normal.push(await runOnce('normal', trace))
  low.push(await runOnce('low', trace))
}

console.log('| run | mode | CPU s | wall s | p95 ms | J/req teads | J/req linear | J/req cubic |')
console.log('|---:|---|---:|---:|---:|---:|---:|---:|')
for (let i = 0; i < RUNS_PER_MODE; i++) {
  for (const r of [normal[i], low[i]] as RunResult[]) {
    console.log(
      `| ${i + 1} | ${r.mode} | ${r.cpuSeconds.toFixed(3)} | ${r.wallSeconds.toFixed(3)} | ${r.p95Ms.toFixed(1)} | ${MODELS.map((m) => r.joulesPerRequest[m].toFixed(4)).join(' | ')} |`,
    )
  }
}

const saving: Record<CpuPowerModel, { median: number; worst: number }> = {} as never
for (const m of MODELS) {
  const medNormal = median(normal.map((r) => r.joulesPerRequest[m]))
  const medLow = median(low.map((r) => r.joulesPerRequest[m]))
  const pairs = normal.map((n, i) => 1 - (low[i] as RunResult).joulesPerRequest[m] / n.joulesPerRequest[m])
  saving[m] = { median: 1 - medLow / medNormal, worst: Math.min(...pairs) }
}
const pct = (x: number) => `${(x * 100).toFixed(1)}%`
console.log('\n| model | saving (medians) | saving (worst pair) |')
console.log('|---|---:|---:|')
for (const m of MODELS) console.log(`| ${m} | ${pct(saving[m].median)} | ${pct(saving[m].worst)} |`)

if (raplStatus.available) {
  const medNormal = median(normal.map((r) => r.measuredJoulesPerRequest ?? Number.NaN))
  const medLow = median(low.map((r) => r.measuredJoulesPerRequest ?? Number.NaN))
  console.log(
    `\nRAPL (measured, whole CPU package): ${medNormal.toFixed(4)} J/request (normal) vs ${medLow.toFixed(4)} J/request (low): ${pct(1 - medLow / medNormal)} less`,
  )
} else {
  console.log(`\nRAPL: not available here (${raplStatus.reason}); the figures above are modelled`)
}

console.log(
  `\nlow-power: ${pct(saving.teads.median).replace('%', '')}% less energy per request (teads), ${pct(saving.linear.median)} (linear), ${pct(saving.cubic.median)} (cubic); p95 ${median(normal.map((r) => r.p95Ms)).toFixed(1)} ms (normal) vs ${median(low.map((r) => r.p95Ms)).toFixed(1)} ms (low)`,
)
const target = MODELS.every((m) => saving[m].median >= 0.3 && saving[m].worst >= 0.3)
console.log(
  `target (≥ 30% under every model, on the median and the worst pair): ${target ? 'met' : 'NOT met'}`,
)
