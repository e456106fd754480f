/**
 * HTTP overhead, in one run, with autocannon on loopback: for Express, Fastify
 * and Koa, a bare server, the full @cortex stack (rate limit + SLO tracking +
 * energy tracking + power mode) and the peer stack users assemble today
 * (Express: express-rate-limit + express-prom-bundle; Fastify:
 * @fastify/rate-limit + fastify-metrics; Koa: koa-ratelimit + a prom-client
 * middleware). Each server runs in its own process; a framework's servers
 * all run at once and the rounds alternate between them, seconds apart, and
 * every few rounds all the servers are replaced by fresh processes, warmed
 * up in a new order each time. The table gives each stack's median req/s,
 * p99 and CPU per request, and its loss against bare as the median over
 * rounds of the ratio to that round's bare server.
 *
 * Three reference rows follow. The floor is a server doing only what any
 * implementation of the stack must: one middleware or `onRequest` hook that
 * sets the three response headers the stack sends (`RateLimit-Policy`,
 * `RateLimit`, `Power-Mode`) the framework's cheapest way and adds one
 * 'close' listener (a no-op) to see the response end, which SLO latency,
 * energy attribution and the concurrency slot all need
 * (`CORTEX_ONLY=floor` in server.ts). No implementation can cost less.
 * Observe is the floor without the headers: one middleware or hook adding
 * one 'close' listener, what seeing each request start and end costs by
 * itself (`CORTEX_ONLY=observe`). Direct calls the same four primitives by
 * hand from one hook for this one route (fixed route, policy and header
 * names, one clock read at each end, no options or checks;
 * `CORTEX_ONLY=direct`): its gap to the floor is the primitives' own work,
 * and `cortex()`'s gap to it is what the adapter's generality costs.
 *
 *   BENCH_HTTP_SECONDS   seconds per measurement (default 2)
 *   BENCH_HTTP_ROUNDS    rounds (default 15)
 *   BENCH_HTTP_PROCESSES server processes per stack, each serving an equal share of the rounds (default 5)
 *   BENCH_HTTP_PIN=0     do not pin the server and autocannon to separate CPUs
 *   BENCH_HTTP_FRAMEWORKS a comma-separated subset of express,fastify,koa,hono (default all;
 *                         Hono on Node runs bare, cortex(), floor and observe only)
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { pinThisProcess } from '../_lib/compare.js'

const SECONDS = positiveNumber('BENCH_HTTP_SECONDS', 2, false)
const ROUNDS = positiveNumber('BENCH_HTTP_ROUNDS', 15, true)
const PROCESSES = Math.min(ROUNDS, positiveNumber('BENCH_HTTP_PROCESSES', 5, true))
const WARMUP = 2
const ALL_FRAMEWORKS = ['express', 'fastify', 'koa', 'hono'] as const
const FRAMEWORKS = frameworksToRun(process.env.BENCH_HTTP_FRAMEWORKS)
const STACKS = ['bare', 'cortex', 'peer', 'direct', 'floor', 'observe'] as const
type Stack = (typeof STACKS)[number]
/** The stacks each framework runs: Hono (on Node) has no peer stack or hand-wired row here. */
const STACKS_OF: Record<(typeof ALL_FRAMEWORKS)[number], readonly Stack[]> = {
  express: STACKS,
  fastify: STACKS,
  koa: STACKS,
  hono: ['bare', 'cortex', 'floor', 'observe'],
}
const PEERS: Record<string, string> = {
  express: 'express-rate-limit + express-prom-bundle',
  fastify: '@fastify/rate-limit + fastify-metrics',
  koa: 'koa-ratelimit + prom-client middleware',
}

/** An environment setting that must be a number above 0 (a whole number ≥ 1 if `whole`), or its default when unset. */
function positiveNumber(name: string, fallback: number, whole: boolean): number {
  const raw = process.env[name]
  if (raw === undefined || raw.trim() === '') return fallback
  const value = Number(raw)
  if (whole ? !Number.isInteger(value) || value < 1 : !(value > 0 && Number.isFinite(value))) {
    throw new Error(
      `${name}: expected ${whole ? 'a whole number ≥ 1' : 'a number of seconds above 0'}, got "${raw}"`,
    )
  }
  return value
}

function frameworksToRun(list: string | undefined): readonly (typeof ALL_FRAMEWORKS)[number][] {
  if (list === undefined || list.trim() === '') return ALL_FRAMEWORKS
  const names = list.split(',').map((s) => s.trim())
  for (const name of names) {
    if (!(ALL_FRAMEWORKS as readonly string[]).includes(name)) {
      throw new Error(`BENCH_HTTP_FRAMEWORKS: "${name}" is not one of ${ALL_FRAMEWORKS.join(', ')}`)
    }
  }
  return ALL_FRAMEWORKS.filter((f) => names.includes(f))
}

/**
 * On Linux with two or more CPUs, the server runs on CPU 1 and autocannon
 * (this process) on CPU 0, so they do not steal each other's core and the
 * figures are far steadier; elsewhere both float.
 */
const PIN = pinThisProcess(0, 'BENCH_HTTP_PIN')

/** CPU time (user + system, µs) the process has used so far, from /proc; undefined elsewhere. */
function cpuMicros(pid: number | undefined): number | undefined {
  const file = `/proc/${pid}/stat`
  if (pid === undefined || !existsSync(file)) return undefined
  const fields = readFileSync(file, 'utf8').split(') ')[1]?.split(' ') ?? []
  // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) * 10_000
}

async function startServer(framework: string, stack: string): Promise<{ child: ChildProcess; port: number }> {
  const diagnostic = stack === 'direct' || stack === 'floor' || stack === 'observe'
  const args = [
    '--import',
    'tsx',
    fileURLToPath(new URL('./server.ts', import.meta.url)),
    framework,
    diagnostic ? 'cortex' : stack,
  ]
  const options = {
    stdio: ['ignore', 'pipe', 'inherit'] as ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, CORTEX_ONLY: diagnostic ? stack : '' },
  }
  const child = PIN
    ? spawn('taskset', ['-c', '1', process.execPath, ...args], options)
    : spawn(process.execPath, args, options)
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${framework}/${stack} server exited (${code})`)))
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', (line) =>
      resolve(JSON.parse(line).port),
    )
  })
  return { child, port }
}

/**
 * The servers in a new order for each round or warm-up (a fixed shuffle per
 * number, so runs are repeatable). A rotation would keep every server right
 * after the same neighbour, and a fixed warm-up order measurably slows the
 * server warmed last for its whole life; a shuffle spreads any such effect
 * over the stacks instead of putting it on one.
 */
function shuffled<T>(items: readonly T[], round: number): T[] {
  const out = [...items]
  let seed = (round + 1) * 2654435761
  for (let i = out.length - 1; i > 0; i--) {
    seed = (Math.imul(seed ^ (seed >>> 15), 2246822519) + 0x9e3779b9) >>> 0
    const j = seed % (i + 1)
    ;[out[i], out[j]] = [out[j] as T, out[i] as T]
  }
  return out
}

/** Stops a server and waits for its exit, so the next processes start on an idle CPU. */
function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve) => {
    child.once('exit', () => resolve())
    child.kill()
  })
}

async function measure(port: number, seconds: number) {
  const r = await autocannon({ url: `http://127.0.0.1:${port}/hello`, connections: 10, duration: seconds })
  if (r.non2xx > 0 || r.errors > 0)
    throw new Error(`non-2xx ${r.non2xx}, errors ${r.errors}: the benchmark must not be refused`)
  return { rps: r.requests.average, p99: r.latency.p99, total: r.requests.total }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number

console.log(
  `# HTTP overhead · ${new Date().toISOString().slice(0, 10)} · Node ${process.version} · ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'} · autocannon 10 connections, ${SECONDS} s × ${ROUNDS} rounds on ${PROCESSES} fresh processes per stack, medians; losses are per-round ratios to that round's bare server${PIN ? ' · server pinned to CPU 1, autocannon to CPU 0' : ''}\n`,
)
const results: Record<string, { rps: number[]; p99: number[]; cpu: number[] }> = {}
for (const framework of FRAMEWORKS) {
  let round = 0
  for (let generation = 1; generation <= PROCESSES; generation++) {
    // Fresh server processes for every stack, all running at once (all on the server CPU,
    // idle but one): the rounds alternate between them seconds apart, so a slow spell of the
    // machine falls on the stacks alike. New processes each generation, because a Node process
    // runs at one of two speeds for its whole life, 15-20 % apart on Fastify here (every stack,
    // bare included), which no number of rounds against the same process averages out.
    const servers: { stack: Stack; child: ChildProcess; port: number }[] = []
    try {
      for (const stack of STACKS_OF[framework])
        servers.push({ stack, ...(await startServer(framework, stack)) })
      // Warmed in a new order each generation: with a fixed order, the server warmed last ran
      // slow in every one of its processes in a test with identical servers, and not once the
      // order was shuffled.
      for (const s of shuffled(servers, 1000 + generation)) await measure(s.port, WARMUP) // JIT and connection set-up
      await new Promise((r) => setTimeout(r, 1000)) // let the last one's clean-up finish
      const last = Math.min(ROUNDS, Math.round((ROUNDS * generation) / PROCESSES))
      for (; round < last; round++) {
        // A different order each round, so no stack always runs right after the same other one.
        for (const { stack, child, port } of shuffled(servers, round)) {
          const cpuBefore = cpuMicros(child.pid)
          const m = await measure(port, SECONDS)
          const cpuAfter = cpuMicros(child.pid)
          const cpuPerRequest =
            cpuBefore === undefined || cpuAfter === undefined ? Number.NaN : (cpuAfter - cpuBefore) / m.total
          const key = `${framework}/${stack}`
          results[key] ??= { rps: [], p99: [], cpu: [] }
          results[key].rps[round] = m.rps
          results[key].p99[round] = m.p99
          results[key].cpu[round] = cpuPerRequest
          process.stderr.write(
            `  round ${round + 1} (processes ${generation}): ${key.padEnd(16)} ${m.rps.toFixed(0).padStart(7)} req/s  p99 ${m.p99} ms  server CPU ${cpuPerRequest.toFixed(1)} µs/req\n`,
          )
        }
      }
    } finally {
      await Promise.all(servers.map((s) => stop(s.child)))
    }
  }
}

console.log(
  '| framework | stack | req/s | p99 (ms) | throughput lost vs bare (median of rounds) | server CPU per request (µs) | CPU added vs bare (median of rounds) |',
)
console.log('|---|---|---:|---:|---:|---:|---:|')
const verdicts: string[] = []
for (const framework of FRAMEWORKS) {
  const bare = results[`${framework}/bare`] as { rps: number[]; cpu: number[] }
  const lost: Record<string, number> = {}
  for (const stack of STACKS_OF[framework]) {
    const r = results[`${framework}/${stack}`] as { rps: number[]; p99: number[]; cpu: number[] }
    const rps = median(r.rps)
    const cpu = median(r.cpu)
    // Each round's stack against the same round's bare server, seconds apart: a slow spell of
    // the machine falls on both, so the median of the per-round ratios is steadier than a
    // ratio of medians.
    lost[stack] = median(r.rps.map((x, i) => 1 - x / (bare.rps[i] as number)))
    const cpuAdded = median(r.cpu.map((x, i) => x / (bare.cpu[i] as number) - 1))
    const name =
      stack === 'bare'
        ? 'bare'
        : stack === 'cortex'
          ? '@cortex cortex(): rate limit + SLO + energy + power mode'
          : stack === 'direct'
            ? 'direct: the same four primitives called by hand for this one route'
            : stack === 'floor'
              ? 'floor: one hook, one close listener, the three headers; no work'
              : stack === 'observe'
                ? 'observe: one hook, one close listener; no headers, no work'
                : PEERS[framework]
    console.log(
      `| ${framework} | ${name} | ${rps.toFixed(0)} | ${median(r.p99)} | ${stack === 'bare' ? '' : `${(lost[stack] * 100).toFixed(1)}%`} | ${cpu.toFixed(1)} | ${stack === 'bare' ? '' : `${cpuAdded >= 0 ? '+' : ''}${(cpuAdded * 100).toFixed(1)}%`} |`,
    )
  }
  if (lost.peer === undefined) {
    verdicts.push(
      `${framework}: @cortex costs ${((lost.cortex as number) * 100).toFixed(1)}% of bare req/s (no peer stack measured); the floor ${((lost.floor as number) * 100).toFixed(1)}%, observing start and end alone ${((lost.observe as number) * 100).toFixed(1)}%`,
    )
    continue
  }
  verdicts.push(
    `${framework}: @cortex costs ${((lost.cortex as number) * 100).toFixed(1)}% of bare req/s, the peer stack ${((lost.peer as number) * 100).toFixed(1)}% (${(lost.cortex as number) < (lost.peer as number) ? 'less than the peers' : 'NOT less than the peers'}); the same primitives called by hand ${((lost.direct as number) * 100).toFixed(1)}%; the floor (hook + close listener + headers, no work) ${((lost.floor as number) * 100).toFixed(1)}%, observing start and end alone ${((lost.observe as number) * 100).toFixed(1)}%`,
  )
}
console.log(`\n${verdicts.join('\n')}`)
