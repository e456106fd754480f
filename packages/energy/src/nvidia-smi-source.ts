/**
 * NVIDIA GPU board power through `nvidia-smi` (NVML's command-line client,
 * installed with the driver): one short-lived process per reading, killed
 * after `timeoutMs`. No binary, no driver or no GPU → the source reports
 * itself unavailable; it never throws at request time.
 */
import { execFile } from 'node:child_process'
import { CortexConfigError, checkKnownKeys, checkNumber, checkObject } from '@cortex/core'
import {
  AVAILABLE,
  type EnergySource,
  type SourceAvailability,
  type SourceReading,
  unavailable,
} from './source.js'
import { errorCode } from './sysfs.js'

export interface NvidiaSmiSourceOptions {
  /** The executable (a name looked up on PATH, or a path). Default `nvidia-smi`. */
  command?: string
  /** Kill a run that takes longer, in ms. Default 2000. */
  timeoutMs?: number
  /** GPU indexes to sum. Default all. */
  gpus?: readonly number[]
}

/** One GPU's latest reading. */
export interface GpuReading {
  index: number
  name: string
  /** Board power draw in watts, or `null` when the GPU does not report it (`[N/A]`). */
  watts: number | null
}

const ARGS = ['--query-gpu=index,name,power.draw', '--format=csv,noheader,nounits']

/**
 * Parses `nvidia-smi --query-gpu=index,name,power.draw --format=csv,noheader,nounits`.
 *
 * @example
 * parseNvidiaSmi('0, NVIDIA A100-SXM4-40GB, 61.23\n1, NVIDIA A100-SXM4-40GB, [N/A]\n')
 * // → [{ index: 0, name: 'NVIDIA A100-SXM4-40GB', watts: 61.23 }, { index: 1, ..., watts: null }]
 */
export function parseNvidiaSmi(stdout: string): GpuReading[] {
  const gpus: GpuReading[] = []
  for (const line of stdout.split(/\r?\n/)) {
    const parts = line.split(',').map((p) => p.trim())
    if (parts.length < 3) continue
    const index = Number(parts[0])
    if (!Number.isInteger(index)) continue
    const powerText = parts[parts.length - 1] as string
    const name = parts.slice(1, -1).join(', ')
    const watts = /^\d+(\.\d+)?$/.test(powerText) ? Number(powerText) : null
    gpus.push({ index, name, watts })
  }
  return gpus
}

/**
 * Power of NVIDIA GPUs from `nvidia-smi`, measured (board power, summed over GPUs).
 *
 * @example
 * createEnergyMeter({ sources: [cpuModelSource(), nvidiaSmiSource({ gpus: [0] })] })
 */
export function nvidiaSmiSource(options: NvidiaSmiSourceOptions = {}): EnergySource {
  const where = 'nvidiaSmiSource'
  checkObject(options, 'options', where)
  checkKnownKeys(options, ['command', 'timeoutMs', 'gpus'], where)
  const command = options.command ?? 'nvidia-smi'
  if (typeof command !== 'string' || command.length === 0) {
    throw new CortexConfigError('command', options.command, 'an executable name or path', where)
  }
  const timeoutMs =
    options.timeoutMs === undefined ? 2000 : checkNumber(options.timeoutMs, 'timeoutMs', { min: 1, where })
  const gpuFilter = options.gpus
  if (
    gpuFilter !== undefined &&
    (!Array.isArray(gpuFilter) || !gpuFilter.every((g) => Number.isInteger(g) && g >= 0))
  ) {
    throw new CortexConfigError('gpus', gpuFilter, 'an array of GPU indexes (non-negative integers)', where)
  }
  let last: GpuReading[] = []
  let probe: Promise<SourceAvailability> | undefined

  const query = (): Promise<GpuReading[]> =>
    new Promise((resolve, reject) => {
      execFile(
        command,
        ARGS,
        { timeout: timeoutMs, windowsHide: true, maxBuffer: 64 * 1024 },
        (err, stdout) => {
          if (err) {
            reject(err)
            return
          }
          const all = parseNvidiaSmi(String(stdout))
          resolve(gpuFilter === undefined ? all : all.filter((g) => gpuFilter.includes(g.index)))
        },
      )
    })

  const available = (): Promise<SourceAvailability> => {
    probe ??= query().then(
      (gpus) => {
        last = gpus
        if (gpus.length === 0) return unavailable(`${command} lists no GPU`)
        if (gpus.every((g) => g.watts === null)) return unavailable(`${command}: no GPU reports power.draw`)
        return AVAILABLE
      },
      (err: unknown) => {
        if (errorCode(err) === 'ENOENT') {
          return unavailable(`${command} not found (no NVIDIA driver installed, or not on PATH)`)
        }
        const killed = (err as { killed?: boolean }).killed === true
        return unavailable(
          killed
            ? `${command} did not answer within ${timeoutMs} ms`
            : `${command} failed: ${String((err as Error).message).trim()}`,
        )
      },
    )
    return probe
  }

  return {
    name: 'nvidia-smi',
    kind: 'measured',
    scope: 'machine',
    component: 'gpu',
    available,
    async read(): Promise<SourceReading> {
      const state = await available()
      if (!state.available) throw new Error(state.reason)
      const gpus = await query()
      last = gpus
      let watts = 0
      let any = false
      for (const g of gpus) {
        if (g.watts === null) continue
        watts += g.watts
        any = true
      }
      if (!any) throw new Error(`${command}: no GPU reported power.draw`)
      return { watts }
    },
    describe() {
      return { gpus: last.map((g) => ({ ...g })) }
    },
  }
}
