/**
 * Energy arithmetic shared by @cortex/energy and the low-power benchmark:
 * differences of wrapping energy counters (RAPL, hwmon), integration of power
 * samples into joules, the published CPU and RAM power models, unit
 * conversions and the Green Software Foundation's SCI score.
 *
 * Everything is pure: counter readings, times (milliseconds) and CPU seconds
 * come in as numbers. Functions fed by measurements never throw on odd
 * numbers (NaN, negative, backwards) — they return 0 or ignore the sample, as
 * documented on each. Model parameters (model name, TDP, cores, options) are
 * configuration and throw CortexConfigError.
 */
import { CortexConfigError } from './errors.js'
import { checkKnownKeys, checkNumber, checkObject, checkOneOf } from './validate.js'
import { withGetters } from './with-getters.js'

const JOULES_PER_KWH = 3_600_000
const BYTES_PER_GB = 1024 ** 3

/** TDP codecarbon assumes when the CPU model is unknown, in watts. */
export const DEFAULT_TDP_WATTS = 85

/** Grid intensity codecarbon assumes when the location is unknown, in gCO₂e/kWh. */
export const DEFAULT_INTENSITY_G_PER_KWH = 475

// ---------------------------------------------------------------------------
// Counters
// ---------------------------------------------------------------------------

/**
 * Energy accumulated between two readings of a cumulative counter that wraps
 * to 0 after `maxRange` (RAPL `energy_uj` / `max_energy_range_uj`, hwmon
 * `energy*_input`). Units are the counter's (µJ for both).
 *
 * - `current >= previous`: `current - previous`.
 * - `current < previous`: one wrap, `maxRange - previous + current + 1`.
 *   The kernel publishes `max_energy_range_uj` as the largest value the
 *   counter can show (the 32-bit status mask × the energy unit), so the
 *   counter runs over `0..maxRange` inclusive and the step from `maxRange` to
 *   0 is itself energy. The true step is one hardware energy unit (15–61 µJ),
 *   which sysfs does not expose; `+ 1` µJ is the smallest step a µJ reader
 *   can see, so the result is never above the truth and at most one unit
 *   below it per wrap (a full turn of the counter is 65–262 kJ).
 * - Counter went backwards and `maxRange` is unknown or unusable (0, NaN,
 *   negative, or smaller than `previous`): a reset, not a wrap → 0.
 * - Any non-finite or negative reading → 0. Never negative.
 *
 * More than one wrap between readings cannot be detected; read the counter
 * more often than it can wrap.
 *
 * @example
 * // max_energy_range_uj = 262143328850; the counter wrapped between reads
 * counterDelta(262143328800, 49, 262143328850) // → 100 (50 to the top, 1 for the wrap, 49 after)
 */
export function counterDelta(previous: number, current: number, maxRange: number): number {
  if (!Number.isFinite(previous) || !Number.isFinite(current) || previous < 0 || current < 0) return 0
  if (current >= previous) return current - previous
  if (!Number.isFinite(maxRange) || maxRange <= 0 || previous > maxRange) return 0
  return maxRange - previous + current + 1
}

// ---------------------------------------------------------------------------
// Power → energy
// ---------------------------------------------------------------------------

/** One instantaneous power reading (hwmon `power*_input`, nvidia-smi `power.draw`, powermetrics). */
export interface PowerSample {
  /** When the reading was taken, in milliseconds (any monotonic origin). */
  timeMs: number
  /** Power at that time, in watts. */
  watts: number
}

/** Accumulates power readings into joules, one reading at a time. */
export interface PowerIntegrator {
  /**
   * Adds the reading `watts` taken at `timeMs` and returns the joules
   * accumulated since the first accepted reading. See createPowerIntegrator
   * for which readings are ignored.
   */
  add(timeMs: number, watts: number): number
  /** Joules accumulated so far (finite, never negative). */
  readonly joules: number
  /** Forgets every reading; the next one starts a new integration at 0 J. */
  reset(): void
}

/**
 * Integrates power readings over time with the trapezoidal rule: between two
 * readings power is taken to move linearly from one to the other. It is exact
 * for constant and linearly ramping power, needs no assumption about which
 * end of an interval a reading describes, and is additive: integrating
 * [a, b] then [b, c] gives the same joules as [a, c].
 *
 * Readings that are ignored (skipped entirely, time does not advance):
 * - a non-finite time, or a time earlier than the last accepted one
 *   (out of order — the interval it belongs to was already counted);
 * - NaN, infinite or negative watts (a failed read, not a real power);
 * - a reading whose energy would overflow to Infinity.
 * A reading at the same time as the last one adds nothing and replaces the
 * last power, so the next interval starts from the newer value.
 *
 * @example
 * const meter = createPowerIntegrator()
 * meter.add(0, 10)
 * meter.add(1_000, 10) // → 10 (joules: 10 W for 1 s)
 * meter.add(3_000, 20) // → 40 (+ 2 s ramping 10 → 20 W = 30 J)
 */
export function createPowerIntegrator(): PowerIntegrator {
  let joules = 0
  let lastTimeMs = Number.NaN
  let lastWatts = 0

  return withGetters(
    {
      add(timeMs: number, watts: number): number {
        if (!Number.isFinite(timeMs) || !Number.isFinite(watts) || watts < 0) return joules
        if (Number.isNaN(lastTimeMs)) {
          lastTimeMs = timeMs
          lastWatts = watts
          return joules
        }
        if (timeMs < lastTimeMs) return joules
        // Halve before adding so two huge-but-finite readings do not overflow.
        const added = (lastWatts / 2 + watts / 2) * ((timeMs - lastTimeMs) / 1000)
        const total = joules + added
        if (!Number.isFinite(total)) return joules
        joules = total
        lastTimeMs = timeMs
        lastWatts = watts
        return joules
      },
      reset() {
        joules = 0
        lastTimeMs = Number.NaN
        lastWatts = 0
      },
    },
    { joules: () => joules },
  )
}

/**
 * Joules in a series of power readings, by the trapezoidal rule, with the
 * same rules for odd readings as createPowerIntegrator.
 *
 * @example
 * integratePower([
 *   { timeMs: 0, watts: 0 },
 *   { timeMs: 10_000, watts: 10 },
 * ]) // → 50 (joules: a ramp from 0 to 10 W over 10 s)
 */
export function integratePower(samples: readonly PowerSample[]): number {
  const meter = createPowerIntegrator()
  for (const s of samples) meter.add(s.timeMs, s.watts)
  return meter.joules
}

// ---------------------------------------------------------------------------
// CPU power models
// ---------------------------------------------------------------------------

/**
 * The CPU power models, each a function of utilisation in [0, 1] scaled by TDP:
 * - `teads`: Teads' measured curve (0% → 0.12, 10% → 0.32, 50% → 0.75, 100% → 1.02 × TDP);
 * - `linear`: `idle + (max − idle) × load` (Cloud Carbon Footprint's min–max model);
 * - `cubic`: codecarbon's machine model `TDP × (0.1 + 0.9 × load³)`;
 * - `process-linear`: codecarbon's process model `TDP × load`, no idle power.
 */
export type CpuPowerModel = 'teads' | 'linear' | 'cubic' | 'process-linear'

/** Every CpuPowerModel, in the order reports list them. */
export const CPU_POWER_MODELS: readonly CpuPowerModel[] = ['teads', 'linear', 'cubic', 'process-linear']

/**
 * Idle power of the linear model as a fraction of its maximum: Cloud Carbon
 * Footprint's AWS coefficients, 0.74 W min and 3.5 W max per vCPU (≈ 0.211).
 * Taken from the tool the min–max model comes from rather than invented.
 */
export const LINEAR_IDLE_FRACTION = 0.74 / 3.5

export interface LinearPowerOptions {
  /** Power at 0% load, in watts. Default `LINEAR_IDLE_FRACTION × maxWatts`. */
  idleWatts?: number
  /** Power at 100% load, in watts. Default the TDP. Must be >= idleWatts. */
  maxWatts?: number
}

/** The Teads curve's measured points: [load, fraction of TDP]. */
const TEADS_POINTS: readonly (readonly [number, number])[] = [
  [0, 0.12],
  [0.1, 0.32],
  [0.5, 0.75],
  [1, 1.02],
]

/** NaN reads as idle: a failed utilisation read must not make power vanish or explode. */
function clampLoad(load: number): number {
  if (Number.isNaN(load) || load <= 0) return 0
  return Math.min(load, 1)
}

function checkTdp(tdpWatts: unknown, where: string): number {
  return checkNumber(tdpWatts, 'tdpWatts', { min: 0, where })
}

/**
 * Watts under Teads' CPU curve: piecewise-linear through 0.12, 0.32, 0.75 and
 * 1.02 × TDP at 0%, 10%, 50% and 100% load. `load` is clamped to [0, 1]
 * (NaN → 0).
 *
 * @example
 * teadsWatts(0.5, 100) // → 75
 */
export function teadsWatts(load: number, tdpWatts: number): number {
  const tdp = checkTdp(tdpWatts, 'teadsWatts')
  const x = clampLoad(load)
  for (let i = 1; i < TEADS_POINTS.length; i++) {
    const [x1, y1] = TEADS_POINTS[i]!
    if (x <= x1) {
      const [x0, y0] = TEADS_POINTS[i - 1]!
      return tdp * (y0 + ((y1 - y0) * (x - x0)) / (x1 - x0))
    }
  }
  return tdp * TEADS_POINTS[TEADS_POINTS.length - 1]![1]
}

function linearRange(tdp: number, options: LinearPowerOptions | undefined, where: string) {
  if (options === undefined) return { idle: LINEAR_IDLE_FRACTION * tdp, max: tdp }
  checkObject(options, 'options', where)
  checkKnownKeys(options, ['idleWatts', 'maxWatts'], where)
  const max =
    options.maxWatts === undefined ? tdp : checkNumber(options.maxWatts, 'maxWatts', { min: 0, where })
  const idle =
    options.idleWatts === undefined
      ? LINEAR_IDLE_FRACTION * max
      : checkNumber(options.idleWatts, 'idleWatts', { min: 0, where })
  if (max < idle) {
    throw new CortexConfigError('maxWatts', max, `a number >= idleWatts (${idle})`, where)
  }
  return { idle, max }
}

/**
 * Watts under the linear min–max model: `idle + (max − idle) × load`, with
 * `idleWatts` defaulting to `LINEAR_IDLE_FRACTION × maxWatts` and `maxWatts`
 * to the TDP. `load` is clamped to [0, 1] (NaN → 0).
 *
 * @example
 * linearWatts(0.5, 100, { idleWatts: 10 }) // → 55
 */
export function linearWatts(load: number, tdpWatts: number, options?: LinearPowerOptions): number {
  const tdp = checkTdp(tdpWatts, 'linearWatts')
  const { idle, max } = linearRange(tdp, options, 'linearWatts')
  return idle + (max - idle) * clampLoad(load)
}

/**
 * Watts under codecarbon's machine model: `TDP × (0.1 + 0.9 × load³)`.
 * `load` is clamped to [0, 1] (NaN → 0).
 *
 * @example
 * cubicWatts(1, 85) // → 85
 */
export function cubicWatts(load: number, tdpWatts: number): number {
  const tdp = checkTdp(tdpWatts, 'cubicWatts')
  const x = clampLoad(load)
  return tdp * (0.1 + 0.9 * x * x * x)
}

/**
 * Share of `cores` CPUs that `cpuSecondsDelta` of CPU time kept busy over
 * `wallSecondsDelta` of wall time, clamped to [0, 1]. Measurement inputs
 * that make no sense (NaN, negative, zero wall time) give 0. `cores` may be
 * fractional (a CPU quota) but must be >= 1.
 *
 * @example
 * cpuLoad(3, 2, 4) // → 0.375 (3 CPU-seconds in 2 s on 4 cores)
 */
export function cpuLoad(cpuSecondsDelta: number, wallSecondsDelta: number, cores: number): number {
  const n = checkNumber(cores, 'cores', { min: 1, where: 'cpuLoad' })
  if (!(wallSecondsDelta > 0) || !Number.isFinite(wallSecondsDelta)) return 0
  return clampLoad(cpuSecondsDelta / wallSecondsDelta / n)
}

/**
 * Watts under codecarbon's process model: `TDP × cpuSeconds / wallSeconds /
 * cores`, the process's share of the CPUs times TDP, with no idle power. The
 * share is clamped to [0, 1] as in cpuLoad.
 *
 * @example
 * processLinearWatts(1, 2, 2, 100) // → 25 (one CPU-second over 2 s on 2 cores)
 */
export function processLinearWatts(
  cpuSecondsDelta: number,
  wallSecondsDelta: number,
  cores: number,
  tdpWatts: number,
): number {
  const tdp = checkTdp(tdpWatts, 'processLinearWatts')
  return tdp * cpuLoad(cpuSecondsDelta, wallSecondsDelta, cores)
}

/**
 * Watts under the named CPU power model at utilisation `load` (clamped to
 * [0, 1], NaN → 0). `options` apply to the linear model only.
 *
 * @example
 * for (const model of CPU_POWER_MODELS) console.log(model, cpuPowerWatts(model, 0.5, 85))
 */
export function cpuPowerWatts(
  model: CpuPowerModel,
  load: number,
  tdpWatts: number,
  options?: LinearPowerOptions,
): number {
  const m = checkOneOf(model, 'model', CPU_POWER_MODELS, 'cpuPowerWatts')
  if (m === 'linear') return linearWatts(load, tdpWatts, options)
  if (options !== undefined) linearRange(checkTdp(tdpWatts, 'cpuPowerWatts'), options, 'cpuPowerWatts')
  if (m === 'teads') return teadsWatts(load, tdpWatts)
  if (m === 'cubic') return cubicWatts(load, tdpWatts)
  return checkTdp(tdpWatts, 'cpuPowerWatts') * clampLoad(load)
}

/**
 * Joules the named model attributes to `cpuSeconds` of CPU time spent over
 * `wallSeconds` on `cores` CPUs: `cpuPowerWatts(model, cpuLoad(...)) ×
 * wallSeconds`. The teads, linear and cubic models charge idle power for the
 * whole wall time, so the same work spread over longer costs more under them
 * (and less under cubic, whose curve is convex) — report all models side by
 * side. Nonsense wall time (NaN, negative) → 0 J.
 *
 * @example
 * cpuEnergyJoules('cubic', 1, 2, 1, 100) // → 42.5 (1 CPU-second at 50% load for 2 s)
 */
export function cpuEnergyJoules(
  model: CpuPowerModel,
  cpuSeconds: number,
  wallSeconds: number,
  cores: number,
  tdpWatts: number,
  options?: LinearPowerOptions,
): number {
  const load = cpuLoad(cpuSeconds, wallSeconds, cores)
  const watts = cpuPowerWatts(model, load, tdpWatts, options)
  if (!(wallSeconds > 0) || !Number.isFinite(wallSeconds)) return 0
  return watts * wallSeconds
}

// ---------------------------------------------------------------------------
// RAM power models
// ---------------------------------------------------------------------------

/** `dimm`: codecarbon ≥ 3 (x86) per-DIMM rule; `per-gb`: codecarbon's older 0.375 W per GB. */
export type RamPowerMode = 'dimm' | 'per-gb'

export interface RamPowerOptions {
  /** Installed (or allotted) memory in bytes. A GB here is 1024³ bytes, as in codecarbon. */
  totalBytes: number
  /** Default `'dimm'`. */
  mode?: RamPowerMode
  /** DIMM count when known (`dimm` mode); otherwise estimated from the size as codecarbon does. */
  dimms?: number
}

const RAM_WATTS_PER_DIMM = 5
const RAM_MIN_WATTS = 2 * RAM_WATTS_PER_DIMM
const RAM_WATTS_PER_GB = 0.375
const COMMON_DIMM_GB = [128, 64, 32, 16, 8, 4]

/** codecarbon's guess of the DIMM count from the memory size (typical configurations). */
function estimateDimms(gb: number): number {
  if (gb <= 2) return 1
  if (gb <= 16) return 2
  if (gb <= 64) return 4
  if (gb <= 128) return 8
  for (const size of COMMON_DIMM_GB) {
    if (size <= gb / 8) return Math.min(Math.ceil(gb / size), 32)
  }
  return 8
}

/**
 * RAM power in watts.
 *
 * `dimm` reproduces codecarbon ≥ 3 on x86: 5 W per DIMM for the first 4,
 * then 4.5 W (DIMMs 5–8), 4 W (9–16) and 3.5 W beyond (larger systems are
 * more efficient per DIMM), with a 10 W floor. Without `dimms` the count is
 * codecarbon's estimate from the size: 2 up to 16 GB, 4 up to 64 GB, 8 up
 * to 128 GB, then enough of the largest common module (≤ size/8) to fill
 * it, at most 32. That estimate is coarse and not monotone above 128 GB
 * (256 GB guesses 8 × 32 GB, 250 GB 16 × 16 GB); pass `dimms` when known.
 *
 * `per-gb` is codecarbon's earlier rule, 3 W per 8 GB = 0.375 W/GB, no floor.
 *
 * @example
 * ramPowerWatts({ totalBytes: 16 * 1024 ** 3 }) // → 10 (2 DIMMs × 5 W)
 * ramPowerWatts({ totalBytes: 16 * 1024 ** 3, mode: 'per-gb' }) // → 6
 */
export function ramPowerWatts(options: RamPowerOptions): number {
  const where = 'ramPowerWatts'
  checkObject(options, 'options', where)
  checkKnownKeys(options, ['totalBytes', 'mode', 'dimms'], where)
  const bytes = checkNumber(options.totalBytes, 'totalBytes', { min: 0, where })
  const mode =
    options.mode === undefined ? 'dimm' : checkOneOf(options.mode, 'mode', ['dimm', 'per-gb'], where)
  const gb = bytes / BYTES_PER_GB
  if (mode === 'per-gb') return RAM_WATTS_PER_GB * gb
  const dimms =
    options.dimms === undefined
      ? estimateDimms(gb)
      : checkNumber(options.dimms, 'dimms', { min: 1, integer: true, where })
  const w = RAM_WATTS_PER_DIMM
  const tiered =
    w * Math.min(dimms, 4) +
    0.9 * w * Math.min(Math.max(dimms - 4, 0), 4) +
    0.8 * w * Math.min(Math.max(dimms - 8, 0), 8) +
    0.7 * w * Math.max(dimms - 16, 0)
  return Math.max(RAM_MIN_WATTS, tiered)
}

// ---------------------------------------------------------------------------
// Units, carbon, SCI
// ---------------------------------------------------------------------------

/**
 * Joules to kilowatt-hours (1 kWh = 3.6 MJ). A plain conversion: signs and
 * NaN pass through.
 *
 * @example
 * joulesToKWh(3_600_000) // → 1
 */
export function joulesToKWh(joules: number): number {
  return joules / JOULES_PER_KWH
}

/**
 * Kilowatt-hours to joules. A plain conversion: signs and NaN pass through.
 *
 * @example
 * kWhToJoules(0.001) // → 3600
 */
export function kWhToJoules(kWh: number): number {
  return kWh * JOULES_PER_KWH
}

/**
 * Grams of CO₂e emitted by `joules` of electricity at a grid intensity of
 * `gramsPerKWh`. Linear in energy. A negative or non-finite energy or
 * intensity counts as 0, so a bad reading never yields negative carbon.
 *
 * @example
 * co2Grams(3_600_000, DEFAULT_INTENSITY_G_PER_KWH) // → 475
 */
export function co2Grams(joules: number, gramsPerKWh: number): number {
  if (!(joules > 0) || !(gramsPerKWh > 0) || !Number.isFinite(joules) || !Number.isFinite(gramsPerKWh))
    return 0
  return joulesToKWh(joules) * gramsPerKWh
}

export interface SciInput {
  /** E: energy consumed, in kWh. */
  energyKWh: number
  /** I: grid carbon intensity, in gCO₂e/kWh. */
  intensityGPerKWh: number
  /** M: embodied emissions apportioned to this period, in gCO₂e. Default 0. */
  embodiedGrams?: number
  /** R: number of functional units (requests, users, jobs...). Positive. Default 1. */
  functionalUnits?: number
}

/**
 * Software Carbon Intensity (Green Software Foundation): `((E × I) + M) / R`,
 * in gCO₂e per functional unit.
 *
 * @example
 * sci({ energyKWh: 0.002, intensityGPerKWh: 475, embodiedGrams: 0.05, functionalUnits: 1000 })
 * // → 0.001 (grams per request)
 */
export function sci(input: SciInput): number {
  const where = 'sci'
  checkObject(input, 'input', where)
  checkKnownKeys(input, ['energyKWh', 'intensityGPerKWh', 'embodiedGrams', 'functionalUnits'], where)
  const e = checkNumber(input.energyKWh, 'energyKWh', { min: 0, where })
  const i = checkNumber(input.intensityGPerKWh, 'intensityGPerKWh', { min: 0, where })
  const m =
    input.embodiedGrams === undefined
      ? 0
      : checkNumber(input.embodiedGrams, 'embodiedGrams', { min: 0, where })
  const r =
    input.functionalUnits === undefined
      ? 1
      : checkNumber(input.functionalUnits, 'functionalUnits', { min: 0, exclusiveMin: true, where })
  return (e * i + m) / r
}
