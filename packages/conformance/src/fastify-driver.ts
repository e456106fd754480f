/** Drives Fastify 5 through the @cortex/fastify adapter. */
import * as adapter from '@cortex/fastify'
import Fastify from 'fastify'
import { type FrameworkDriver, mountAll, quotaOf, reply, type ServerSetup, type Wiring } from './harness.js'

const separate = {
  slo: adapter.sloTracking,
  energy: adapter.energyTracking,
  rateLimit: adapter.rateLimit,
  powerMode: adapter.powerMode,
}

function driver(name: 'fastify' | 'fastify+cortex', wiring: Wiring): FrameworkDriver {
  return {
    name,
    family: 'fastify',
    wiring,
    async start(setup: ServerSetup) {
      const app = Fastify({ trustProxy: setup.trustProxy ?? false })
      await mountAll(setup.middleware ?? [], wiring, {
        cortex: (parts) => app.register(adapter.cortex, parts as adapter.CortexOptions),
        part: (name, options) => app.register(separate[name] as never, options as never),
        own: (m) => m.fastify?.(app),
      })
      for (const route of setup.routes) {
        app.route({
          method: route.method,
          url: route.path,
          handler: async (request, res) => {
            const r = await reply(route, adapter.requestInfo(request), {
              ...setup.extras?.(request),
              quota: quotaOf(adapter, request),
            })
            res.status(r.status).headers(r.headers)
            return r.body
          },
        })
      }
      const url = await app.listen({ port: 0, host: '127.0.0.1' })
      return { framework: name, url, close: () => app.close() }
    },
  }
}

export const fastifyDriver = driver('fastify', 'separate')
/** Fastify 5 with every case's parts registered as one `cortex` plugin. */
export const fastifyCortexDriver = driver('fastify+cortex', 'cortex')
