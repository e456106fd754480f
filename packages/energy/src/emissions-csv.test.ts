import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import {
  appendEmissionsCsv,
  EMISSIONS_CSV_COLUMNS,
  emissionsCsvHeader,
  emissionsCsvRecord,
} from './emissions-csv.js'
import { createEnergyMeter } from './energy-meter.js'
import { snapshotSci } from './sci.js'
import type { EnergySource } from './source.js'

const dirs: string[] = []
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

const constant = (
  name: string,
  component: EnergySource['component'],
  watts: number,
  kind: EnergySource['kind'] = 'measured',
): EnergySource => ({
  name,
  kind,
  component,
  available: async () => ({ available: true }),
  read: async () => ({ watts }),
})

async function runFor(seconds: number) {
  let now = 0
  const meter = createEnergyMeter({
    sources: [constant('cpu', 'cpu', 36), constant('gpu', 'gpu', 180), constant('ram', 'ram', 144)],
    clock: () => now,
    carbonIntensity: { country: 'FRA' },
  })
  await meter.sample()
  const end = meter.startRequest('POST /embed')
  now = seconds * 1000
  end()
  return meter.sample()
}

describe('emissions CSV', () => {
  it("uses codecarbon's columns in its order", () => {
    expect(emissionsCsvHeader().split(',').slice(0, 14)).toEqual([
      'timestamp',
      'project_name',
      'run_id',
      'experiment_id',
      'duration',
      'emissions',
      'emissions_rate',
      'cpu_power',
      'gpu_power',
      'ram_power',
      'cpu_energy',
      'gpu_energy',
      'ram_energy',
      'energy_consumed',
    ])
    expect(EMISSIONS_CSV_COLUMNS).toContain('country_iso_code')
  })

  it("writes codecarbon's units: kg, kWh, W, seconds", async () => {
    const s = await runFor(100) // 360 W for 100 s = 36 kJ = 0.01 kWh
    const r = emissionsCsvRecord(s, { projectName: 'embedder', runId: 'run-1' })
    expect(r).toMatchObject({
      project_name: 'embedder',
      run_id: 'run-1',
      duration: 100,
      cpu_power: 36,
      gpu_power: 180,
      ram_power: 144,
      country_iso_code: 'FRA',
      tracking_mode: 'machine',
      on_cloud: 'N',
      pue: 1,
    })
    expect(r.energy_consumed).toBeCloseTo(0.01, 15)
    expect(r.cpu_energy).toBeCloseTo(0.001, 15)
    expect(r.emissions).toBeCloseTo((0.01 * 44.18) / 1000, 15)
    expect(r.emissions_rate).toBeCloseTo((0.01 * 44.18) / 1000 / 100, 15)
  })

  it('appends rows under one header, quoting fields that need it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cortex-csv-'))
    dirs.push(dir)
    const file = join(dir, 'emissions.csv')
    const s = await runFor(10)
    await appendEmissionsCsv(file, s, { projectName: 'a, "quoted" name' })
    await appendEmissionsCsv(file, s)
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n')
    expect(lines).toHaveLength(3)
    expect(lines[0]).toBe(emissionsCsvHeader())
    expect(lines[1]).toContain('"a, ""quoted"" name"')
  })
})

describe('snapshotSci', () => {
  it('is ((E × I) + M) / R per request, overall or for a route', async () => {
    const s = await runFor(100)
    const grams = 0.01 * 44.18
    expect(snapshotSci(s)).toBeCloseTo(grams, 12)
    expect(snapshotSci(s, { embodiedGrams: 2, functionalUnits: 4 })).toBeCloseTo((grams + 2) / 4, 12)
    expect(snapshotSci(s, { route: 'POST /embed' })).toBeCloseTo(grams, 12)
    expect(snapshotSci(s, { route: 'GET /nope' })).toBeNaN() // no traffic yet: no unit
    expect(() => snapshotSci(s, { route: 42 as never })).toThrow(/`route`/)
  })
})
