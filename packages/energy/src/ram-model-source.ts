/**
 * The modelled RAM source: codecarbon's rules from @cortex/core — 5 W per
 * DIMM-equivalent with a 10 W floor (`dimm`, default) or 0.375 W per GB
 * (`per-gb`) — for the machine's memory (`os.totalmem()`) unless told
 * otherwise. A constant power, so it adds `watts × time`.
 */
import { totalmem } from 'node:os'
import {
  checkKnownKeys,
  checkNumber,
  checkObject,
  checkOneOf,
  type RamPowerMode,
  ramPowerWatts,
} from '@cortex/core'
import { AVAILABLE, type EnergySource, type SourceReading } from './source.js'

export interface RamModelSourceOptions {
  /** Memory to account for, in bytes. Default `os.totalmem()` (the machine, as codecarbon). */
  totalBytes?: number
  /** Default `dimm`. */
  mode?: RamPowerMode
  /** DIMM count when known (`dimm` mode). */
  dimms?: number
}

/**
 * Estimated RAM power, modelled.
 *
 * @example
 * createEnergyMeter({ sources: [cpuModelSource(), ramModelSource({ mode: 'per-gb', totalBytes: 8 * 1024 ** 3 })] })
 */
export function ramModelSource(options: RamModelSourceOptions = {}): EnergySource {
  const where = 'ramModelSource'
  checkObject(options, 'options', where)
  checkKnownKeys(options, ['totalBytes', 'mode', 'dimms'], where)
  const totalBytes =
    options.totalBytes === undefined
      ? totalmem()
      : checkNumber(options.totalBytes, 'totalBytes', { min: 0, where })
  const mode =
    options.mode === undefined ? 'dimm' : checkOneOf(options.mode, 'mode', ['dimm', 'per-gb'], where)
  const watts = ramPowerWatts(
    options.dimms === undefined ? { totalBytes, mode } : { totalBytes, mode, dimms: options.dimms },
  )
  const reading: SourceReading = Object.freeze({ watts })
  return {
    name: 'ram-model',
    kind: 'modelled',
    scope: 'machine',
    component: 'ram',
    available: () => Promise.resolve(AVAILABLE),
    read: () => Promise.resolve(reading),
    describe: () => ({
      mode,
      totalBytes,
      watts,
      ...(options.dimms === undefined ? {} : { dimms: options.dimms }),
    }),
  }
}
