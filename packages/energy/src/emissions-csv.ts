/**
 * An emissions CSV in codecarbon 3.3's layout (`emissions.csv`: the column
 * names and order of its `EmissionsData`, its units — kg of CO₂e, kWh, W,
 * seconds, GB, litres — and a float wherever codecarbon writes a float), so
 * codecarbon appends to our files and dashboards built on its output read our
 * runs. Columns we have no value for (Python and codecarbon versions,
 * coordinates) are left empty.
 */
import { randomUUID } from 'node:crypto'
import { appendFile, open, rename, stat } from 'node:fs/promises'
import { arch, availableParallelism, cpus, freemem, release, totalmem, type } from 'node:os'
import { checkNumber, checkObject, joulesToKWh } from '@cortex/core'
import type { EnergySnapshot } from './energy-meter.js'

/** codecarbon 3.3's `EmissionsData` columns, in its order (38). */
export const EMISSIONS_CSV_COLUMNS = [
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
  'water_consumed',
  'country_name',
  'country_iso_code',
  'region',
  'cloud_provider',
  'cloud_region',
  'os',
  'python_version',
  'codecarbon_version',
  'cpu_count',
  'cpu_model',
  'gpu_count',
  'gpu_model',
  'longitude',
  'latitude',
  'ram_total_size',
  'tracking_mode',
  'cpu_utilization_percent',
  'gpu_utilization_percent',
  'ram_utilization_percent',
  'ram_used_gb',
  'on_cloud',
  'pue',
  'wue',
] as const

/**
 * The columns codecarbon writes as Python floats (pandas reads them as
 * float64): always printed with a point or an exponent, `1.0` rather than `1`.
 * `cpu_count` and `gpu_count` are ints in codecarbon's files.
 */
const FLOAT_COLUMNS: ReadonlySet<EmissionsCsvColumn> = new Set<EmissionsCsvColumn>([
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
  'water_consumed',
  'longitude',
  'latitude',
  'ram_total_size',
  'cpu_utilization_percent',
  'gpu_utilization_percent',
  'ram_utilization_percent',
  'ram_used_gb',
  'pue',
  'wue',
])

export type EmissionsCsvColumn = (typeof EMISSIONS_CSV_COLUMNS)[number]

export interface EmissionsCsvOptions {
  /** Default `cortex`. */
  projectName?: string
  /** Default: one random UUID per process. */
  runId?: string
  experimentId?: string
  countryName?: string
  /** Default: the meter's country when its intensity comes from `{ country }`. */
  countryIsoCode?: string
  region?: string
  cloudProvider?: string
  cloudRegion?: string
  onCloud?: boolean
  /** Power usage effectiveness written in the `pue` column. Default 1 (figures are not scaled by it). */
  pue?: number
  /**
   * Water usage effectiveness of the data centre, litres per kWh, written in
   * the `wue` column; `water_consumed` is `wue × energy_consumed`, as
   * codecarbon computes it. Default 0.
   */
  wue?: number
}

let processRunId: string | undefined

/** The header line (no newline). */
export function emissionsCsvHeader(): string {
  return EMISSIONS_CSV_COLUMNS.join(',')
}

/**
 * The values of one codecarbon row for a snapshot.
 *
 * @example
 * emissionsCsvRecord(meter.snapshot(), { projectName: 'embedder' }).emissions // kg CO₂e
 */
export function emissionsCsvRecord(
  snapshot: EnergySnapshot,
  options: EmissionsCsvOptions = {},
): Record<EmissionsCsvColumn, string | number> {
  const where = 'emissionsCsvRecord'
  checkObject(options, 'options', where)
  const pue = options.pue === undefined ? 1 : checkNumber(options.pue, 'pue', { min: 1, where })
  const wue = options.wue === undefined ? 0 : checkNumber(options.wue, 'wue', { min: 0, where })
  processRunId ??= randomUUID()
  const duration = snapshot.durationSeconds
  const emissionsKg = snapshot.co2Grams / 1000
  const gpuDetails = snapshot.sources.find((s) => s.used && s.component === 'gpu')?.details
  const gpus = Array.isArray(gpuDetails?.gpus) ? (gpuDetails.gpus as { name?: string }[]) : []
  const cpuModel = snapshot.sources.find((s) => s.used && s.name === 'cpu-model')
  const cpuLoad = cpuModel?.details?.load
  const totalBytes = totalmem()
  const usedBytes = Math.max(0, totalBytes - freemem())
  return {
    timestamp: snapshot.sampledAt ?? new Date().toISOString(),
    project_name: options.projectName ?? 'cortex',
    run_id: options.runId ?? processRunId,
    experiment_id: options.experimentId ?? '',
    duration,
    emissions: emissionsKg,
    emissions_rate: duration > 0 ? emissionsKg / duration : 0,
    cpu_power: snapshot.cpu.watts,
    gpu_power: snapshot.gpu.watts,
    ram_power: snapshot.ram.watts,
    cpu_energy: joulesToKWh(snapshot.cpu.joules),
    gpu_energy: joulesToKWh(snapshot.gpu.joules),
    ram_energy: joulesToKWh(snapshot.ram.joules),
    energy_consumed: snapshot.kWh,
    water_consumed: wue * snapshot.kWh,
    country_name: options.countryName ?? '',
    country_iso_code:
      options.countryIsoCode ??
      (snapshot.carbonIntensity.source === 'country' ? (snapshot.carbonIntensity.country ?? '') : ''),
    region: options.region ?? '',
    cloud_provider: options.cloudProvider ?? '',
    cloud_region: options.cloudRegion ?? '',
    os: `${type()}-${release()}-${arch()}`,
    python_version: '',
    codecarbon_version: '',
    cpu_count: availableParallelism(),
    cpu_model: cpus()[0]?.model ?? '',
    gpu_count: gpus.length,
    gpu_model: gpuModel(gpus),
    longitude: '',
    latitude: '',
    ram_total_size: totalBytes / GIB,
    tracking_mode: cpuModel ? 'process' : 'machine',
    // The modelled CPU source's load over the latest interval (this process's
    // share of the cores); a sensor knows no load, and no source reports GPU
    // utilisation: 0, as codecarbon writes when it has no sample.
    cpu_utilization_percent: typeof cpuLoad === 'number' && Number.isFinite(cpuLoad) ? cpuLoad * 100 : 0,
    gpu_utilization_percent: 0,
    // The machine's memory in use now, as codecarbon's psutil samples.
    ram_utilization_percent: totalBytes > 0 ? (usedBytes / totalBytes) * 100 : 0,
    ram_used_gb: usedBytes / GIB,
    on_cloud: options.onCloud ? 'Y' : 'N',
    pue,
    wue,
  }
}

const GIB = 1024 ** 3

/** codecarbon's `gpu_model`: `"2 x NVIDIA A100"` per model. */
function gpuModel(gpus: { name?: string }[]): string {
  const counts = new Map<string, number>()
  for (const g of gpus) counts.set(g.name ?? '', (counts.get(g.name ?? '') ?? 0) + 1)
  return [...counts].map(([name, n]) => `${n} x ${name}`).join(', ')
}

/**
 * One CSV line (no newline) for a snapshot, in EMISSIONS_CSV_COLUMNS order.
 *
 * @example
 * console.log(emissionsCsvHeader())
 * console.log(emissionsCsvRow(meter.snapshot()))
 */
export function emissionsCsvRow(snapshot: EnergySnapshot, options: EmissionsCsvOptions = {}): string {
  const record = emissionsCsvRecord(snapshot, options)
  return EMISSIONS_CSV_COLUMNS.map((c) => csvField(record[c], FLOAT_COLUMNS.has(c))).join(',')
}

/**
 * Appends a row for `snapshot` to `path`, writing the header first when the
 * file is new or empty. As codecarbon's file output, a file whose header has
 * other columns (an older codecarbon's, or ours before 3.3's columns) is not
 * appended to: it is renamed to `<path>.bak` (`<path>_0.bak`, … when taken)
 * and a new file is started.
 *
 * @example
 * process.on('beforeExit', async () => appendEmissionsCsv('emissions.csv', await meter.sample()))
 */
export async function appendEmissionsCsv(
  path: string,
  snapshot: EnergySnapshot,
  options: EmissionsCsvOptions = {},
): Promise<void> {
  const row = `${emissionsCsvRow(snapshot, options)}\n`
  let header = await firstLine(path)
  if (header !== undefined && header !== '' && !sameColumns(header)) {
    await rename(path, await backupPath(path))
    header = undefined
  }
  await appendFile(path, header ? row : `${emissionsCsvHeader()}\n${row}`, 'utf8')
}

/** The file's first line, '' when empty, undefined when absent. */
async function firstLine(path: string): Promise<string | undefined> {
  const file = await open(path, 'r').catch(() => undefined)
  if (!file) return undefined
  try {
    const buffer = Buffer.alloc(4096)
    const { bytesRead } = await file.read(buffer, 0, buffer.length, 0)
    return buffer.toString('utf8', 0, bytesRead).split(/\r?\n/)[0] ?? ''
  } finally {
    await file.close()
  }
}

/** codecarbon's check: the same set of column names, in any order. */
function sameColumns(header: string): boolean {
  const theirs = header.split(',').sort()
  const ours = [...EMISSIONS_CSV_COLUMNS].sort()
  return theirs.length === ours.length && theirs.every((c, i) => c === ours[i])
}

/** codecarbon's backup name: `<path>.bak`, then `<path>_0.bak`, `<path>_1.bak`… */
async function backupPath(path: string): Promise<string> {
  const exists = (p: string) =>
    stat(p).then(
      () => true,
      () => false,
    )
  let candidate = `${path}.bak`
  for (let i = 0; await exists(candidate); i++) candidate = `${path}_${i}.bak`
  return candidate
}

function csvField(value: string | number, float: boolean): string {
  const text = typeof value === 'number' ? (float ? pythonFloat(value) : integerOrFloat(value)) : value
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text
}

/** A float as Python's `repr` prints it: `1.0`, `0.25`, `1.5e-07`; NaN and infinities as empty. */
function pythonFloat(value: number): string {
  if (!Number.isFinite(value)) return ''
  if (Number.isInteger(value) && Math.abs(value) < 1e16) return value.toFixed(1)
  return String(value).replace(/e([+-])(\d)$/, 'e$10$2')
}

function integerOrFloat(value: number): string {
  return Number.isFinite(value) ? String(value) : ''
}
