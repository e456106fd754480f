/**
 * An emissions CSV in codecarbon's layout (`emissions.csv`: its column names,
 * order and units — kg of CO₂e, kWh, W, seconds, GB), so dashboards built on
 * codecarbon output read our runs. Columns we have no value for (Python and
 * codecarbon versions, coordinates) are left empty.
 */
import { randomUUID } from 'node:crypto'
import { appendFile, stat } from 'node:fs/promises'
import { arch, availableParallelism, cpus, release, totalmem, type } from 'node:os'
import { joulesToKWh } from '@cortex/core'
import type { EnergySnapshot } from './energy-meter.js'

/** codecarbon's `EmissionsData` columns, in its order. */
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
  'on_cloud',
  'pue',
] as const

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
  processRunId ??= randomUUID()
  const duration = snapshot.durationSeconds
  const emissionsKg = snapshot.co2Grams / 1000
  const gpuDetails = snapshot.sources.find((s) => s.used && s.component === 'gpu')?.details
  const gpus = Array.isArray(gpuDetails?.gpus) ? (gpuDetails.gpus as { name?: string }[]) : []
  const cpuModelUsed = snapshot.sources.some((s) => s.used && s.name === 'cpu-model')
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
    gpu_model: [...new Set(gpus.map((g) => g.name ?? ''))].join(', '),
    longitude: '',
    latitude: '',
    ram_total_size: totalmem() / 1024 ** 3,
    tracking_mode: cpuModelUsed ? 'process' : 'machine',
    on_cloud: options.onCloud ? 'Y' : 'N',
    pue: options.pue ?? 1,
  }
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
  return EMISSIONS_CSV_COLUMNS.map((c) => csvField(record[c])).join(',')
}

/**
 * Appends a row for `snapshot` to `path`, writing the header first when the
 * file is new or empty (as codecarbon's `save_to_file`).
 *
 * @example
 * process.on('beforeExit', async () => appendEmissionsCsv('emissions.csv', await meter.sample()))
 */
export async function appendEmissionsCsv(
  path: string,
  snapshot: EnergySnapshot,
  options: EmissionsCsvOptions = {},
): Promise<void> {
  const size = await stat(path).then(
    (s) => s.size,
    () => 0,
  )
  const row = `${emissionsCsvRow(snapshot, options)}\n`
  await appendFile(path, size === 0 ? `${emissionsCsvHeader()}\n${row}` : row, 'utf8')
}

function csvField(value: string | number): string {
  const text = typeof value === 'number' ? (Number.isFinite(value) ? String(value) : '') : value
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text
}
