/**
 * What the three inference-API examples share. Each server imports
 * `createCortexStack` and `createHandlers` and only wires its framework.
 */
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
