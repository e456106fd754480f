/** Drives Fastify 5 through the @cortex/fastify adapter. */
import { requestInfo } from '@cortex/fastify'
import Fastify from 'fastify'
import type { FrameworkDriver, ServerSetup } from './harness.js'
import { reply } from './harness.js'

export const fastifyDriver: FrameworkDriver = {
  name: 'fastify',
  family: 'fastify',
  async start(setup: ServerSetup) {
    const app = Fastify({ trustProxy: setup.trustProxy ?? false })
    for (const m of setup.middleware ?? []) await m.fastify?.(app)
    for (const route of setup.routes) {
      app.route({
        method: route.method,
        url: route.path,
        handler: async (request, res) => {
          const r = await reply(route, requestInfo(request), setup.extras?.(request) ?? {})
          res.status(r.status).headers(r.headers)
          return r.body
        },
      })
    }
    const url = await app.listen({ port: 0, host: '127.0.0.1' })
    return { framework: 'fastify', url, close: () => app.close() }
  },
}
