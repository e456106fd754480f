/**
 * Starts the Express inference API: `PORT` (default 3000, 0 for any free port), `HOST`, `REDIS_URL`,
 * `API_KEYS`/`API_KEYS_FILE`, `SHUTDOWN_DRAIN_MS` (default 10000).
 */
import type { AddressInfo } from 'node:net'
import { createCortexStack, gracefulShutdown } from '@cortex-examples/shared'
import { buildServer } from './server.ts'

const stack = createCortexStack()
const server = buildServer(stack)
server.listen(Number(process.env.PORT ?? 3000), process.env.HOST ?? '127.0.0.1', () => {
  const { address, port } = server.address() as AddressInfo
  console.log(
    JSON.stringify({
      event: 'listening',
      framework: 'express',
      url: `http://${address}:${port}`,
      store: stack.store,
    }),
  )
})

// SIGTERM/SIGINT: stop accepting, answer every in-flight request, close idle keep-alive sockets, exit.
gracefulShutdown(server, { onClosed: () => stack.close() })
