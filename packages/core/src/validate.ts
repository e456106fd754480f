/**
 * Small validators used by every factory in @cortex/* so option errors read
 * the same everywhere. Each returns the value on success and throws
 * CortexConfigError naming the option, the value and what is allowed.
 */
import { CortexConfigError } from './errors.js'

/**
 * A finite number within `[min, max]` (inclusive unless `exclusiveMin`).
 *
 * @example
 * const tdp = checkNumber(options.tdpWatts, 'tdpWatts', { min: 0, exclusiveMin: true })
 */
export function checkNumber(
  value: unknown,
  option: string,
  range: { min?: number; max?: number; exclusiveMin?: boolean; integer?: boolean; where?: string } = {},
): number {
  const {
    min = Number.NEGATIVE_INFINITY,
    max = Number.POSITIVE_INFINITY,
    exclusiveMin = false,
    integer = false,
  } = range
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (exclusiveMin ? value > min : value >= min) &&
    value <= max &&
    (!integer || Number.isInteger(value))
  if (!ok) {
    const kind = integer ? 'an integer' : 'a finite number'
    let bounds = ''
    if (min !== Number.NEGATIVE_INFINITY && max !== Number.POSITIVE_INFINITY) {
      bounds = ` in ${exclusiveMin ? '(' : '['}${min}, ${max}]`
    } else if (min !== Number.NEGATIVE_INFINITY) {
      bounds = exclusiveMin ? ` > ${min}` : ` >= ${min}`
    } else if (max !== Number.POSITIVE_INFINITY) {
      bounds = ` <= ${max}`
    }
    throw new CortexConfigError(option, value, `${kind}${bounds}`, range.where)
  }
  return value
}

/**
 * One of a fixed set of strings.
 *
 * @example
 * const curve = checkOneOf(options.curve, 'curve', ['teads', 'linear', 'cubic'])
 */
export function checkOneOf<T extends string>(
  value: unknown,
  option: string,
  allowed: readonly T[],
  where?: string,
): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new CortexConfigError(option, value, `one of ${allowed.map((a) => `"${a}"`).join(', ')}`, where)
  }
  return value as T
}

/**
 * Rejects keys of `options` that are not in `known` (catches typos such as `burts`).
 *
 * @example
 * checkKnownKeys(policy, ['limit', 'window', 'burst'], 'policy "POST /x"')
 */
export function checkKnownKeys(options: object, known: readonly string[], where?: string): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new CortexConfigError(
        key,
        (options as Record<string, unknown>)[key],
        `no such option (known options: ${known.join(', ')})`,
        where,
      )
    }
  }
}

/**
 * Options made of named parts, such as the adapters' `cortex({ rateLimit, slo,
 * energy, powerMode })`: an object whose keys are among `parts`, naming at
 * least one of them, each an object.
 *
 * @example
 * checkParts(options, ['rateLimit', 'slo', 'energy', 'powerMode'], 'cortex')
 */
export function checkParts(options: unknown, parts: readonly string[], where: string): void {
  if (typeof options !== 'object' || options === null) {
    throw new CortexConfigError('options', options, `an object with any of ${parts.join(', ')}`, where)
  }
  checkKnownKeys(options, parts, where)
  const given = parts.filter((part) => (options as Record<string, unknown>)[part] !== undefined)
  if (given.length === 0)
    throw new CortexConfigError('options', options, `at least one of ${parts.join(', ')}`, where)
  for (const part of given) checkObject((options as Record<string, unknown>)[part], part, where)
}

/**
 * A plain object (not null, not an array).
 *
 * @example
 * checkObject(options, 'options', 'createRateLimiter')
 */
export function checkObject(value: unknown, option: string, where?: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CortexConfigError(option, value, 'an object', where)
  }
  return value as Record<string, unknown>
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/**
 * A duration as the options take it, typed so a slip is a compile error:
 * a number and a unit, `'500ms'`, `'30s'`, `'5m'`, `'1h'`, `'1d'` (the value
 * is still checked at construction: positive and finite).
 */
export type Duration = `${number}${'ms' | 's' | 'm' | 'h' | 'd'}`

/**
 * Parses a duration: milliseconds as a number, or a string such as `'500ms'`,
 * `'30s'`, `'1m'`, `'1h'`, `'1d'`, `'30d'` (a positive number followed by a unit).
 *
 * @example
 * parseDuration('1m', 'window') // → 60000
 */
export function parseDuration(value: unknown, option: string, where?: string): number {
  if (typeof value === 'number') {
    return checkNumber(value, option, { min: 0, exclusiveMin: true, where })
  }
  if (typeof value === 'string') {
    const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(value.trim())
    if (match) {
      const ms = Number(match[1]) * (UNITS[match[2] as string] as number)
      if (ms > 0 && Number.isFinite(ms)) return ms
    }
  }
  throw new CortexConfigError(
    option,
    value,
    "a positive number of milliseconds or a duration such as '500ms', '30s', '1m', '1h', '1d'",
    where,
  )
}

/**
 * An object with the given methods: how adapters check, when they are
 * created, that they were handed a limiter, tracker, meter or controller.
 *
 * @example
 * checkMethods(options.meter, 'meter', ['startRequest'], 'a meter from createEnergyMeter()', 'energyTracking')
 */
export function checkMethods<T>(
  value: T,
  option: string,
  methods: readonly string[],
  expected: string,
  where?: string,
): T {
  const ok =
    typeof value === 'object' &&
    value !== null &&
    methods.every((m) => typeof (value as Record<string, unknown>)[m] === 'function')
  if (!ok) throw new CortexConfigError(option, value, expected, where)
  return value
}

/**
 * An optional duration that may be zero: `fallback` when undefined, else
 * milliseconds ≥ 0 as a number, or a string such as `'30s'` (as `parseDuration`).
 *
 * @example
 * const dwell = parseOptionalDuration(options.minDwellMs, 'minDwellMs', 0, 'createPowerModeController')
 */
export function parseOptionalDuration(
  value: unknown,
  option: string,
  fallback: number,
  where?: string,
): number {
  if (value === undefined) return fallback
  if (typeof value === 'number') return checkNumber(value, option, { min: 0, where })
  return parseDuration(value, option, where)
}
