/** Drives Express 5 and Express 4 through the @cortex/express adapter. */
import { createServer } from 'node:http'
import * as adapter from '@cortex/express'
import express5 from 'express'
// @ts-expect-error express4 is an npm alias of express@4 and shares its types
import express4 from 'express4'
import {
  close,
  type FrameworkDriver,
  listen,
  mountAll,
  quotaOf,
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

function driver(
  name: 'express' | 'express4' | 'express+cortex',
  factory: typeof express5,
  wiring: Wiring,
): FrameworkDriver {
  return {
    name,
    family: 'express',
    wiring,
    async start(setup: ServerSetup) {
      const app = factory()
      app.set('trust proxy', setup.trustProxy ?? false)
      await mountAll(setup.middleware ?? [], wiring, {
        cortex: (parts) => app.use(adapter.cortex(parts as adapter.CortexOptions)),
        part: (name, options) => app.use(separate[name](options as never)),
        own: (m) => m.express?.(app),
      })
      // After cortex(), as the README says: a refused request is answered without parsing its body.
      app.use(express5.json())
      for (const route of setup.routes) {
        const method = route.method.toLowerCase() as 'get' | 'post' | 'put' | 'delete'
        app[method](route.path, async (req, res, next) => {
          try {
            const r = await reply(route, adapter.requestInfo(req), {
              ...setup.extras?.(req),
              quota: quotaOf(adapter, req),
            })
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

export const expressDriver = driver('express', express5, 'separate')
export const express4Driver = driver('express4', express4 as typeof express5, 'separate')
/** Express 5 with every case's parts mounted as one `cortex()` middleware. */
export const expressCortexDriver = driver('express+cortex', express5, 'cortex')
