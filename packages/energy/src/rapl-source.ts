/**
 * Intel/AMD RAPL energy counters through the Linux powercap interface:
 * `<root>/intel-rapl:N[:M]/{name,energy_uj,max_energy_range_uj}`.
 *
 * Package domains by default; sub-domains (core, uncore, and on most CPUs
 * dram) are contained in or reported beside their package and are never
 * added to it, and `psys` (the whole platform, which contains the packages)
 * is never summed with them. `intel-rapl-mmio` zones duplicate the MSR
 * package zones on the CPUs that have both and are used only when no MSR
 * zone exists.
 */
import { join } from 'node:path'
import { CortexConfigError, checkKnownKeys, checkObject, checkOneOf, counterDelta } from '@cortex/core'
import {
  AVAILABLE,
  type EnergySource,
  messageOf,
  type SourceAvailability,
  type SourceReading,
  unavailable,
} from './source.js'
import { errorCode, isPermissionError, nodeSysfs, parseCounter, type SysfsReader } from './sysfs.js'

/** Where the kernel publishes powercap zones (the first holds symlinks into the second). */
export const DEFAULT_POWERCAP_ROOTS: readonly string[] = [
  '/sys/class/powercap',
  '/sys/devices/virtual/powercap',
]

export interface RaplSourceOptions {
  /** A powercap directory or several, searched in order. Default both of DEFAULT_POWERCAP_ROOTS. */
  root?: string | readonly string[]
  /** `package` (default, component `cpu`) or `dram` (component `ram`). */
  domain?: 'package' | 'dram'
  /** File-system access; substitute it in tests. Default the real file system. */
  sysfs?: SysfsReader
}

interface Zone {
  dir: string
  name: string
  mmio: boolean
  topLevel: boolean
  maxRangeUj: number
  previousUj: number
}

const ZONE = /^intel-rapl(-mmio)?:\d+(:\d+)*$/

/** How to grant read access, for the permission-denied message. */
export function raplAccessHint(file: string): string {
  return (
    `cannot read ${file}: RAPL counters are readable by root only since Linux 5.10. ` +
    'Grant read access with `sudo chmod o+r /sys/class/powercap/intel-rapl:*/energy_uj` ' +
    '(until reboot), or for good with a udev rule in /etc/udev/rules.d/99-rapl.rules: ' +
    '`SUBSYSTEM=="powercap", ACTION=="add", RUN+="/bin/chmod o+r /sys%p/energy_uj"` ' +
    '(or `chgrp` the files to a group your service runs in and `chmod g+r`).'
  )
}

/**
 * Energy of the CPU packages (or DRAM) from RAPL counters, in joules,
 * measured. Counter wrap-around is handled with `max_energy_range_uj`.
 * When a counter is root-only the source reports itself unavailable with a
 * message saying how to grant read access; it never throws at request time.
 *
 * @example
 * const meter = createEnergyMeter({ sources: [raplSource(), raplSource({ domain: 'dram' })] })
 */
export function raplSource(options: RaplSourceOptions = {}): EnergySource {
  const where = 'raplSource'
  checkObject(options, 'options', where)
  checkKnownKeys(options, ['root', 'domain', 'sysfs'], where)
  const roots = rootsOf(options.root, where)
  const domain =
    options.domain === undefined
      ? 'package'
      : checkOneOf(options.domain, 'domain', ['package', 'dram'], where)
  const fs = options.sysfs ?? nodeSysfs
  let zones: Zone[] | undefined
  let probe: Promise<SourceAvailability> | undefined
  let totalJoules = 0

  async function discover(): Promise<SourceAvailability> {
    const found = await findZones(fs, roots)
    const wanted = (z: Zone) =>
      domain === 'dram' ? z.name === 'dram' : z.topLevel && z.name.startsWith('package')
    const msr = found.filter((z) => !z.mmio && wanted(z))
    const chosen = msr.length > 0 ? msr : found.filter((z) => z.mmio && wanted(z))
    if (chosen.length === 0) {
      return unavailable(
        found.length === 0
          ? `no RAPL zones under ${roots.join(', ')}`
          : `no RAPL ${domain} domain under ${roots.join(', ')} (found: ${found.map((z) => z.name).join(', ')})`,
      )
    }
    for (const zone of chosen) {
      const file = join(zone.dir, 'energy_uj')
      try {
        zone.previousUj = parseCounter(await fs.readText(file))
        zone.maxRangeUj = parseCounter(
          await fs.readText(join(zone.dir, 'max_energy_range_uj')).catch(() => ''),
        )
      } catch (err) {
        if (isPermissionError(err)) return unavailable(raplAccessHint(file))
        return unavailable(`cannot read ${file}: ${messageOf(err)}`)
      }
      if (Number.isNaN(zone.previousUj)) return unavailable(`${file} does not hold a counter`)
    }
    zones = chosen
    return AVAILABLE
  }

  const available = (): Promise<SourceAvailability> => {
    probe ??= discover().catch((err) => unavailable(`RAPL probe failed: ${messageOf(err)}`))
    return probe
  }

  return {
    name: domain === 'dram' ? 'rapl-dram' : 'rapl',
    kind: 'measured',
    scope: 'machine',
    component: domain === 'dram' ? 'ram' : 'cpu',
    available,
    async read(): Promise<SourceReading> {
      const state = await available()
      if (!state.available || zones === undefined)
        throw new Error(state.available ? 'RAPL not probed' : state.reason)
      for (const zone of zones) {
        const file = join(zone.dir, 'energy_uj')
        let text: string
        try {
          text = await fs.readText(file)
        } catch (err) {
          throw new Error(
            isPermissionError(err) ? raplAccessHint(file) : `cannot read ${file}: ${messageOf(err)}`,
          )
        }
        const current = parseCounter(text)
        if (Number.isNaN(current)) continue
        totalJoules += counterDelta(zone.previousUj, current, zone.maxRangeUj) / 1e6
        zone.previousUj = current
      }
      return { joules: totalJoules }
    },
    describe() {
      return { domain, zones: (zones ?? []).map((z) => ({ path: z.dir, name: z.name })) }
    },
  }
}

function rootsOf(value: unknown, where: string): string[] {
  if (value === undefined) return [...DEFAULT_POWERCAP_ROOTS]
  const list = typeof value === 'string' ? [value] : value
  if (
    !Array.isArray(list) ||
    list.length === 0 ||
    !list.every((r) => typeof r === 'string' && r.length > 0)
  ) {
    throw new CortexConfigError('root', value, 'a directory path or a non-empty array of them', where)
  }
  return list as string[]
}

/**
 * Every zone under the roots, walking `/sys/class/powercap`'s flat symlinks
 * and `/sys/devices/virtual/powercap`'s nested directories alike; a zone
 * reached twice (symlink and target) is kept once.
 */
async function findZones(fs: SysfsReader, roots: readonly string[]): Promise<Zone[]> {
  const zones: Zone[] = []
  const seen = new Set<string>()
  const visit = async (dir: string, depth: number): Promise<void> => {
    let entries: string[]
    try {
      entries = await fs.list(dir)
    } catch (err) {
      if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR') return
      throw err
    }
    for (const entry of entries.sort()) {
      const path = join(dir, entry)
      if (ZONE.test(entry)) {
        const canonical = await fs.canonical(path).catch(() => path)
        if (!seen.has(canonical)) {
          seen.add(canonical)
          const name = (await fs.readText(join(path, 'name')).catch(() => '')).trim()
          zones.push({
            dir: path,
            name,
            mmio: entry.startsWith('intel-rapl-mmio'),
            topLevel: entry.split(':').length === 2,
            maxRangeUj: Number.NaN,
            previousUj: Number.NaN,
          })
        }
        if (depth < 3) await visit(path, depth + 1)
      } else if (depth === 0 && (entry === 'intel-rapl' || entry === 'intel-rapl-mmio')) {
        await visit(path, depth + 1)
      }
    }
  }
  for (const root of roots) await visit(root, 0)
  return zones
}
