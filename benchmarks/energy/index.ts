/**
 * @cortex/energy's costs, measured in one run:
 *  - attribution per request: one `startRequest`/`end` pair (route known at
 *    the start, or given at the end as the Express and Koa adapters do),
 *    against a naive closure-per-request tracker and the two clock reads
 *    alone. Target ≤ 100 ns per pair.
 *  - sampling overhead at 1 Hz as a share of one core: the CPU time
 *    (`process.cpuUsage`) of N `sample()` calls, divided by N × 1 s, for the
 *    sources this machine kind has (the CPU and RAM models), a RAPL fixture
 *    tree with two packages (sysfs reads) and a fake nvidia-smi (one process
 *    spawn per sample). Target ≤ 0.5% of a core.
 */
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  cpuModelSource,
  createEnergyMeter,
  type EnergySource,
  nvidiaSmiSource,
  ramModelSource,
  raplSource,
} from '@cortex/energy'
import { compare, printEnvironment } from '../_lib/compare.js'

const N = 1000
let sink = 0

await printEnvironment()

// --- attribution per startRequest/end pair --------------------------------
const idle: EnergySource = {
  name: 'idle',
  kind: 'measured',
  component: 'cpu',
  available: async () => ({ available: true }),
  read: async () => ({ watts: 50 }),
}
const meter = createEnergyMeter({ sources: [idle] })
// The same ledger with a clock that costs nothing: the attribution logic alone.
const constantClockMeter = createEnergyMeter({ sources: [idle], clock: () => 1_764_000_000_000 })
const routes = Array.from({ length: 16 }, (_, i) => `POST /route/${i}`)
const ends: ((route?: string, atMs?: number) => void)[] = new Array(8)
/** Where the passed-in times of the row that supplies them have got to. */
let passedAt = meter.now()

/** A tracker that allocates a closure and reads the clock per request, as a naive implementation would. */
const naive = new Map<string, { ms: number; count: number }>()
for (const r of routes) naive.set(r, { ms: 0, count: 0 })
function naiveStart(route: string): () => void {
  const t0 = performance.now()
  return () => {
    const slot = naive.get(route) as { ms: number; count: number }
    slot.ms += performance.now() - t0
    slot.count++
  }
}

await compare('energy attribution: one startRequest/end pair (8 in flight, 16 routes)', [
  {
    name: '@cortex/energy startRequest(route) … end()',
    ours: true,
    opsPerCall: N,
    fn() {
      for (let i = 0; i < N; i += 8) {
        for (let k = 0; k < 8; k++) ends[k] = meter.startRequest(routes[(i + k) & 15])
        for (let k = 7; k >= 0; k--) ends[k]?.()
      }
    },
  },
  {
    name: '@cortex/energy startRequest() … end(route)',
    ours: true,
    opsPerCall: N,
    fn() {
      for (let i = 0; i < N; i += 8) {
        for (let k = 0; k < 8; k++) ends[k] = meter.startRequest()
        for (let k = 7; k >= 0; k--) ends[k]?.(routes[(i + k) & 15])
      }
    },
  },
  {
    name: '@cortex/energy startRequest(route, t) … end(undefined, t), times passed in (no clock read)',
    ours: true,
    opsPerCall: N,
    fn() {
      // The caller's own timestamps (a request timer that ran anyway), advancing like a clock.
      let t = passedAt
      for (let i = 0; i < N; i += 8) {
        for (let k = 0; k < 8; k++) {
          t += 0.003
          ends[k] = meter.startRequest(routes[(i + k) & 15], t)
        }
        for (let k = 7; k >= 0; k--) {
          t += 0.003
          ends[k]?.(undefined, t)
        }
      }
      passedAt = t
    },
  },
  {
    name: '@cortex/energy startRequest(route) … end(), constant clock (logic only)',
    ours: true,
    opsPerCall: N,
    fn() {
      for (let i = 0; i < N; i += 8) {
        for (let k = 0; k < 8; k++) ends[k] = constantClockMeter.startRequest(routes[(i + k) & 15])
        for (let k = 7; k >= 0; k--) ends[k]?.()
      }
    },
  },
  {
    name: 'naive closure per request + Map',
    opsPerCall: N,
    fn() {
      const open: (() => void)[] = []
      for (let i = 0; i < N; i += 8) {
        for (let k = 0; k < 8; k++) open.push(naiveStart(routes[(i + k) & 15] as string))
        while (open.length > 0) open.pop()?.()
      }
    },
  },
  {
    name: 'two performance.now() reads alone',
    opsPerCall: N,
    fn() {
      for (let i = 0; i < N; i++) sink += performance.now() - performance.now()
    },
  },
])
await meter.sample()
console.log(`\n(sanity: ${Object.keys(meter.snapshot().routes).length} routes attributed)`)

// --- sampling overhead at 1 Hz ---------------------------------------------
async function samplingShare(name: string, sources: EnergySource[], samples: number): Promise<string> {
  const m = createEnergyMeter({ sources, powerBudgetWatts: 100 })
  for (const r of routes) m.startRequest(r)() // 16 routes with history, as a small service
  await m.sample()
  const before = process.cpuUsage()
  const wall = performance.now()
  for (let i = 0; i < samples; i++) {
    const end = m.startRequest(routes[i & 15])
    await m.sample()
    end()
  }
  const used = process.cpuUsage(before)
  const cpuSecondsPerSample = (used.user + used.system) / 1e6 / samples
  const wallMsPerSample = (performance.now() - wall) / samples
  return `| ${name} | ${samples} | ${(cpuSecondsPerSample * 1e6).toFixed(1)} µs | ${wallMsPerSample.toFixed(3)} ms | ${(cpuSecondsPerSample * 100).toFixed(4)}% |`
}

const base = await mkdtemp(join(tmpdir(), 'cortex-bench-energy-'))
try {
  for (const [pkg, id] of [
    ['package-0', 'intel-rapl:0'],
    ['package-1', 'intel-rapl:1'],
    ['core', 'intel-rapl:0:0'],
  ] as const) {
    const dir = join(base, 'powercap', id)
    await mkdir(dir, { recursive: true })
    await writeFile(join(dir, 'name'), `${pkg}\n`)
    await writeFile(join(dir, 'energy_uj'), '123456789\n')
    await writeFile(join(dir, 'max_energy_range_uj'), '262143328850\n')
  }
  const fakeSmi = join(base, 'nvidia-smi')
  await writeFile(fakeSmi, '#!/bin/sh\necho "0, NVIDIA A100, 61.2"\necho "1, NVIDIA A100, 58.9"\n')
  await chmod(fakeSmi, 0o755)

  const rows = [
    await samplingShare(
      'CPU model + RAM model (this machine\'s "auto")',
      [cpuModelSource(), ramModelSource()],
      2000,
    ),
    await samplingShare(
      'RAPL, 2 packages (fixture sysfs)',
      [raplSource({ root: join(base, 'powercap') })],
      2000,
    ),
    await samplingShare(
      'nvidia-smi, 2 GPUs (fake script, 1 spawn/sample)',
      [nvidiaSmiSource({ command: fakeSmi })],
      100,
    ),
  ]
  console.log('\n## sampling overhead at 1 Hz (CPU time of sample() ÷ 1 s)\n')
  console.log('| sources | samples | CPU per sample | wall per sample | share of one core at 1 Hz |')
  console.log('|---|---:|---:|---:|---:|')
  for (const r of rows) console.log(r)
} finally {
  await rm(base, { recursive: true, force: true })
}
if (sink === 42) console.log('')
