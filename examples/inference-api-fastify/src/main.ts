/** Starts the Fastify inference API: `PORT` (default 3000, 0 for any free port), `HOST`, `REDIS_URL`. */
import { createCortexStack } from '@cortex-examples/shared'
import { buildServer } from './server.ts'

const stack = createCortexStack()
const app = await buildServer(stack)
const url = await app.listen({
  port: Number(process.env.PORT ?? 3000),
  host: process.env.HOST ?? '127.0.0.1',
})
console.log(JSON.stringify({ event: 'listening', framework: 'fastify', url, store: stack.store }))

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, async () => {
    await app.close()
    await stack.close()
  })
}
