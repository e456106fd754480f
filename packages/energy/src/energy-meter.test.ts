import { execFile, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { isCortexError } from '@cortex/core'
import { Registry } from 'prom-client'
import { afterEach, describe, expect, it } from 'vitest'
import { createEnergyMeter, type EnergyMeterOptions } from './energy-meter.js'
import type { EnergySource } from './source.js'

const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

/** A measured source whose power the test sets. */
function powerSource(initialWatts: number, component: EnergySource['component'] = 'cpu') {
  let watts = initialWatts
  const source: EnergySource = {
    name: `fake-${component}`,
    kind: 'measured',
    component,
    available: async () => ({ available: true }),
    read: async () => ({ watts }),
  }
  return {
    source,
    set(w: number) {
      watts = w
    },
  }
}

function manualClock() {
  let now = 1_700_000_000_000
  return {
    clock: () => now,
    advance(ms: number) {
      now += ms
    },
  }
}

describe('createEnergyMeter', () => {
  it('integrating constant power gives P × t', async () => {
    const t = manualClock()
    const power = powerSource(42)
    const meter = createEnergyMeter({ sources: [power.source], clock: t.clock, carbonIntensity: 500 })
    await meter.sample()
    for (let i = 0; i < 10; i++) {
      t.advance(1000)
      await meter.sample()
    }
    const s = meter.snapshot()
    expect(s.joules).toBe(420)
    expect(s.durationSeconds).toBe(10)
    expect(s.avgWatts).toBe(42)
    expect(s.currentWatts).toBe(42)
    expect(s.kWh).toBeCloseTo(420 / 3.6e6, 15)
    expect(s.co2Grams).toBeCloseTo((420 / 3.6e6) * 500, 12)
    expect(s.carbonIntensity).toEqual({ gramsPerKWh: 500, source: 'fixed' })
    expect(s.estimated).toBe(false)
    expect(s.startedAt).toBe(new Date(1_700_000_000_000).toISOString())
  })

  it('shares each interval among requests in flight and the shares sum to the energy (injected clock)', async () => {
    const t = manualClock()
    const meter = createEnergyMeter({ sources: [powerSource(100).source], clock: t.clock })
    await meter.sample()
    const a = meter.startRequest('POST /embed/multimodal')
    t.advance(500)
    const b = meter.startRequest('GET /health')
    t.advance(500)
    await meter.sample() // 100 J: a 1000 ms, b 500 ms
    a()
    t.advance(1000)
    b()
    await meter.sample() // 100 J, b alone
    const s = meter.snapshot()
    expect(s.routes['POST /embed/multimodal']?.joules).toBeCloseTo(200 / 3, 9)
    expect(s.routes['GET /health']?.joules).toBeCloseTo(100 / 3 + 100, 9)
    const sum = Object.values(s.routes).reduce((n, r) => n + r.joules, 0)
    expect(sum + s.unattributedJoules + s.pendingJoules).toBeCloseTo(s.joules, 9)
    expect(s.routes['GET /health']).toMatchObject({
      requests: 1,
      joulesPerRequest: s.routes['GET /health']?.joules,
    })
    expect(s.routes['GET /health']?.co2Grams).toBeCloseTo(
      ((100 / 3 + 100) / 3.6e6) * s.carbonIntensity.gramsPerKWh,
      12,
    )
  })

  // Issue 19, finding 5: per-route joules read 0 until the next sample closed the interval.
  it("a request's route figures include the open interval's estimate until the next sample", async () => {
    const t = manualClock()
    const meter = createEnergyMeter({ sources: [powerSource(60).source], clock: t.clock, carbonIntensity: 0 })
    await meter.sample()
    t.advance(1000)
    await meter.sample() // 60 W over the latest interval
    const end = meter.startRequest()
    t.advance(500)
    end('POST /agents/plan', undefined, 200)
    const before = meter.snapshot().routes['POST /agents/plan']
    expect(before?.joules).toBeCloseTo(30, 9)
    expect(before?.provisionalJoules).toBeCloseTo(30, 9)
    expect(before?.byStatusClass['2xx']?.settledJoules).toBe(0)
    t.advance(500)
    await meter.sample()
    expect(meter.snapshot().routes['POST /agents/plan']).toMatchObject({ joules: 60, provisionalJoules: 0 })
  })

  it('fires the budget event after the average passes the budget and clears it with hysteresis', async () => {
    const t = manualClock()
    const power = powerSource(80)
    const meter = createEnergyMeter({
      sources: [power.source],
      clock: t.clock,
      powerBudgetWatts: 100,
      budgetWindowMs: 3000,
    })
    const events: { overBudget: boolean; averageWatts: number }[] = []
    meter.on('budget', (e) => events.push({ overBudget: e.overBudget, averageWatts: e.averageWatts }))
    const step = async (watts: number) => {
      power.set(watts)
      t.advance(1000)
      return meter.sample()
    }
    await meter.sample()
    await step(80)
    await step(80)
    expect((await step(160)).overBudget).toBe(false) // 3 s average: (80 + 80 + 120) / 3 ≈ 93 W
    expect(events).toEqual([])
    const over = await step(160) // (80 + 120 + 160) / 3 = 120 W
    expect(over.overBudget).toBe(true)
    expect(events).toEqual([{ overBudget: true, averageWatts: 120 }])
    expect(over.budgetAverageWatts).toBe(120)
    // Back to 95 W: below the budget but above 90 W (10% hysteresis) → still over budget.
    for (let i = 0; i < 4; i++) await step(95)
    expect(meter.snapshot().overBudget).toBe(true)
    expect(events).toHaveLength(1)
    await step(80)
    await step(80)
    expect(meter.snapshot().overBudget).toBe(false)
    expect(events[1]?.overBudget).toBe(false)
    expect(events[1]?.averageWatts).toBeLessThan(90)
  })

  it('listener errors never break sampling; on() returns an unsubscribe', async () => {
    const t = manualClock()
    const meter = createEnergyMeter({
      sources: [powerSource(200).source],
      clock: t.clock,
      powerBudgetWatts: 100,
    })
    const seen: boolean[] = []
    const off = meter.on('budget', () => {
      throw new Error('listener bug')
    })
    meter.on('budget', (e) => seen.push(e.overBudget))
    await meter.sample()
    t.advance(1000)
    await expect(meter.sample()).resolves.toMatchObject({ overBudget: true })
    expect(seen).toEqual([true])
    off()
  })

  it('counts failed reads of a source and goes on', async () => {
    const t = manualClock()
    let fail = false
    const flaky: EnergySource = {
      name: 'flaky',
      kind: 'measured',
      component: 'gpu',
      available: async () => ({ available: true }),
      read: async () => {
        if (fail) throw new Error('sensor gone')
        return { joules: 10 * t.clock() }
      },
    }
    const meter = createEnergyMeter({ sources: [flaky], clock: t.clock })
    await meter.sample()
    fail = true
    t.advance(1000)
    const s = await meter.sample()
    expect(s.sources[0]).toMatchObject({ errors: 1, lastError: 'sensor gone' })
    fail = false
    t.advance(1000)
    // The counter's growth over both intervals is kept.
    expect((await meter.sample()).gpu.joules).toBe(20_000)
  })

  it('shares one reading between concurrent sample() calls', async () => {
    let reads = 0
    const source: EnergySource = {
      name: 'count',
      kind: 'measured',
      component: 'cpu',
      available: async () => ({ available: true }),
      read: async () => ({ joules: ++reads }),
    }
    const meter = createEnergyMeter({ sources: [source], clock: () => 0 })
    await Promise.all([meter.sample(), meter.sample(), meter.sample()])
    expect(reads).toBe(1)
  })

  it('start() samples on an unref’d interval timer and stop() clears it', async () => {
    const calls: string[] = []
    let tick: (() => void) | undefined
    const meter = createEnergyMeter({
      sources: [powerSource(10).source],
      intervalMs: '2s',
      clock: () => 0,
      timers: {
        setInterval: (fn, ms) => {
          calls.push(`set ${ms}`)
          tick = fn
          return { unref: () => calls.push('unref') }
        },
        clearInterval: () => calls.push('clear'),
      },
    })
    meter.start()
    meter.start()
    tick?.()
    meter.stop()
    meter.stop()
    expect(calls).toEqual(['set 2000', 'unref', 'clear'])
    await meter.sample()
    expect(meter.snapshot().samples).toBeGreaterThanOrEqual(1)
  })

  it('snapshot() is JSON-serialisable and round-trips', async () => {
    const meter = createEnergyMeter({
      sources: [powerSource(10).source],
      carbonIntensity: { country: 'FRA' },
    })
    meter.startRequest('GET /x')()
    await meter.sample()
    const s = meter.snapshot()
    expect(JSON.parse(JSON.stringify(s))).toEqual(s)
  })

  it("'auto' measures with every working sensor and models the rest, saying which and why", async () => {
    const base = await mkdtemp(join(tmpdir(), 'cortex-auto-'))
    dirs.push(base)
    const rapl = join(base, 'powercap', 'intel-rapl:0')
    await mkdir(rapl, { recursive: true })
    await writeFile(join(rapl, 'name'), 'package-0\n')
    await writeFile(join(rapl, 'energy_uj'), '1000000\n')
    await writeFile(join(rapl, 'max_energy_range_uj'), '262143328850\n')
    const meter = createEnergyMeter({
      sources: 'auto',
      auto: {
        rapl: { root: join(base, 'powercap') },
        hwmon: { root: join(base, 'hwmon') },
        nvidiaSmi: { command: join(base, 'no-nvidia-smi') },
        ramModel: { totalBytes: 16 * 1024 ** 3 },
      },
      clock: () => 0,
    })
    const s = await meter.sample()
    const byName = Object.fromEntries(s.sources.map((x) => [x.name, x]))
    expect(byName.rapl).toMatchObject({ used: true, kind: 'measured' })
    expect(byName['cpu-model']).toMatchObject({ used: false, reason: 'not needed: rapl measures cpu' })
    expect(byName['ram-model']).toMatchObject({ used: true, reason: expect.stringContaining('modelled') })
    expect(byName['rapl-dram']).toMatchObject({
      used: false,
      reason: expect.stringContaining('no RAPL dram'),
    })
    expect(byName['nvidia-smi']).toMatchObject({ used: false, reason: expect.stringContaining('not found') })
    expect(byName.hwmon).toMatchObject({ used: false })
    expect(s.cpu).toMatchObject({ sources: ['rapl'], estimated: false })
    expect(s.ram).toMatchObject({ sources: ['ram-model'], estimated: true })
    expect(s.estimated).toBe(true)
  })

  it("'auto' on this machine kind (no powercap, hwmon or GPU) falls back to the models", async () => {
    const meter = createEnergyMeter({
      auto: { nvidiaSmi: { command: join(tmpdir(), 'cortex-no-nvidia-smi') } },
      clock: () => 0,
    })
    const s = await meter.sample()
    if (!existsSync('/sys/class/powercap') && !existsSync('/sys/class/hwmon')) {
      expect(s.cpu.sources).toEqual(['cpu-model'])
      expect(s.estimated).toBe(true)
    }
    expect(s.sources.filter((x) => x.used).length).toBeGreaterThan(0)
  })

  it.each<[Partial<EnergyMeterOptions>, string]>([
    [{ intervalMs: 5 }, 'intervalMs'],
    [{ intervalMs: -1 }, 'intervalMs'],
    [{ carbonIntensity: { country: 'ZZZ' } }, 'carbonIntensity.country'],
    [{ carbonIntensity: -1 }, 'carbonIntensity'],
    [{ powerBudgetWatts: 0 }, 'powerBudgetWatts'],
    [{ budgetHysteresis: 1 }, 'budgetHysteresis'],
    [{ sources: [] }, 'sources'],
    [{ sources: [{ name: 'x' } as never] }, 'sources[0]'],
    [{ maxRoutes: 0 }, 'maxRoutes'],
    [{ auto: { cpuModel: { tdpWatts: -10 } } }, 'tdpWatts'],
    [{ auto: { cpuModel: { curve: 'exponential' as never } } }, 'curve'],
    [{ intervalMS: 1000 } as never, 'intervalMS'],
  ])('rejects %j with a CortexConfigError naming %s', (options, field) => {
    try {
      createEnergyMeter(options as EnergyMeterOptions)
      expect.unreachable()
    } catch (err) {
      expect(isCortexError(err, 'ERR_CORTEX_CONFIG')).toBe(true)
      expect((err as { option: string }).option).toBe(field)
    }
  })
})

describe('prom-client metrics', () => {
  async function scrape() {
    const t = manualClock()
    const meter = createEnergyMeter({
      sources: [powerSource(50).source, powerSource(10, 'ram').source],
      clock: t.clock,
      carbonIntensity: { country: 'DEU' },
      powerBudgetWatts: 100,
    })
    const registry = new Registry()
    meter.registerMetrics(registry)
    await meter.sample()
    const end = meter.startRequest('POST /embed/multimodal')
    t.advance(2000)
    end()
    meter.startRequest()('GET /health', undefined, 204)
    await meter.sample()
    return { text: await registry.metrics(), meter }
  }

  it('exposes the binding metric names with their values', async () => {
    const { text } = await scrape()
    expect(text).toContain('# TYPE energy_joules_total counter')
    expect(text).toContain('energy_joules_total{component="cpu"} 100')
    expect(text).toContain('energy_joules_total{component="ram"} 20')
    expect(text).toContain('power_watts{component="cpu"} 50')
    expect(text).toMatch(/co2_grams_total 0\.0114/)
    expect(text).toContain('carbon_intensity_grams_per_kwh 342.06')
    expect(text).toContain('# TYPE energy_per_request_joules summary')
    // The labels of the SLO metrics (issue 19, finding 6), and the outcome (finding 5).
    expect(text).toContain(
      'energy_per_request_joules_sum{method="POST",route="/embed/multimodal",status_class="none"} 120',
    )
    expect(text).toContain(
      'energy_per_request_joules_count{method="POST",route="/embed/multimodal",status_class="none"} 1',
    )
    expect(text).toContain(
      'energy_per_request_joules_count{method="GET",route="/health",status_class="2xx"} 1',
    )
    expect(text).toContain('host_power_watts{component="cpu"} 50')
    expect(text).toContain('energy_estimated 0')
    expect(text).toContain('power_budget_watts 100')
  })

  const promtool = [
    process.env.CORTEX_PROMTOOL,
    join(homedir(), '.cache/cortex-ci/prometheus/usr/bin/promtool'),
  ].find((p) => p !== undefined && existsSync(p))
  if (promtool === undefined) {
    const message = 'promtool not found: skipping the Prometheus parse check of the energy metrics'
    if (process.env.CORTEX_REQUIRE_PROMETHEUS === '1') throw new Error(message)
    console.warn(message)
  }

  it.skipIf(promtool === undefined)('parses with promtool check metrics', async () => {
    const { text } = await scrape()
    const result = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(promtool as string, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] })
      let out = ''
      child.stdout.on('data', (d) => (out += d))
      child.stderr.on('data', (d) => (out += d))
      child.on('close', (code) => resolve({ code, out }))
      child.stdin.end(text)
    })
    expect(result.out).toBe('')
    expect(result.code).toBe(0)
  })
})

describe('process lifetime', () => {
  it('a started meter never keeps the process alive', async () => {
    const here = fileURLToPath(new URL('.', import.meta.url))
    const core = pathToFileURL(join(here, '../../core/src/index.ts')).href
    const entry = pathToFileURL(join(here, 'index.ts')).href
    const dir = await mkdtemp(join(tmpdir(), 'cortex-lifetime-'))
    dirs.push(dir)
    const script = join(dir, 'child.mjs')
    // Map @cortex/core to its source so the check does not need a build.
    const hook = `export async function resolve(s, c, next) { return next(s === '@cortex/core' ? ${JSON.stringify(core)} : s, c) }`
    await writeFile(
      script,
      `import { register } from 'node:module'
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}))
const { createEnergyMeter } = await import(${JSON.stringify(entry)})
const meter = createEnergyMeter({ intervalMs: 20, auto: { nvidiaSmi: false } })
meter.start()
meter.startRequest('GET /x')
setTimeout(() => console.log('samples', meter.snapshot().samples), 150)
`,
    )
    const started = Date.now()
    const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        ['--import', 'tsx', script],
        { cwd: join(here, '../../..'), timeout: 20_000 },
        (err, stdout) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout: String(stdout) }),
      )
      child.stdin?.end()
    })
    expect(code).toBe(0)
    expect(stdout).toMatch(/samples [1-9]/)
    expect(Date.now() - started).toBeLessThan(20_000)
  })
})
