/**
 * Power and energy sensors through Linux hwmon: `<root>/hwmonN/name`,
 * `energy*_input` (cumulative µJ) and `power*_input` (instantaneous µW;
 * `power*_average` when a device has no `_input`). A device with energy
 * channels is read through them (exact), otherwise its power channels are
 * integrated over time. When some channels of a device are labelled as a
 * socket or package (amd_energy's `Esocket0`), only those are summed: the
 * per-core channels are contained in them.
 */
import { join } from 'node:path'
import {
  CortexConfigError,
  checkKnownKeys,
  checkObject,
  checkOneOf,
  counterDelta,
  createPowerIntegrator,
  type PowerIntegrator,
} from '@cortex/core'
import {
  AVAILABLE,
  ENERGY_COMPONENTS,
  type EnergyComponent,
  type EnergySource,
  messageOf,
  type SourceAvailability,
  type SourceReading,
  unavailable,
} from './source.js'
import { errorCode, isPermissionError, nodeSysfs, parseCounter, type SysfsReader } from './sysfs.js'

export interface HwmonSourceOptions {
  /** Default `/sys/class/hwmon`. */
  root?: string
  /**
   * The component this source reports. Default `cpu`. Devices are matched to
   * it by name (GPU drivers such as amdgpu, nouveau, i915, xe → `gpu`;
   * everything else → `cpu`) unless `devices` lists them.
   */
  component?: EnergyComponent
  /** hwmon device names (the `name` file) to read, e.g. `['amd_energy']`. Default: every device of the component. */
  devices?: readonly string[]
  /** File-system access; substitute it in tests. */
  sysfs?: SysfsReader
}

interface Channel {
  file: string
  kind: 'energy' | 'power'
  previous: number
  integrator: PowerIntegrator | undefined
}

const GPU_DRIVERS = /^(amdgpu|radeon|nouveau|i915|xe|nvidia)/

/**
 * Energy from hwmon sensors, measured.
 *
 * @example
 * createEnergyMeter({ sources: [hwmonSource({ devices: ['amd_energy'] })] })
 */
export function hwmonSource(options: HwmonSourceOptions = {}): EnergySource {
  const where = 'hwmonSource'
  checkObject(options, 'options', where)
  checkKnownKeys(options, ['root', 'component', 'devices', 'sysfs'], where)
  const root = options.root ?? '/sys/class/hwmon'
  if (typeof root !== 'string' || root.length === 0) {
    throw new CortexConfigError('root', options.root, 'a directory path', where)
  }
  const component =
    options.component === undefined
      ? 'cpu'
      : checkOneOf(options.component, 'component', ENERGY_COMPONENTS, where)
  const devices = options.devices
  if (devices !== undefined && (!Array.isArray(devices) || !devices.every((d) => typeof d === 'string'))) {
    throw new CortexConfigError('devices', devices, 'an array of hwmon device names', where)
  }
  const fs = options.sysfs ?? nodeSysfs
  let channels: Channel[] | undefined
  const found: string[] = []
  let probe: Promise<SourceAvailability> | undefined
  let totalJoules = 0

  const matches = (name: string): boolean => {
    if (devices !== undefined) return devices.includes(name)
    return (GPU_DRIVERS.test(name) ? 'gpu' : 'cpu') === component
  }

  async function discover(): Promise<SourceAvailability> {
    let entries: string[]
    try {
      entries = (await fs.list(root)).filter((e) => /^hwmon\d+$/.test(e)).sort()
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return unavailable(`no hwmon devices: ${root} does not exist`)
      return unavailable(`cannot list ${root}: ${messageOf(err)}`)
    }
    const chosen: Channel[] = []
    for (const entry of entries) {
      const dir = join(root, entry)
      const name = (await fs.readText(join(dir, 'name')).catch(() => '')).trim()
      if (!matches(name)) continue
      const files = await fs.list(dir).catch(() => [] as string[])
      const device = await deviceChannels(fs, dir, files)
      if (device.length > 0) found.push(`${entry} (${name})`)
      chosen.push(...device)
    }
    if (chosen.length === 0) {
      return unavailable(
        `no ${component} power or energy channel under ${root}${devices ? ` for devices ${devices.join(', ')}` : ''}`,
      )
    }
    for (const channel of chosen) {
      try {
        channel.previous = parseCounter(await fs.readText(channel.file))
      } catch (err) {
        if (isPermissionError(err)) {
          return unavailable(
            `cannot read ${channel.file}: permission denied (grant read access with chmod o+r)`,
          )
        }
        return unavailable(`cannot read ${channel.file}: ${messageOf(err)}`)
      }
    }
    channels = chosen
    return AVAILABLE
  }

  const available = (): Promise<SourceAvailability> => {
    probe ??= discover().catch((err) => unavailable(`hwmon probe failed: ${messageOf(err)}`))
    return probe
  }

  return {
    name: component === 'cpu' ? 'hwmon' : `hwmon-${component}`,
    kind: 'measured',
    scope: 'machine',
    component,
    available,
    async read(nowMs: number): Promise<SourceReading> {
      const state = await available()
      if (!state.available || channels === undefined)
        throw new Error(state.available ? 'hwmon not probed' : state.reason)
      for (const channel of channels) {
        const value = parseCounter(await fs.readText(channel.file))
        if (Number.isNaN(value)) continue
        if (channel.kind === 'energy') {
          totalJoules += counterDelta(channel.previous, value, Number.NaN) / 1e6
          channel.previous = value
        } else {
          channel.integrator ??= createPowerIntegrator()
          const before = channel.integrator.joules
          totalJoules += channel.integrator.add(nowMs, value / 1e6) - before
        }
      }
      return { joules: totalJoules }
    },
    describe() {
      return { devices: found, channels: (channels ?? []).map((c) => c.file) }
    },
  }
}

/** The channels of one device to sum: energy if any, else power; socket/package-labelled ones if labelled so. */
async function deviceChannels(fs: SysfsReader, dir: string, files: readonly string[]): Promise<Channel[]> {
  const pick = async (pattern: RegExp, kind: Channel['kind']): Promise<Channel[]> => {
    const names = files.filter((f) => pattern.test(f)).sort()
    const labelled: string[] = []
    for (const f of names) {
      const label = await fs.readText(join(dir, f.replace(/_(input|average)$/, '_label'))).catch(() => '')
      if (/socket|package/i.test(label)) labelled.push(f)
    }
    return (labelled.length > 0 ? labelled : names).map((f) => ({
      file: join(dir, f),
      kind,
      previous: Number.NaN,
      integrator: undefined,
    }))
  }
  const energy = await pick(/^energy\d+_input$/, 'energy')
  if (energy.length > 0) return energy
  const power = await pick(/^power\d+_input$/, 'power')
  if (power.length > 0) return power
  return pick(/^power\d+_average$/, 'power')
}
