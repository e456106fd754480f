/**
 * Asks for low mode while running on battery below a charge level: Linux's
 * `/sys/class/power_supply/*` (capacity, status) or macOS's `pmset -g batt`.
 * No battery (a server, a container) means no opinion, ever.
 */
import { execFile } from 'node:child_process'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CortexConfigError, checkKnownKeys, checkNumber, checkObject } from '@cortex/core'
import type { PowerModeTrigger } from './trigger.js'

export interface BatteryReading {
  percent: number
  discharging: boolean
}

export interface BatteryTriggerOptions {
  /** Enter low mode below this charge (0–100) while discharging. */
  belowPercent: number
  /** Leave it above this charge, or when charging. Default `belowPercent + 5` (at most 100). */
  exitAbovePercent?: number
  /** Linux power-supply directory. Default `/sys/class/power_supply`. */
  root?: string
  /** `linux`, `darwin`, … Default `process.platform`. */
  platform?: NodeJS.Platform
  /** Command printing macOS battery state. Default `pmset` (run as `pmset -g batt`). */
  pmsetCommand?: string
  mode?: string
}

/** Reads the first battery under a Linux power_supply root; undefined when there is none. */
export async function readLinuxBattery(root: string): Promise<BatteryReading | undefined> {
  let entries: string[]
  try {
    entries = await readdir(root)
  } catch {
    return undefined
  }
  for (const name of entries.sort()) {
    const dir = join(root, name)
    const type = await readFile(join(dir, 'type'), 'utf8').catch(() => '')
    if (type.trim() !== 'Battery') continue
    const capacity = Number((await readFile(join(dir, 'capacity'), 'utf8').catch(() => '')).trim())
    if (!Number.isFinite(capacity)) continue
    const status = (await readFile(join(dir, 'status'), 'utf8').catch(() => '')).trim()
    return { percent: capacity, discharging: status === 'Discharging' }
  }
  return undefined
}

/** Parses `pmset -g batt` output; undefined when it lists no battery. */
export function parsePmset(output: string): BatteryReading | undefined {
  const m = /(\d{1,3})%;\s*([a-zA-Z ]+);/.exec(output)
  if (!m) return undefined
  const state = (m[2] as string).trim().toLowerCase()
  return { percent: Number(m[1]), discharging: state === 'discharging' || /'Battery Power'/.test(output) }
}

function readPmset(command: string): Promise<BatteryReading | undefined> {
  return new Promise((resolve) => {
    execFile(command, ['-g', 'batt'], { timeout: 2000 }, (err, stdout) => {
      resolve(err ? undefined : parsePmset(String(stdout)))
    })
  })
}

/**
 * @example
 * batteryTrigger({ belowPercent: 20 })
 */
export function batteryTrigger(options: BatteryTriggerOptions): PowerModeTrigger {
  checkObject(options, 'options', 'batteryTrigger')
  checkKnownKeys(
    options,
    ['belowPercent', 'exitAbovePercent', 'root', 'platform', 'pmsetCommand', 'mode'],
    'batteryTrigger',
  )
  const below = checkNumber(options.belowPercent, 'belowPercent', {
    min: 0,
    max: 100,
    where: 'batteryTrigger',
  })
  const exitAbove = checkNumber(options.exitAbovePercent ?? Math.min(100, below + 5), 'exitAbovePercent', {
    min: 0,
    max: 100,
    where: 'batteryTrigger',
  })
  if (exitAbove < below) {
    throw new CortexConfigError(
      'exitAbovePercent',
      exitAbove,
      `a value at least \`belowPercent\` (${below})`,
      'batteryTrigger',
    )
  }
  const platform = options.platform ?? process.platform
  const root = options.root ?? '/sys/class/power_supply'
  const mode = options.mode ?? 'low'
  let active = false
  const read =
    platform === 'darwin'
      ? () => readPmset(options.pmsetCommand ?? 'pmset')
      : platform === 'linux'
        ? () => readLinuxBattery(root)
        : async () => undefined
  return {
    name: 'battery',
    async evaluate() {
      const reading = await read()
      if (!reading) {
        active = false
        return undefined
      }
      if (!active && reading.discharging && reading.percent < below) active = true
      else if (active && (!reading.discharging || reading.percent > exitAbove)) active = false
      return active ? mode : undefined
    },
  }
}
