/**
 * @cortex/conformance — the drivers and helpers the shared adapter cases use.
 * Each concern's cases live in `<concern>.test.ts` beside this file and run
 * against every driver in `drivers`.
 */
import { express4Driver, expressCortexDriver, expressDriver } from './express-driver.js'
import { fastifyCortexDriver, fastifyDriver } from './fastify-driver.js'
import type { FrameworkDriver } from './harness.js'
import { honoCortexDriver, honoDriver } from './hono-driver.js'
import { koa2Driver, koaCortexDriver, koaDriver } from './koa-driver.js'

export * from './harness.js'

/**
 * Every framework version the adapters promise to support, each with one
 * middleware per part, and the current versions again with the parts
 * mounted as one `cortex()`: both wirings must pass every case.
 */
export const drivers: readonly FrameworkDriver[] = [
  expressDriver,
  express4Driver,
  fastifyDriver,
  koaDriver,
  koa2Driver,
  expressCortexDriver,
  fastifyCortexDriver,
  koaCortexDriver,
  honoDriver,
  honoCortexDriver,
]

/** One driver per adapter family, for cases that compare families (and are slower). */
export const primaryDrivers: readonly FrameworkDriver[] = [
  expressDriver,
  fastifyDriver,
  koaDriver,
  honoDriver,
]
