import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { createEnergyMeter } from './energy-meter.js'
import { hwmonSource } from './hwmon-source.js'

const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

async function device(root: string, id: string, files: Record<string, string | number>): Promise<void> {
  const dir = join(root, id)
  await mkdir(dir, { recursive: true })
  for (const [name, value] of Object.entries(files)) await writeFile(join(dir, name), `${value}\n`)
}

async function tree(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'cortex-hwmon-'))
  dirs.push(root)
  // amd_energy: per-core counters plus the socket counter that contains them.
  await device(root, 'hwmon0', {
    name: 'amd_energy',
    energy1_input: 1_000_000,
    energy1_label: 'Ecore000',
    energy2_input: 2_000_000,
    energy2_label: 'Ecore001',
    energy3_input: 10_000_000,
    energy3_label: 'Esocket0',
  })
  // A board power meter reporting instantaneous power only.
  await device(root, 'hwmon1', { name: 'power_meter', power1_input: 40_000_000 })
  // A GPU and a sensor without power.
  await device(root, 'hwmon2', { name: 'amdgpu', power1_average: 25_000_000 })
  await device(root, 'hwmon3', { name: 'nvme', temp1_input: 40_000 })
  return root
}

describe('hwmonSource', () => {
  it('sums socket energy counters (not their cores) and integrates power channels, exactly', async () => {
    const root = await tree()
    let now = 0
    const meter = createEnergyMeter({ sources: [hwmonSource({ root })], clock: () => now })
    await meter.sample()
    await writeFile(join(root, 'hwmon0', 'energy3_input'), '13000000\n')
    await writeFile(join(root, 'hwmon0', 'energy1_input'), '99000000\n')
    await writeFile(join(root, 'hwmon1', 'power1_input'), '60000000\n')
    now = 2000
    const s = await meter.sample()
    // socket: 3 J; power meter: trapezoid of 40 W → 60 W over 2 s = 100 J.
    expect(s.host.cpu.joules).toBe(103)
    expect(s.sources[0]?.details).toMatchObject({
      channels: [join(root, 'hwmon0', 'energy3_input'), join(root, 'hwmon1', 'power1_input')],
    })
  })

  it('reads GPU drivers as the gpu component, with power*_average when there is no _input', async () => {
    const root = await tree()
    const gpu = hwmonSource({ root, component: 'gpu' })
    expect(gpu.name).toBe('hwmon-gpu')
    expect(await gpu.available()).toEqual({ available: true })
    await gpu.read(0)
    expect(await gpu.read(1000)).toEqual({ joules: 25 })
  })

  it('filters devices by name', async () => {
    const root = await tree()
    const only = hwmonSource({ root, devices: ['power_meter'] })
    await only.available()
    expect(only.describe?.()).toMatchObject({ channels: [join(root, 'hwmon1', 'power1_input')] })
  })

  it('is unavailable without devices or channels', async () => {
    expect(await hwmonSource({ root: join(tmpdir(), 'cortex-no-hwmon') }).available()).toMatchObject({
      available: false,
    })
    const root = await tree()
    expect(await hwmonSource({ root, devices: ['nvme'] }).available()).toMatchObject({
      available: false,
      reason: expect.stringContaining('no cpu power or energy channel'),
    })
  })

  it('rejects bad options', () => {
    expect(() => hwmonSource({ component: 'disk' as never })).toThrow(/`component`/)
    expect(() => hwmonSource({ devices: 'amd_energy' as never })).toThrow(/`devices`/)
  })
})
