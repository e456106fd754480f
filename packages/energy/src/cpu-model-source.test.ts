import { isCortexError } from '@cortex/core'
import { describe, expect, it } from 'vitest'
import { cpuModelSource, resolveTdp } from './cpu-model-source.js'
import { createEnergyMeter } from './energy-meter.js'
import { ramModelSource } from './ram-model-source.js'

function fakeCpu() {
  let micros = 0
  return {
    cpuUsage: () => ({ user: micros, system: 0 }),
    burn(cpuSeconds: number) {
      micros += cpuSeconds * 1e6
    },
  }
}

describe('cpuModelSource', () => {
  it('turns process CPU time into watts with the chosen curve, exactly', async () => {
    const cpu = fakeCpu()
    let now = 0
    const meter = createEnergyMeter({
      sources: [cpuModelSource({ tdpWatts: 100, cores: 2, curve: 'linear', cpuUsage: cpu.cpuUsage })],
      clock: () => now,
    })
    await meter.sample()
    cpu.burn(1) // 1 CPU-second in 1 s on 2 cores: load 0.5
    now = 1000
    const s = await meter.sample()
    const idle = (0.74 / 3.5) * 100
    expect(s.cpu.joules).toBeCloseTo(idle + (100 - idle) * 0.5, 12)
    expect(s.estimated).toBe(true)
    expect(s.cpu.estimated).toBe(true)
    expect(s.sources[0]?.details).toMatchObject({
      curve: 'linear',
      load: 0.5,
      scope: 'process',
      tdpFrom: 'config',
    })
  })

  it('process-linear charges nothing to an idle process; teads charges its 12% floor', async () => {
    const cpu = fakeCpu()
    const idle = cpuModelSource({ tdpWatts: 100, cores: 1, curve: 'process-linear', cpuUsage: cpu.cpuUsage })
    await idle.read(0)
    expect(await idle.read(1000)).toEqual({ joules: 0 })
    const teads = cpuModelSource({ tdpWatts: 100, cores: 1, curve: 'teads', cpuUsage: cpu.cpuUsage })
    await teads.read(0)
    expect((await teads.read(1000)).joules).toBeCloseTo(12, 12)
  })

  it('takes the TDP from config, else the table scaled to the visible cores, else 85 W', () => {
    expect(resolveTdp(65, 'anything', 4)).toMatchObject({ tdpWatts: 65, from: 'config' })
    expect(resolveTdp(undefined, 'AMD EPYC 7763 64-Core Processor', 4)).toMatchObject({
      tdpWatts: 280 * (4 / 128),
      from: 'table',
    })
    expect(resolveTdp(undefined, 'Intel(R) Xeon(R) Platinum 8480+', 224)).toMatchObject({ tdpWatts: 350 })
    expect(resolveTdp(undefined, 'Some CPU', 2)).toMatchObject({ tdpWatts: 85, from: 'default' })
  })

  it.each([
    [{ tdpWatts: -1 }, 'tdpWatts'],
    [{ tdpWatts: Number.NaN }, 'tdpWatts'],
    [{ curve: 'quadratic' }, 'curve'],
    [{ cores: 0 }, 'cores'],
    [{ tpd: 10 }, 'tpd'],
  ])('rejects %j naming %s', (options, field) => {
    try {
      cpuModelSource(options as never)
      expect.unreachable()
    } catch (err) {
      expect(isCortexError(err, 'ERR_CORTEX_CONFIG')).toBe(true)
      expect((err as { option: string }).option).toBe(field)
    }
  })
})

describe('ramModelSource', () => {
  it("uses codecarbon's DIMM rule with a floor, or 0.375 W per GB", async () => {
    expect(await ramModelSource({ totalBytes: 16 * 1024 ** 3 }).read(0)).toEqual({ watts: 10 })
    expect(await ramModelSource({ totalBytes: 2 * 1024 ** 3 }).read(0)).toEqual({ watts: 10 })
    expect(await ramModelSource({ totalBytes: 16 * 1024 ** 3, mode: 'per-gb' }).read(0)).toEqual({ watts: 6 })
    const source = ramModelSource()
    expect(source.kind).toBe('modelled')
    expect(source.component).toBe('ram')
  })

  it('integrates to watts × time in the meter', async () => {
    let now = 0
    const meter = createEnergyMeter({
      sources: [ramModelSource({ totalBytes: 64 * 1024 ** 3 })],
      clock: () => now,
    })
    await meter.sample()
    now = 10_000
    expect((await meter.sample()).host.ram.joules).toBe(200)
  })

  it('rejects bad options', () => {
    expect(() => ramModelSource({ mode: 'per-dimm' as never })).toThrow(/`mode`/)
    expect(() => ramModelSource({ totalBytes: -1 })).toThrow(/`totalBytes`/)
  })
})
