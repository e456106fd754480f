/**
 * What the three inference-API examples share. Each server imports
 * `createCortexStack` and `createHandlers` and only wires its framework.
 */

// The CPU power models the demo judges low-power mode under (the demo depends on this package, not on @cortex/core).
export { CPU_POWER_MODELS, type CpuPowerModel, cpuEnergyJoules } from '@cortex/core'
export * as config from '../cortex.config.ts'
export { createHandlers, type Handlers, LIMITS, type Reply } from './handlers.js'
export {
  BODY_LIMIT_BYTES,
  type BoundedLog,
  boundedLog,
  ClientError,
  clientErrorBody,
  type GracefulShutdownOptions,
  gracefulShutdown,
  isClientCaused,
  readJsonBody,
} from './http.js'
export * from './inference.js'
export {
  type CortexStack,
  createCortexStack,
  loadApiKeys,
  type PowerMode,
  type StackOptions,
} from './stack.js'
