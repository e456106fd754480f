/**
 * The interface every power source implements (RAPL, hwmon, nvidia-smi, the
 * CPU and RAM models, or your own), and small helpers the built-in sources
 * share. The meter only speaks this interface.
 */

/** The hardware part a source describes. Figures are reported per component. */
export type EnergyComponent = 'cpu' | 'gpu' | 'ram'

/** Every component, in the order reports list them. */
export const ENERGY_COMPONENTS: readonly EnergyComponent[] = ['cpu', 'gpu', 'ram']

/**
 * `measured`: read from a sensor or counter (RAPL, hwmon, NVML via nvidia-smi).
 * `modelled`: estimated from a model (CPU time × TDP curve, RAM size); the
 * meter reports any figure that includes one as `estimated`.
 */
export type SourceKind = 'measured' | 'modelled'

/**
 * What a source's figure covers. `machine`: the whole machine (RAPL, hwmon,
 * nvidia-smi, the RAM model): the meter attributes to this process only its
 * share (see the README, "Process share"). `process`: this process alone
 * (the CPU model): attributed in full.
 */
export type SourceScope = 'machine' | 'process'

/** Whether a source can be read here; when not, a sentence saying why and what to do. */
export type SourceAvailability = { available: true } | { available: false; reason: string }

/**
 * One reading. Exactly one of:
 * - `joules`: a cumulative energy counter (any origin; only differences between
 *   readings are used, and a counter that goes backwards counts as 0);
 * - `watts`: the power right now (the meter integrates it with the trapezoidal rule).
 */
export type SourceReading = { joules: number; watts?: undefined } | { watts: number; joules?: undefined }

/**
 * A power source. `read` may reject or return non-finite numbers: the meter
 * counts that as a failed read of the source and goes on.
 *
 * @example
 * const wallMeter: EnergySource = {
 *   name: 'pdu', kind: 'measured', component: 'cpu', scope: 'machine',
 *   available: async () => ({ available: true }),
 *   read: async () => ({ watts: await readPduWatts() }),
 * }
 * createEnergyMeter({ sources: [wallMeter] })
 */
export interface EnergySource {
  /** Short unique name shown in `snapshot().sources`, e.g. `rapl`, `nvidia-smi`. */
  readonly name: string
  readonly kind: SourceKind
  readonly component: EnergyComponent
  /**
   * `machine` when the figure covers the whole machine (a sensor, a PDU),
   * `process` when it covers this process only. Default `process`: a custom
   * source is attributed in full unless it says it measures the machine.
   */
  readonly scope?: SourceScope
  /** Probes the source once; never throws (an error is an unavailable source). */
  available(): Promise<SourceAvailability>
  /** One reading at `nowMs` (the meter's clock, milliseconds). */
  read(nowMs: number): Promise<SourceReading>
  /** Optional details for reports (devices found, model used, TDP...). */
  describe?(): Record<string, unknown>
}

/** `available: true`, shared. */
export const AVAILABLE: SourceAvailability = Object.freeze({ available: true })

/** An unavailable result with the reason. */
export function unavailable(reason: string): SourceAvailability {
  return { available: false, reason }
}

/** The message of an unknown thrown value. */
export function messageOf(err: unknown): string {
  if (err instanceof Error) return err.message
  return String(err)
}
