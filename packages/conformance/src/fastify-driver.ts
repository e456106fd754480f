/** Drives Fastify 5 through the @cortex/fastify adapter. */
import * as adapter from '@cortex/fastify'
import Fastify, { type FastifyInstance } from 'fastify'
import {
  cortexCalls,
  type FrameworkDriver,
  type Middleware,
  PART_ORDER,
  reply,
  type ServerSetup,
  type Wiring,
} from './harness.js'

const separate = {
  slo: adapter.sloTracking,
  energy: adapter.energyTracking,
  rateLimit: adapter.rateLimit,
  powerMode: adapter.powerMode,
}

/** Registers a case's parts as this driver wires them, then each middleware's own endpoints. */
async function mount(app: FastifyInstance, middleware: readonly Middleware[], wiring: Wiring): Promise<void> {
  if (wiring === 'cortex') {
    for (const parts of cortexCalls(middleware))
      await app.register(adapter.cortex, parts as adapter.CortexOptions)
  }
  for (const m of middleware) {
    if (wiring === 'separate' && m.parts !== undefined) {
      for (const part of PART_ORDER) {
        if (m.parts[part] !== undefined) await app.register(separate[part] as never, m.parts[part] as never)
      }
    }
    await m.fastify?.(app)
  }
}

function driver(name: 'fastify' | 'fastify+cortex', wiring: Wiring): FrameworkDriver {
  return {
    name,
    family: 'fastify',
    wiring,
    async start(setup: ServerSetup) {
      const app = Fastify({ trustProxy: setup.trustProxy ?? false })
      await mount(app, setup.middleware ?? [], wiring)
      for (const route of setup.routes) {
        app.route({
          method: route.method,
          url: route.path,
          handler: async (request, res) => {
            const r = await reply(route, adapter.requestInfo(request), setup.extras?.(request) ?? {})
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
