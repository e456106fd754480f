/**
 * One shape for every @cortex Fastify plugin. Each can be registered either
 * way a Fastify user expects:
 *
 *   await app.register(rateLimit, { limiter })      // plugin + options
 *   await app.register(rateLimit({ limiter }))      // configured plugin
 *
 * Both validate the options (the second form when it is called, so a
 * mistake surfaces at start-up), and both apply the hooks to the instance
 * they are registered on and its children (fastify-plugin semantics).
 */
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'

export interface CortexFastifyPlugin<O> {
  /** Registered as `app.register(plugin, options)`. */
  (instance: FastifyInstance, options: O): Promise<void>
  /** Called as `plugin(options)`: returns a plugin to register without options. */
  (options: O): FastifyPluginAsync
}

function isFastify(value: unknown): value is FastifyInstance {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as FastifyInstance).register === 'function' &&
    typeof (value as FastifyInstance).addHook === 'function'
  )
}

export function cortexPlugin<O>(
  name: string,
  validate: (options: O) => void,
  install: (app: FastifyInstance, options: O) => void | Promise<void>,
): CortexFastifyPlugin<O> {
  const meta = { fastify: '5.x', name }
  function plugin(first: FastifyInstance | O, second?: O): Promise<void> | FastifyPluginAsync {
    if (isFastify(first)) {
      // Registered: Fastify expects failures as a rejection, never a throw.
      try {
        const options = second as O
        validate(options)
        return Promise.resolve(install(first, options))
      } catch (err) {
        return Promise.reject(err)
      }
    }
    validate(first)
    return fp(async (app: FastifyInstance) => install(app, first), meta)
  }
  return fp(plugin as unknown as FastifyPluginAsync, meta) as unknown as CortexFastifyPlugin<O>
}
