import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createEnergyMeter } from './energy-meter.js'
import { raplSource } from './rapl-source.js'
import { nodeSysfs, type SysfsReader } from './sysfs.js'

const MAX = 262_143_328_850
const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

async function zone(root: string, id: string, name: string, energyUj: number, maxUj = MAX): Promise<string> {
  const dir = join(root, id)
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'name'), `${name}\n`)
  await writeFile(join(dir, 'energy_uj'), `${energyUj}\n`)
  await writeFile(join(dir, 'max_energy_range_uj'), `${maxUj}\n`)
  return dir
}

/** Two packages, each with core/uncore/dram sub-domains, plus psys: as on a two-socket server. */
async function serverTree(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'cortex-rapl-'))
  dirs.push(root)
  await zone(root, 'intel-rapl:0', 'package-0', MAX - 50)
  await zone(root, 'intel-rapl:0:0', 'core', 5_000_000)
  await zone(root, 'intel-rapl:0:1', 'dram', 1_000_000)
  await zone(root, 'intel-rapl:1', 'package-1', 1_000_000)
  await zone(root, 'intel-rapl:1:0', 'core', 9_000_000)
  await zone(root, 'intel-rapl:1:1', 'dram', 2_000_000)
  await zone(root, 'intel-rapl:2', 'psys', 77_000_000)
  return root
}

const setCounter = (root: string, id: string, uj: number) => writeFile(join(root, id, 'energy_uj'), `${uj}\n`)

describe('raplSource', () => {
  it('sums package domains only (no sub-domain, no psys) and handles a counter wrap, exactly', async () => {
    const root = await serverTree()
    let now = 0
    const meter = createEnergyMeter({ sources: [raplSource({ root })], clock: () => now, carbonIntensity: 0 })
    await meter.sample()
    // package-0 wraps: 50 µJ to the top, 1 for the wrap, 49 after → 100 µJ. package-1: +2 J.
    await setCounter(root, 'intel-rapl:0', 49)
    await setCounter(root, 'intel-rapl:1', 3_000_000)
    await setCounter(root, 'intel-rapl:0:0', 999_000_000)
    await setCounter(root, 'intel-rapl:2', 999_000_000)
    now = 1000
    const s = await meter.sample()
    expect(s.host.joules).toBe(2.0001)
    expect(s.host.cpu.joules).toBe(2.0001)
    expect(s.host.currentWatts).toBe(2.0001)
    expect(s.estimated).toBe(false)
    expect(s.sources[0]?.details).toMatchObject({
      zones: [
        { name: 'package-0', path: join(root, 'intel-rapl:0') },
        { name: 'package-1', path: join(root, 'intel-rapl:1') },
      ],
    })
  })

  it('reads DRAM sub-domains as RAM when asked', async () => {
    const root = await serverTree()
    const source = raplSource({ root, domain: 'dram' })
    expect(source.component).toBe('ram')
    expect(await source.available()).toEqual({ available: true })
    await source.read(0)
    await setCounter(root, 'intel-rapl:0:1', 1_500_000)
    await setCounter(root, 'intel-rapl:1:1', 2_250_000)
    expect(await source.read(1000)).toEqual({ joules: 0.75 })
  })

  it('counts a zone reached through a symlink and its target once (class and virtual paths)', async () => {
    const base = await mkdtemp(join(tmpdir(), 'cortex-rapl-'))
    dirs.push(base)
    const virtual = join(base, 'devices/virtual/powercap')
    const real = await zone(join(virtual, 'intel-rapl'), 'intel-rapl:0', 'package-0', 1_000_000)
    await zone(real, 'intel-rapl:0:0', 'core', 0)
    const klass = join(base, 'class/powercap')
    await mkdir(klass, { recursive: true })
    await symlink(real, join(klass, 'intel-rapl:0'))
    const source = raplSource({ root: [klass, virtual] })
    expect(await source.available()).toEqual({ available: true })
    await source.read(0)
    await writeFile(join(real, 'energy_uj'), '4000000\n')
    expect(await source.read(1000)).toEqual({ joules: 3 })
  })

  it('uses intel-rapl-mmio package zones only when there is no MSR one', async () => {
    const root = await mkdtemp(join(tmpdir(), 'cortex-rapl-'))
    dirs.push(root)
    await zone(root, 'intel-rapl-mmio:0', 'package-0', 0)
    const mmioOnly = raplSource({ root })
    expect(await mmioOnly.available()).toEqual({ available: true })
    await zone(root, 'intel-rapl:0', 'package-0', 0)
    const both = raplSource({ root })
    await both.available()
    expect(both.describe?.()).toMatchObject({ zones: [{ path: join(root, 'intel-rapl:0') }] })
  })

  it('is unavailable, with how to grant access, when energy_uj is root-only', async () => {
    const root = await serverTree()
    const denied: SysfsReader = {
      ...nodeSysfs,
      readText: (path) =>
        path.endsWith('energy_uj')
          ? Promise.reject(
              Object.assign(new Error(`EACCES: permission denied, open '${path}'`), { code: 'EACCES' }),
            )
          : nodeSysfs.readText(path),
    }
    const source = raplSource({ root, sysfs: denied })
    const state = await source.available()
    expect(state.available).toBe(false)
    const reason = state.available ? '' : state.reason
    expect(reason).toContain(join(root, 'intel-rapl:0', 'energy_uj'))
    expect(reason).toContain('sudo chmod o+r /sys/class/powercap/intel-rapl:*/energy_uj')
    expect(reason).toContain('udev')
    // A meter using it never throws: the source is reported unused with the reason.
    const meter = createEnergyMeter({ sources: [source], clock: () => 0 })
    const s = await meter.sample()
    expect(s.sources[0]).toMatchObject({ name: 'rapl', used: false, reason })
    expect(s.host.joules).toBe(0)
    meter.startRequest('GET /x')()
  })

  it.skipIf(process.getuid?.() === 0)('sees a real permission error (not root)', async () => {
    const root = await serverTree()
    const { chmod } = await import('node:fs/promises')
    await chmod(join(root, 'intel-rapl:0', 'energy_uj'), 0o000)
    const state = await raplSource({ root }).available()
    expect(state.available ? '' : state.reason).toContain('chmod o+r')
  })

  it('is unavailable when there is no powercap tree', async () => {
    const state = await raplSource({ root: join(tmpdir(), 'cortex-no-such-dir') }).available()
    expect(state).toMatchObject({ available: false, reason: expect.stringContaining('no RAPL zones') })
  })

  it('rejects bad options', () => {
    expect(() => raplSource({ domain: 'core' as never })).toThrow(/`domain`/)
    expect(() => raplSource({ root: [] })).toThrow(/`root`/)
  })
})
