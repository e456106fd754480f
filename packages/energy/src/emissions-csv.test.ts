import { readFileSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import {
  appendEmissionsCsv,
  EMISSIONS_CSV_COLUMNS,
  emissionsCsvHeader,
  emissionsCsvRecord,
  emissionsCsvRow,
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

/** codecarbon 3.3.0's own emissions.csv: see test/fixtures/codecarbon-3.3.0/README.md. */
const fixture = readFileSync(
  new URL('../test/fixtures/codecarbon-3.3.0/emissions.csv', import.meta.url),
  'utf8',
)
  .trimEnd()
  .split('\n')

/** Splits one CSV line (RFC 4180 quoting). */
function csvFields(line: string): string[] {
  const fields: string[] = []
  let field = ''
  let quoted = false
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') field += line[++i]
      else if (ch === '"') quoted = false
      else field += ch
    } else if (ch === '"') quoted = true
    else if (ch === ',') {
      fields.push(field)
      field = ''
    } else field += ch
  }
  fields.push(field)
  return fields
}

/** What pandas' `read_csv` infers for one value: int64, float64, NaN or object. */
function pandasKind(value: string): 'int' | 'float' | 'empty' | 'string' {
  if (value === '') return 'empty'
  if (/^[+-]?\d+$/.test(value)) return 'int'
  if (/^[+-]?(\d+\.\d*|\.\d+|\d+(\.\d*)?[eE][+-]?\d+|inf|nan)$/i.test(value)) return 'float'
  return 'string'
}

describe('emissions CSV', () => {
  it("has codecarbon 3.3's header: its 38 columns in its order", () => {
    expect(emissionsCsvHeader()).toBe(fixture[0])
    expect(EMISSIONS_CSV_COLUMNS).toHaveLength(38)
  })

  it('writes every column with the type codecarbon 3.3 writes (pandas reads the same dtypes)', async () => {
    const header = csvFields(fixture[0] as string)
    const theirs = csvFields(fixture[1] as string)
    const ours = csvFields(emissionsCsvRow(await runFor(100), { countryName: 'France' }))
    expect(ours).toHaveLength(header.length)
    const mismatches = header.flatMap((column, i) => {
      const want = pandasKind(theirs[i] as string)
      const got = pandasKind(ours[i] as string)
      // Columns codecarbon leaves empty offline (coordinates, cloud) or that we
      // cannot know (Python and codecarbon versions) may be empty on either side.
      if (want === got || want === 'empty' || got === 'empty') return []
      return [`${column}: codecarbon writes ${want} (${theirs[i]}), we write ${got} (${ours[i]})`]
    })
    expect(mismatches).toEqual([])
    // The columns pandas read as int64 from our 3.0.7-era rows.
    for (const column of ['gpu_power', 'ram_power', 'gpu_energy', 'pue', 'wue', 'water_consumed']) {
      expect(ours[header.indexOf(column)], column).toMatch(/[.eE]/)
    }
  })

  it('fills the utilisation columns from what the meter knows', async () => {
    let now = 0
    let cpuMicros = 0
    const meter = createEnergyMeter({
      sources: [
        {
          name: 'cpu-model',
          kind: 'modelled',
          component: 'cpu',
          available: async () => ({ available: true }),
          read: async () => ({ watts: 20 }),
          describe: () => ({ load: cpuMicros / 1e6 / 10 / 4, scope: 'process' }),
        },
      ],
      clock: () => now,
    })
    await meter.sample()
    now = 10_000
    cpuMicros = 10e6 // 10 CPU seconds in 10 s on 4 cores: 25 %
    const r = emissionsCsvRecord(await meter.sample())
    expect(r.cpu_utilization_percent).toBeCloseTo(25, 12)
    expect(r.gpu_utilization_percent).toBe(0)
    expect(r.ram_used_gb).toBeGreaterThan(0)
    expect(r.ram_used_gb).toBeLessThanOrEqual(r.ram_total_size as number)
    expect(r.ram_utilization_percent).toBeCloseTo(
      ((r.ram_used_gb as number) / (r.ram_total_size as number)) * 100,
      9,
    )
  })

  it('computes water_consumed as codecarbon does: wue (L/kWh) × energy', async () => {
    const s = await runFor(100) // 0.01 kWh
    expect(emissionsCsvRecord(s).water_consumed).toBe(0)
    const r = emissionsCsvRecord(s, { wue: 1.8 })
    expect(r.wue).toBe(1.8)
    expect(r.water_consumed).toBeCloseTo(0.018, 15)
    expect(() => emissionsCsvRecord(s, { wue: -1 })).toThrow(/`wue`/)
  })

  it('backs up a file with another header as codecarbon does, instead of appending under it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cortex-csv-'))
    dirs.push(dir)
    const file = join(dir, 'emissions.csv')
    const old = 'timestamp,project_name,run_id,pue\n2026-01-01T00:00:00,x,y,1\n'
    await writeFile(file, old)
    await appendEmissionsCsv(file, await runFor(10))
    await writeFile(file, old.replace('x', 'z'))
    await appendEmissionsCsv(file, await runFor(10))
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n')
    expect(lines[0]).toBe(emissionsCsvHeader())
    expect(lines).toHaveLength(2)
    expect((await readdir(dir)).sort()).toEqual(['emissions.csv', 'emissions.csv.bak', 'emissions.csv_0.bak'])
    expect(await readFile(join(dir, 'emissions.csv.bak'), 'utf8')).toBe(old)
  })

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
