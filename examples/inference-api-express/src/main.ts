/** Starts the Express inference API: `PORT` (default 3000, 0 for any free port), `HOST`, `REDIS_URL`. */
import type { AddressInfo } from 'node:net'
import { createCortexStack } from '@cortex-examples/shared'
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

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    server.close(() => void stack.close())
    server.closeAllConnections()
  })
}
