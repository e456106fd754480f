import { mkdir, mkdtemp, rm, unlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isCortexError } from '@cortex/core'
import { afterEach, describe, expect, it } from 'vitest'
import { createEnergyMeter, type EnergyMeterOptions } from './energy-meter.js'
import { ramModelSource } from './ram-model-source.js'
import { raplSource } from './rapl-source.js'
import type { EnergySource } from './source.js'

const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

const GiB = 1024 ** 3

/**
 * One machine as fixture trees: a RAPL package zone and a procfs with the
 * machine's CPU time and memory and, per pid, a process's CPU time and RSS.
 */
async function machine() {
  const base = await mkdtemp(join(tmpdir(), 'cortex-share-'))
  dirs.push(base)
  const powercap = join(base, 'powercap')
  const proc = join(base, 'proc')
  const zone = join(powercap, 'intel-rapl:0')
  await mkdir(zone, { recursive: true })
  await writeFile(join(zone, 'name'), 'package-0\n')
  await writeFile(join(zone, 'max_energy_range_uj'), '262143328850\n')
  let energyUj = 1_000_000
  let machineTicks = 10_000
  const processTicks = new Map<number, number>()
  const write = async () => {
    await writeFile(join(zone, 'energy_uj'), `${energyUj}\n`)
    // user nice system idle iowait irq softirq steal guest guest_nice: idle is a quarter, guest is inside user.
    const busy = machineTicks * 0.75
    await writeFile(
      join(proc, 'stat'),
      `cpu  ${busy - 100} 0 100 ${machineTicks * 0.25} 0 0 0 0 50 0\ncpu0 1 2 3 4 5 6 7 8 0 0\nintr 1 2 3\n`,
    )
    for (const [pid, ticks] of processTicks) {
      // A command name with a space and a parenthesis, as /proc allows.
      const fields = [
        'S',
        '1',
        pid,
        pid,
        '0',
        '-1',
        '4194560',
        '100',
        '0',
        '0',
        '0',
        ticks - 10,
        10,
        '0',
        '0',
      ]
      await writeFile(
        join(proc, String(pid), 'stat'),
        `${pid} (node (worker 1)) ${fields.join(' ')} 20 0 11\n`,
      )
    }
  }
  await mkdir(proc, { recursive: true })
  await writeFile(join(proc, 'meminfo'), `MemTotal:       ${16 * 1024 * 1024} kB\nMemFree:  1 kB\n`)
  await write()
  return {
    powercap,
    proc,
    async addProcess(pid: number, rssBytes: number) {
      await mkdir(join(proc, String(pid)), { recursive: true })
      await writeFile(
        join(proc, String(pid), 'status'),
        `Name:\tnode\nVmRSS:\t ${rssBytes / 1024} kB\nThreads:\t7\n`,
      )
      processTicks.set(pid, 1000)
      await write()
    },
    /** The machine runs for a while: `joules` more on the counter, `ticks` of CPU time across its CPUs, and each pid's part. */
    async run(joules: number, ticks: number, perPid: Record<number, number>) {
      energyUj += joules * 1e6
      machineTicks += ticks
      for (const [pid, t] of Object.entries(perPid)) {
        processTicks.set(Number(pid), (processTicks.get(Number(pid)) ?? 0) + t)
      }
      await write()
    },
  }
}

function sourceOf(watts: number, component: EnergySource['component'], scope?: EnergySource['scope']) {
  const source: EnergySource = {
    name: `fixed-${component}`,
    kind: 'measured',
    component,
    ...(scope === undefined ? {} : { scope }),
    available: async () => ({ available: true }),
    read: async () => ({ watts }),
  }
  return source
}

describe('process share of machine energy', () => {
  // Issue 19, finding 1: two workers on one 50 W RAPL tree each reported all of it.
  it('processes on one machine never claim more than it used, and their shares follow their CPU time', async () => {
    const m = await machine()
    const pids = [101, 102, 103]
    for (const pid of pids) await m.addProcess(pid, GiB)
    let now = 0
    const meters = pids.map((pid) =>
      createEnergyMeter({
        sources: [raplSource({ root: m.powercap })],
        processShare: { procRoot: m.proc, pid },
        clock: () => now,
        carbonIntensity: 400,
      }),
    )
    for (const meter of meters) await meter.sample()
    // 50 W for 3.4 s on 2 CPUs at 100 ticks/s: 680 ticks; the workers used 340, 170 and none of them.
    now = 3400
    await m.run(170, 680, { 101: 340, 102: 170, 103: 0 })
    const snaps = await Promise.all(meters.map((meter) => meter.sample()))
    for (const s of snaps) {
      expect(s.host.joules).toBeCloseTo(170, 9)
      expect(s.host.cpu.watts).toBeCloseTo(50, 9)
    }
    const claimed = snaps.reduce((sum, s) => sum + s.joules, 0)
    expect(claimed).toBeLessThanOrEqual(170)
    expect(snaps.map((s) => s.joules)).toEqual([85, 42.5, 0])
    expect(snaps.map((s) => s.share.cpu)).toEqual([0.5, 0.25, 0])
    expect(snaps[0]?.co2Grams).toBeCloseTo((85 / 3.6e6) * 400, 12)
    expect(snaps[0]?.host.co2Grams).toBeCloseTo((170 / 3.6e6) * 400, 12)
    expect(snaps[0]?.share.reader).toBe('procfs')
  })

  it("attributes each process's requests only its share", async () => {
    const m = await machine()
    await m.addProcess(201, GiB)
    await m.addProcess(202, GiB)
    let now = 0
    const meters = [201, 202].map((pid) =>
      createEnergyMeter({
        sources: [raplSource({ root: m.powercap })],
        processShare: { procRoot: m.proc, pid },
        clock: () => now,
      }),
    )
    for (const meter of meters) await meter.sample()
    const ends = meters.map((meter) => meter.startRequest('POST /agents/plan', 0))
    now = 1000
    await m.run(50, 200, { 201: 150, 202: 50 })
    for (const end of ends) end(undefined, 1000, 200)
    const [a, b] = await Promise.all(meters.map((meter) => meter.sample()))
    expect(a?.routes['POST /agents/plan']?.joules).toBeCloseTo(37.5, 9)
    expect(b?.routes['POST /agents/plan']?.joules).toBeCloseTo(12.5, 9)
  })

  it("charges a process its resident memory's share of the machine's RAM power, not all of it", async () => {
    const m = await machine()
    await m.addProcess(301, 2 * GiB)
    let now = 0
    const meter = createEnergyMeter({
      sources: [ramModelSource({ totalBytes: 16 * GiB, mode: 'per-gb' })],
      processShare: { procRoot: m.proc, pid: 301 },
      clock: () => now,
    })
    await meter.sample()
    now = 1000
    const s = await meter.sample()
    expect(s.host.ram.watts).toBeCloseTo(6, 9) // 0.375 W/GB × 16 GB
    expect(s.share.ram).toBe(2 / 16)
    expect(s.ram.watts).toBeCloseTo(0.75, 9)
    expect(s.ram.joules).toBeCloseTo(0.75, 9)
  })

  it('does not attribute machine-wide GPU power to the process, and says so', async () => {
    const m = await machine()
    await m.addProcess(401, GiB)
    let now = 0
    const meter = createEnergyMeter({
      sources: [sourceOf(100, 'gpu', 'machine')],
      processShare: { procRoot: m.proc, pid: 401 },
      clock: () => now,
    })
    await meter.sample()
    now = 1000
    const s = await meter.sample()
    expect(s.host.gpu.joules).toBe(100)
    expect(s.gpu.joules).toBe(0)
    expect(s.share.gpu).toBe(0)
  })

  it('attributes a source that measures this process alone (the default scope) in full', async () => {
    const m = await machine()
    await m.addProcess(501, GiB)
    let now = 0
    const meter = createEnergyMeter({
      sources: [sourceOf(30, 'cpu')],
      processShare: { procRoot: m.proc, pid: 501 },
      clock: () => now,
    })
    await meter.sample()
    now = 1000
    await m.run(30, 200, { 501: 1 })
    const s = await meter.sample()
    expect(s.joules).toBe(30)
    expect(s.host.joules).toBe(30)
  })

  it('processShare: false attributes the whole machine to the process', async () => {
    const m = await machine()
    let now = 0
    const meter = createEnergyMeter({
      sources: [raplSource({ root: m.powercap })],
      processShare: false,
      clock: () => now,
    })
    await meter.sample()
    now = 1000
    await m.run(50, 200, {})
    const s = await meter.sample()
    expect(s.joules).toBe(50)
    expect(s.share).toMatchObject({ rule: 'whole-machine', cpu: 1, ram: 1, gpu: 1 })
  })

  it('keeps the previous share and counts the failure when the counters cannot be read', async () => {
    const m = await machine()
    await m.addProcess(601, GiB)
    let now = 0
    const meter = createEnergyMeter({
      sources: [raplSource({ root: m.powercap })],
      processShare: { procRoot: m.proc, pid: 601 },
      clock: () => now,
    })
    await meter.sample()
    now = 1000
    await m.run(50, 200, { 601: 50 })
    expect((await meter.sample()).joules).toBe(12.5)
    now = 2000
    await m.run(50, 200, {})
    await unlink(join(m.proc, '601', 'stat'))
    const s = await meter.sample()
    expect(s.joules).toBe(25)
    expect(s.host.joules).toBe(100)
    expect(s.share.errors).toBe(1)
    expect(s.share.lastError).toContain('601')
  })

  // Issue 19, finding 3: the machine budget was judged by each worker on its own figure.
  it('compares the machine budget with the machine power, not the process share', async () => {
    const m = await machine()
    await m.addProcess(701, GiB)
    let now = 0
    const meter = createEnergyMeter({
      sources: [raplSource({ root: m.powercap })],
      processShare: { procRoot: m.proc, pid: 701 },
      powerBudgetWatts: 40,
      budgetWindowMs: 1000,
      clock: () => now,
    })
    const events: number[] = []
    meter.on('budget', (e) => events.push(e.averageWatts))
    await meter.sample()
    now = 1000
    await m.run(50, 200, { 701: 20 }) // 50 W machine, 5 W for this process
    const s = await meter.sample()
    expect(s.currentWatts).toBe(5)
    expect(s.overBudget).toBe(true)
    expect(s.budgetAverageWatts).toBe(50)
    expect(events).toEqual([50])
  })

  it.each<[unknown, string]>([
    [{ pid: 0 }, 'processShare.pid'],
    [{ pid: 'parent' }, 'processShare.pid'],
    [{ procRoot: '' }, 'processShare.procRoot'],
    [{ root: '/proc' }, 'root'],
    ['procfs', 'processShare'],
  ])('rejects processShare %j with a CortexConfigError naming %s', (processShare, field) => {
    try {
      createEnergyMeter({ processShare } as EnergyMeterOptions)
      expect.unreachable()
    } catch (err) {
      expect(isCortexError(err, 'ERR_CORTEX_CONFIG')).toBe(true)
      expect((err as { option: string }).option).toBe(field)
    }
  })
})
