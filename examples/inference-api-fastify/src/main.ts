/**
 * Starts the Fastify inference API: `PORT` (default 3000, 0 for any free port), `HOST`, `REDIS_URL`,
 * `API_KEYS`/`API_KEYS_FILE`, `SHUTDOWN_DRAIN_MS` (default 10000).
 */
import { createCortexStack, gracefulShutdown } from '@cortex-examples/shared'
import { buildServer } from './server.ts'

const stack = createCortexStack()
const app = await buildServer(stack)
const url = await app.listen({
  port: Number(process.env.PORT ?? 3000),
  host: process.env.HOST ?? '127.0.0.1',
})
console.log(JSON.stringify({ event: 'listening', framework: 'fastify', url, store: stack.store }))

// SIGTERM/SIGINT: stop accepting, answer every in-flight request, close idle keep-alive sockets, exit.
gracefulShutdown(app.server, { stop: () => app.close(), onClosed: () => stack.close() })
