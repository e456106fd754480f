/**
 * `sources: 'auto'`: probe every measured source, keep at most one per
 * component (RAPL before hwmon for the CPU, nvidia-smi before hwmon for GPUs,
 * RAPL DRAM for memory), and fall back to the CPU and RAM models where
 * nothing measures. Every candidate is reported, with the reason it was not
 * used.
 */
import { checkKnownKeys, checkObject } from '@cortex/core'
import { type CpuModelSourceOptions, cpuModelSource } from './cpu-model-source.js'
import { type HwmonSourceOptions, hwmonSource } from './hwmon-source.js'
import { type NvidiaSmiSourceOptions, nvidiaSmiSource } from './nvidia-smi-source.js'
import { type RamModelSourceOptions, ramModelSource } from './ram-model-source.js'
import { type RaplSourceOptions, raplSource } from './rapl-source.js'
import type { EnergyComponent, EnergySource } from './source.js'

/** Options of the sources `'auto'` builds; `false` leaves one out. */
export interface AutoSourcesOptions {
  rapl?: Omit<RaplSourceOptions, 'domain'> | false
  hwmon?: Omit<HwmonSourceOptions, 'component'> | false
  nvidiaSmi?: NvidiaSmiSourceOptions | false
  cpuModel?: CpuModelSourceOptions
  /** `false`: no RAM figure unless RAPL measures DRAM. */
  ramModel?: RamModelSourceOptions | false
}

/** A source `'auto'` considered and whether it uses it. */
export interface AutoChoice {
  source: EnergySource
  used: boolean
  reason?: string
}

/** Builds the candidate sources (validating their options). */
export function autoCandidates(options: AutoSourcesOptions = {}): {
  measured: EnergySource[]
  cpuModel: EnergySource
  ramModel: EnergySource | undefined
} {
  checkObject(options, 'auto', 'createEnergyMeter')
  checkKnownKeys(options, ['rapl', 'hwmon', 'nvidiaSmi', 'cpuModel', 'ramModel'], 'createEnergyMeter auto')
  const measured: EnergySource[] = []
  if (options.rapl !== false) {
    measured.push(raplSource({ ...options.rapl }), raplSource({ ...options.rapl, domain: 'dram' }))
  }
  if (options.hwmon !== false) {
    measured.push(hwmonSource({ ...options.hwmon }), hwmonSource({ ...options.hwmon, component: 'gpu' }))
  }
  if (options.nvidiaSmi !== false) measured.push(nvidiaSmiSource({ ...options.nvidiaSmi }))
  return {
    measured,
    cpuModel: cpuModelSource(options.cpuModel),
    ramModel: options.ramModel === false ? undefined : ramModelSource(options.ramModel),
  }
}

const PREFERENCE: Record<string, number> = {
  rapl: 0,
  'rapl-dram': 0,
  'nvidia-smi': 0,
  hwmon: 1,
  'hwmon-gpu': 1,
}

/** Probes the candidates and picks one source per component. Never throws. */
export async function chooseAutoSources(
  candidates: ReturnType<typeof autoCandidates>,
): Promise<AutoChoice[]> {
  const probes = await Promise.all(
    candidates.measured.map(async (source) => {
      try {
        return { source, state: await source.available() }
      } catch (err) {
        return { source, state: { available: false as const, reason: String(err) } }
      }
    }),
  )
  const ordered = probes.sort((a, b) => (PREFERENCE[a.source.name] ?? 2) - (PREFERENCE[b.source.name] ?? 2))
  const taken = new Map<EnergyComponent, string>()
  const choices: AutoChoice[] = []
  for (const { source, state } of ordered) {
    if (!state.available) {
      choices.push({ source, used: false, reason: state.reason })
      continue
    }
    const owner = taken.get(source.component)
    if (owner !== undefined) {
      choices.push({
        source,
        used: false,
        reason: `not needed: ${owner} already measures ${source.component}`,
      })
      continue
    }
    taken.set(source.component, source.name)
    choices.push({ source, used: true })
  }
  const cpuOwner = taken.get('cpu')
  choices.push(
    cpuOwner === undefined
      ? {
          source: candidates.cpuModel,
          used: true,
          reason: 'no measured CPU source here: CPU power is modelled',
        }
      : { source: candidates.cpuModel, used: false, reason: `not needed: ${cpuOwner} measures cpu` },
  )
  if (candidates.ramModel !== undefined) {
    const ramOwner = taken.get('ram')
    choices.push(
      ramOwner === undefined
        ? {
            source: candidates.ramModel,
            used: true,
            reason: 'no measured RAM source here: RAM power is modelled',
          }
        : { source: candidates.ramModel, used: false, reason: `not needed: ${ramOwner} measures ram` },
    )
  }
  return choices
}
