/**
 * Grid carbon intensity (gCO₂e per kWh) for the meter: a country's yearly
 * average from @tgwf/co2's shipped Ember data, a fixed number, or a
 * function you supply for live data (its failures fall back to the last good
 * value and are counted). Default: the world average from the same data set,
 * reported as such.
 */
import { CortexConfigError, describeValue, withGetters } from '@cortex/core'
import { averageIntensity } from '@tgwf/co2/data'

/** How the intensity option may be given. */
export type CarbonIntensityOption =
  | number
  | { country: string }
  | ((nowMs: number) => number | Promise<number>)

/** Where the current intensity came from. */
export interface CarbonIntensityInfo {
  gramsPerKWh: number
  /** `country`: @tgwf/co2 data; `fixed`: a number you gave; `function`: your live function; `world-average`: the default. */
  source: 'country' | 'fixed' | 'function' | 'world-average'
  /** ISO 3166-1 alpha-3 code, for `country`. */
  country?: string
  /** The data set, for `country` and `world-average`. */
  dataset?: string
  /** Failed calls of your function so far (the last good value, or the world average, was used instead). */
  failures?: number
  /** Message of the last failure. */
  lastError?: string
}

/** The data set behind country figures, as reported in snapshots. */
export const INTENSITY_DATASET = '@tgwf/co2 averageIntensity (Ember yearly averages)'

/**
 * The yearly average grid intensity of a country in gCO₂e/kWh, by ISO 3166-1
 * alpha-3 code (case-insensitive), from @tgwf/co2. `WORLD` is the world
 * average. Throws CortexConfigError for an unknown code.
 *
 * @example
 * countryIntensity('FRA') // → 44.18 (with @tgwf/co2 0.19)
 */
export function countryIntensity(code: string, option = 'carbonIntensity.country'): number {
  const key = typeof code === 'string' ? code.trim().toUpperCase() : ''
  const value = /^[A-Z]{3}$/.test(key) || key === 'WORLD' ? averageIntensity.data[key] : undefined
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new CortexConfigError(
      option,
      code,
      `an ISO 3166-1 alpha-3 country code known to @tgwf/co2 (e.g. "FRA", "DEU", "USA") or "WORLD"`,
    )
  }
  return value
}

/** The world average in @tgwf/co2's data, gCO₂e/kWh. */
export function worldAverageIntensity(): number {
  return countryIntensity('WORLD')
}

/** The intensity the meter uses, refreshed once per sample for a live function. */
export interface IntensityProvider {
  /** Current gCO₂e/kWh (never negative, always finite). */
  readonly gramsPerKWh: number
  /** A JSON-serialisable description for snapshots. */
  info(): CarbonIntensityInfo
  /** Calls a live function (never twice at once); resolves once it settled or the event loop turned. Never rejects. */
  refresh(nowMs: number): Promise<void>
}

/**
 * Builds the provider for the `carbonIntensity` option; validates it.
 *
 * @example
 * const intensity = createIntensityProvider({ country: 'DEU' })
 * intensity.gramsPerKWh // → 342.06
 */
export function createIntensityProvider(option: CarbonIntensityOption | undefined): IntensityProvider {
  const name = 'carbonIntensity'
  if (option === undefined)
    return fixedProvider(worldAverageIntensity(), {
      source: 'world-average',
      country: 'WORLD',
      dataset: INTENSITY_DATASET,
    })
  if (typeof option === 'number') {
    if (!Number.isFinite(option) || option < 0) {
      throw new CortexConfigError(
        name,
        option,
        'a non-negative number of gCO₂e/kWh, { country: "FRA" } or a function',
      )
    }
    return fixedProvider(option, { source: 'fixed' })
  }
  if (typeof option === 'function') return functionProvider(option)
  if (typeof option === 'object' && option !== null && !Array.isArray(option)) {
    const keys = Object.keys(option)
    if (keys.length !== 1 || keys[0] !== 'country') {
      throw new CortexConfigError(name, option, '{ country: "<ISO 3166-1 alpha-3 code>" } with no other key')
    }
    const code = (option as { country: string }).country
    const value = countryIntensity(code)
    return fixedProvider(value, {
      source: 'country',
      country: String(code).trim().toUpperCase(),
      dataset: INTENSITY_DATASET,
    })
  }
  throw new CortexConfigError(
    name,
    option,
    `a non-negative number of gCO₂e/kWh, { country: "FRA" } or a function returning one (got ${describeValue(option)})`,
  )
}

function fixedProvider(value: number, info: Omit<CarbonIntensityInfo, 'gramsPerKWh'>): IntensityProvider {
  const frozen = { gramsPerKWh: value, ...info }
  return {
    gramsPerKWh: value,
    info: () => ({ ...frozen }),
    refresh: () => Promise.resolve(),
  }
}

function functionProvider(fn: (nowMs: number) => number | Promise<number>): IntensityProvider {
  let value = worldAverageIntensity()
  let good = false
  let failures = 0
  let lastError: string | undefined
  let pending: Promise<void> | undefined

  const accept = (result: unknown): void => {
    if (typeof result === 'number' && Number.isFinite(result) && result >= 0) {
      value = result
      good = true
    } else {
      failures++
      lastError = `returned ${describeValue(result)}, not a non-negative number`
    }
  }
  const reject = (err: unknown): void => {
    failures++
    lastError = err instanceof Error ? err.message : String(err)
  }

  return withGetters(
    {
      info() {
        const info: CarbonIntensityInfo = { gramsPerKWh: value, source: 'function', failures }
        if (!good) info.dataset = `${INTENSITY_DATASET}: world average until your function answers`
        if (lastError !== undefined) info.lastError = lastError
        return info
      },
      refresh(nowMs: number): Promise<void> {
        if (pending === undefined) {
          let call: Promise<void>
          try {
            call = Promise.resolve(fn(nowMs)).then(accept, reject)
          } catch (err) {
            reject(err)
            call = Promise.resolve()
          }
          pending = call.finally(() => {
            pending = undefined
          })
        }
        // Wait for an answer that is ready now (sync or already resolved), not for the network.
        return Promise.race([pending, new Promise<void>((resolve) => setImmediate(resolve))])
      },
    },
    { gramsPerKWh: () => value },
  )
}
