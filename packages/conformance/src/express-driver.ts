/** Drives Express 5 and Express 4 through the @cortex/express adapter. */
import { createServer } from 'node:http'
import { requestInfo } from '@cortex/express'
import express5 from 'express'
// @ts-expect-error express4 is an npm alias of express@4 and shares its types
import express4 from 'express4'
import { close, type FrameworkDriver, listen, reply, type ServerSetup } from './harness.js'

function driver(name: 'express' | 'express4', factory: typeof express5): FrameworkDriver {
  return {
    name,
    family: 'express',
    async start(setup: ServerSetup) {
      const app = factory()
      app.set('trust proxy', setup.trustProxy ?? false)
      app.use(express5.json())
      for (const m of setup.middleware ?? []) m.express?.(app)
      for (const route of setup.routes) {
        const method = route.method.toLowerCase() as 'get' | 'post' | 'put' | 'delete'
        app[method](route.path, async (req, res, next) => {
          try {
            const r = await reply(route, requestInfo(req), setup.extras?.(req) ?? {})
            res.status(r.status).set(r.headers).json(r.body)
          } catch (err) {
            next(err)
          }
        })
      }
      const server = createServer(app)
      const url = await listen(server)
      return { framework: name, url, close: () => close(server) }
    },
  }
}

export const expressDriver = driver('express', express5)
export const express4Driver = driver('express4', express4 as typeof express5)
