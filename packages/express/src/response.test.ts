import { createServer, request as httpRequest, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import express from 'express'
import { afterEach, describe, expect, it } from 'vitest'
import { sloTracking } from './index.js'

const servers: Server[] = []
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r))
})

function get(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ port, host: '127.0.0.1', path }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode as number))
    })
    req.on('error', reject)
    req.end()
  })
}

describe('@cortex/express middleware that ends with the response', () => {
  it('turns an error thrown while a response closes into a process warning and keeps serving', async () => {
    const failing = {
      now: () => performance.now(),
      record: () => {
        throw new Error('tracker broke')
      },
    }
    const warnings: Error[] = []
    const onWarning = (w: Error) => {
      if ((w as Error & { code?: string }).code === 'ERR_CORTEX_CLOSE_LISTENER') warnings.push(w)
    }
    process.on('warning', onWarning)
    try {
      const app = express()
      app.use(sloTracking({ tracker: failing as never }))
      app.get('/a', (_req, res) => {
        res.json({ ok: true })
      })
      const server = createServer(app)
      servers.push(server)
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
      const { port } = server.address() as AddressInfo
      expect(await get(port, '/a')).toBe(200)
      expect(await get(port, '/a')).toBe(200)
      await new Promise((r) => setTimeout(r, 20))
      expect(warnings).toHaveLength(2)
      expect(warnings[0]?.message).toContain('tracker broke')
    } finally {
      process.off('warning', onWarning)
    }
  })
})
