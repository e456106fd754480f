/**
 * @cortex/energy — power, energy and CO₂ of a Node.js process from RAPL,
 * hwmon, nvidia-smi or a CPU-time model, attributed per request, with
 * prom-client metrics, a JSON snapshot and a codecarbon-compatible CSV.
 */
export type { AutoSourcesOptions } from './auto-sources.js'
export {
  type CarbonIntensityInfo,
  type CarbonIntensityOption,
  countryIntensity,
  INTENSITY_DATASET,
  worldAverageIntensity,
} from './carbon-intensity.js'
export {
  type CpuModelSourceOptions,
  cpuModelSource,
  KNOWN_CPUS,
  type KnownCpu,
  resolveTdp,
  type TdpChoice,
} from './cpu-model-source.js'
export {
  appendEmissionsCsv,
  EMISSIONS_CSV_COLUMNS,
  type EmissionsCsvColumn,
  type EmissionsCsvOptions,
  emissionsCsvHeader,
  emissionsCsvRecord,
  emissionsCsvRow,
} from './emissions-csv.js'
export { type EnergyDashboardOptions, energyDashboard } from './energy-dashboard.js'
export {
  type BudgetEvent,
  type ComponentEnergy,
  createEnergyMeter,
  type EnergyMeter,
  type EnergyMeterOptions,
  type EnergySnapshot,
  type EnergyTimers,
  type HostEnergy,
  type ProcessShareReport,
  type SourceReport,
} from './energy-meter.js'
export { ENERGY_METRIC_NAMES, type EnergyMetricsOptions, registerEnergyMetrics } from './energy-metrics.js'
export { type HwmonSourceOptions, hwmonSource } from './hwmon-source.js'
export {
  type GpuReading,
  type NvidiaSmiSourceOptions,
  nvidiaSmiSource,
  parseNvidiaSmi,
} from './nvidia-smi-source.js'
export type { ProcessShareOptions } from './process-share.js'
export { type RamModelSourceOptions, ramModelSource } from './ram-model-source.js'
export { DEFAULT_POWERCAP_ROOTS, type RaplSourceOptions, raplAccessHint, raplSource } from './rapl-source.js'
export {
  type EndRequest,
  type OutcomeEnergy,
  type RouteEnergy,
  STATUS_CLASSES,
  type StatusClass,
} from './request-ledger.js'
export { type SnapshotSciOptions, snapshotSci } from './sci.js'
export {
  ENERGY_COMPONENTS,
  type EnergyComponent,
  type EnergySource,
  type SourceAvailability,
  type SourceKind,
  type SourceReading,
  type SourceScope,
} from './source.js'
export type { SysfsReader } from './sysfs.js'
