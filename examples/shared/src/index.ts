/**
 * What the three inference-API examples share. Each server imports
 * `createCortexStack` and `createHandlers` and only wires its framework.
 */
export * as config from '../cortex.config.ts'
export { createHandlers, type Handlers, type Reply } from './handlers.js'
export * from './inference.js'
export { type CortexStack, createCortexStack, type PowerMode, type StackOptions } from './stack.js'
