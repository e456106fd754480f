/**
 * The modelled CPU source: this process's CPU time (`process.cpuUsage()`,
 * which includes worker threads) turned into watts by one of
 * @cortex/core's CPU power curves. It estimates the power of this process's
 * share of the CPU, not the machine's: load = CPU seconds / wall seconds /
 * cores, then watts = curve(load) × TDP. The teads, linear and cubic curves
 * charge an idle floor (12%, ≈21% and 10% of TDP) even when the process is
 * idle; `process-linear` (codecarbon's process mode) charges none.
 */
import { availableParallelism, cpus } from 'node:os'
import {
  CortexConfigError,
  type CpuPowerModel,
  checkKnownKeys,
  checkNumber,
  checkObject,
  checkOneOf,
  cpuLoad,
  cpuPowerWatts,
  DEFAULT_TDP_WATTS,
} from '@cortex/core'
import { AVAILABLE, type EnergySource, type SourceReading } from './source.js'

export interface CpuModelSourceOptions {
  /** Thermal design power of the CPU the process runs on, in watts. Default: the table below, else 85 W. */
  tdpWatts?: number
  /** CPUs available to the process (may be fractional under a quota, >= 1). Default `os.availableParallelism()`. */
  cores?: number
  /** Power curve. Default `teads`. */
  curve?: CpuPowerModel
  /** CPU model name used to look up the TDP. Default `os.cpus()[0].model`. */
  cpuModel?: string
  /** Process CPU time in µs; substitute it in tests. Default `process.cpuUsage`. */
  cpuUsage?: () => { user: number; system: number }
}

/** A CPU in the TDP table: its spec-sheet TDP and hardware threads per socket. */
export interface KnownCpu {
  pattern: RegExp
  tdpWatts: number
  threads: number
}

/**
 * TDPs of common server CPUs (vendor spec sheets), per socket. When the
 * process sees fewer CPUs than a socket has threads (a VM or container), the
 * TDP is scaled to its share: `tdp × cores / threads`.
 */
export const KNOWN_CPUS: readonly KnownCpu[] = [
  { pattern: /Xeon.*Platinum 8480/i, tdpWatts: 350, threads: 112 },
  { pattern: /Xeon.*Platinum 8375C/i, tdpWatts: 300, threads: 64 },
  { pattern: /Xeon.*Platinum 8259CL/i, tdpWatts: 210, threads: 48 },
  { pattern: /Xeon.*Platinum 8175M/i, tdpWatts: 240, threads: 48 },
  { pattern: /Xeon.*Gold 6248\b/i, tdpWatts: 150, threads: 40 },
  { pattern: /Xeon.*Gold 6226R/i, tdpWatts: 150, threads: 32 },
  { pattern: /Xeon.*E5-2686 v4/i, tdpWatts: 145, threads: 36 },
  { pattern: /EPYC 7742/i, tdpWatts: 225, threads: 128 },
  { pattern: /EPYC 7763/i, tdpWatts: 280, threads: 128 },
  { pattern: /EPYC 9654/i, tdpWatts: 360, threads: 192 },
]

/** Where the TDP came from, for reports. */
export interface TdpChoice {
  tdpWatts: number
  from: 'config' | 'table' | 'default'
  detail: string
}

/**
 * The TDP the model uses: configured, else the table (scaled to the visible
 * cores), else codecarbon's 85 W default.
 *
 * @example
 * resolveTdp(undefined, 'AMD EPYC 7763 64-Core Processor', 4) // → { tdpWatts: 8.75, from: 'table', ... }
 */
export function resolveTdp(tdpWatts: number | undefined, cpuModel: string, cores: number): TdpChoice {
  if (tdpWatts !== undefined) return { tdpWatts, from: 'config', detail: `${tdpWatts} W (configured)` }
  for (const cpu of KNOWN_CPUS) {
    if (!cpu.pattern.test(cpuModel)) continue
    const share = Math.min(1, cores / cpu.threads)
    return {
      tdpWatts: cpu.tdpWatts * share,
      from: 'table',
      detail: `${cpuModel}: ${cpu.tdpWatts} W per ${cpu.threads} threads${share < 1 ? ` × ${cores}/${cpu.threads}` : ''}`,
    }
  }
  return {
    tdpWatts: DEFAULT_TDP_WATTS,
    from: 'default',
    detail: `${DEFAULT_TDP_WATTS} W (codecarbon's default; CPU model ${JSON.stringify(cpuModel)} not in the table)`,
  }
}

/**
 * Estimated CPU power of this process from its CPU time, modelled.
 *
 * @example
 * createEnergyMeter({ sources: [cpuModelSource({ tdpWatts: 65, curve: 'linear' })] })
 */
export function cpuModelSource(options: CpuModelSourceOptions = {}): EnergySource {
  const where = 'cpuModelSource'
  checkObject(options, 'options', where)
  checkKnownKeys(options, ['tdpWatts', 'cores', 'curve', 'cpuModel', 'cpuUsage'], where)
  const tdpOption =
    options.tdpWatts === undefined ? undefined : checkNumber(options.tdpWatts, 'tdpWatts', { min: 0, where })
  const cores =
    options.cores === undefined
      ? Math.max(1, availableParallelism())
      : checkNumber(options.cores, 'cores', { min: 1, where })
  const curve =
    options.curve === undefined
      ? 'teads'
      : checkOneOf(options.curve, 'curve', ['teads', 'linear', 'cubic', 'process-linear'], where)
  const cpuModel = options.cpuModel ?? cpus()[0]?.model ?? ''
  if (typeof cpuModel !== 'string')
    throw new CortexConfigError('cpuModel', cpuModel, 'a CPU model name', where)
  const cpuUsage = options.cpuUsage ?? (() => process.cpuUsage())
  if (typeof cpuUsage !== 'function') throw new CortexConfigError('cpuUsage', cpuUsage, 'a function', where)
  const tdp = resolveTdp(tdpOption, cpuModel, cores)

  let previousCpuSeconds = Number.NaN
  let previousMs = Number.NaN
  let totalJoules = 0
  let lastLoad = 0
  let lastWatts = 0

  return {
    name: 'cpu-model',
    kind: 'modelled',
    scope: 'process',
    component: 'cpu',
    available: () => Promise.resolve(AVAILABLE),
    async read(nowMs: number): Promise<SourceReading> {
      const usage = cpuUsage()
      const cpuSeconds = (usage.user + usage.system) / 1e6
      if (Number.isFinite(previousMs) && nowMs > previousMs) {
        const wallSeconds = (nowMs - previousMs) / 1000
        lastLoad = cpuLoad(cpuSeconds - previousCpuSeconds, wallSeconds, cores)
        lastWatts = cpuPowerWatts(curve, lastLoad, tdp.tdpWatts)
        totalJoules += lastWatts * wallSeconds
      }
      if (!(nowMs < previousMs)) {
        previousMs = nowMs
        previousCpuSeconds = cpuSeconds
      }
      return { joules: totalJoules }
    },
    describe() {
      return {
        curve,
        cores,
        cpuModel,
        tdpWatts: tdp.tdpWatts,
        tdpFrom: tdp.from,
        tdp: tdp.detail,
        load: lastLoad,
        watts: lastWatts,
        scope: 'process',
      }
    },
  }
}
