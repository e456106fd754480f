/**
 * @cortex/low-power — a power-mode controller for Node.js servers: triggers
 * (power budget, carbon intensity, schedule, battery) choose the mode; the
 * mode sets concurrency, rate-limit scale, knobs, deferred work and batching.
 */
export type { Timers } from '@cortex/core'
export { type Batcher, type BatchKnob, createBatcher } from './batcher.js'
export {
  type BatteryReading,
  type BatteryTriggerOptions,
  batteryTrigger,
  parsePmset,
  readLinuxBattery,
} from './battery-trigger.js'
export { type CarbonIntensityTriggerOptions, carbonIntensityTrigger } from './carbon-intensity-trigger.js'
export {
  type ClusterLike,
  type ClusterPowerModeOptions,
  clusterPowerMode,
  type PrimaryChannel,
  type WorkerLike,
} from './cluster-power-mode.js'
export { ConcurrencyGate, type GateStats, QueueFullError } from './concurrency-gate.js'
export {
  createPowerModeController,
  type OverloadResponse,
  type PowerModeChange,
  type PowerModeConfig,
  type PowerModeController,
  type PowerModeControllerOptions,
  type PowerModeDecision,
  type PowerModeSource,
  type RateScalable,
  type SetOptions,
  type TimerFunctions,
} from './controller.js'
export {
  type PowerBudgetTriggerOptions,
  type PowerReadingSource,
  powerBudgetTrigger,
} from './power-budget-trigger.js'
export { type ScheduleWindow, scheduleTrigger } from './schedule-trigger.js'
export type { PowerModeTrigger, TriggerVerdict } from './trigger.js'
