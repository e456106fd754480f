/**
 * What the three example servers share at the HTTP layer, framework-free:
 * one body limit, a JSON body reader for frameworks without one (Koa), a
 * log for client-caused errors that stays bounded under abuse, and a
 * graceful shutdown that answers every in-flight request before exiting.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http'

/** Every example refuses a request body above this many bytes with 413. */
export const BODY_LIMIT_BYTES = 1024 * 1024

/** An error that is the client's fault: answered with its status and a JSON message, logged without a stack. */
export class ClientError extends Error {
  readonly expose = true
  constructor(
    readonly status: 400 | 413 | 415,
    readonly code: 'bad_request' | 'payload_too_large' | 'unsupported_media_type',
    message: string,
  ) {
    super(message)
  }
}

/**
 * Reads a JSON body of at most `limit` bytes. Rejects with a ClientError:
 * 413 when the declared or actual size is over the limit (it stops reading
 * at once, so a 100 MB body costs at most `limit` bytes of memory), 400 for
 * malformed JSON or a request the client aborted. An empty body is `undefined`.
 */
export async function readJsonBody(req: IncomingMessage, limit = BODY_LIMIT_BYTES): Promise<unknown> {
  const declared = Number(req.headers['content-length'])
  if (Number.isFinite(declared) && declared > limit) {
    req.resume() // drain without keeping it
    throw new ClientError(413, 'payload_too_large', `the body is over ${limit} bytes`)
  }
  const chunks: Buffer[] = []
  let size = 0
  try {
    for await (const chunk of req) {
      size += (chunk as Buffer).length
      if (size > limit) {
        req.resume()
        throw new ClientError(413, 'payload_too_large', `the body is over ${limit} bytes`)
      }
      chunks.push(chunk as Buffer)
    }
  } catch (err) {
    if (err instanceof ClientError) throw err
    throw new ClientError(400, 'bad_request', 'the request body was not received whole')
  }
  if (size === 0) return undefined
  try {
    return JSON.parse(Buffer.concat(chunks, size).toString('utf8'))
  } catch {
    throw new ClientError(400, 'bad_request', 'the body is not valid JSON')
  }
}

/**
 * Whether an error is the client's doing: a 4xx, an error marked `expose`,
 * or the socket-level failures an aborted or malformed request causes
 * (Node's parser `HPE_*` codes, resets, premature closes).
 */
export function isClientCaused(err: unknown): boolean {
  const e = err as { status?: unknown; statusCode?: unknown; expose?: unknown; code?: unknown } | undefined
  const status = Number(e?.status ?? e?.statusCode)
  if (status >= 400 && status < 500) return true
  if (e?.expose === true) return true
  const code = typeof e?.code === 'string' ? e.code : ''
  return (
    code.startsWith('HPE_') ||
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === 'ECONNABORTED' ||
    code === 'ERR_STREAM_PREMATURE_CLOSE' ||
    (err as Error)?.message === 'aborted'
  )
}

/** The JSON answer for a client error: `{ error, message }`. */
export function clientErrorBody(err: { code?: unknown; message?: unknown; status?: unknown }): {
  error: string
  message: string
} {
  const status = Number(err.status)
  const error =
    typeof err.code === 'string' && /^[a-z_]+$/.test(err.code)
      ? err.code
      : status === 413
        ? 'payload_too_large'
        : 'bad_request'
  return { error, message: typeof err.message === 'string' ? err.message : 'bad request' }
}

export interface BoundedLog {
  /** Logs one line for a client-caused error, unless this minute's allowance is spent. Never a stack. */
  clientError(what: string): void
  /** Logs a server error with its stack (these are ours to fix), within the same allowance. */
  serverError(err: unknown): void
}

/**
 * A log that writes at most `perMinute` lines a minute; what it drops is
 * counted and reported in one line when the next minute's first line is
 * written. Aborted or malformed requests from a hostile client therefore
 * cost a few lines a minute, not one (or a stack trace) per request.
 */
export function boundedLog(
  write: (line: string) => void = (line) => process.stderr.write(`${line}\n`),
  { perMinute = 5, now = Date.now }: { perMinute?: number; now?: () => number } = {},
): BoundedLog {
  let windowStart = Number.NEGATIVE_INFINITY
  let written = 0
  let dropped = 0
  function line(text: string): void {
    const t = now()
    if (t - windowStart >= 60_000) {
      if (dropped > 0) write(`(${dropped} more errors in the previous minute were not logged)`)
      windowStart = t
      written = 0
      dropped = 0
    }
    if (written < perMinute) {
      written++
      write(text)
    } else dropped++
  }
  return {
    clientError: (what) => line(`client error: ${what}`),
    serverError: (err) => line(`server error: ${(err as Error)?.stack ?? String(err)}`),
  }
}

export interface GracefulShutdownOptions {
  /** Stops accepting connections and resolves once the server has closed (Fastify: `() => app.close()`). */
  stop?: () => Promise<void>
  /** Runs after the server closed (timers, Redis). */
  onClosed?: () => Promise<void> | void
  /** Longest wait for in-flight requests, in ms. Default `SHUTDOWN_DRAIN_MS` or 10 s. */
  drainMs?: number
  /** Where the shutdown says what it does. Default stderr. */
  log?: (line: string) => void
  /** Signals to handle. Default SIGTERM and SIGINT. */
  signals?: readonly NodeJS.Signals[]
  /** Ends the process. Default `process.exit`. */
  exit?: (code: number) => void
}

/**
 * On SIGTERM (or SIGINT): stop accepting, answer every request already
 * received with `Connection: close` on its response, close idle keep-alive
 * sockets at once, and exit once the server has closed — or after
 * `drainMs`, closing whatever is still open. A Kubernetes pod therefore
 * ends well inside its 30 s grace period, and no answered request is cut.
 *
 * @returns `shutdown()`, the same steps on demand (tests).
 */
export function gracefulShutdown(
  server: Server,
  options: GracefulShutdownOptions = {},
): { shutdown(): Promise<void> } {
  const drainMs = options.drainMs ?? (Number(process.env.SHUTDOWN_DRAIN_MS) || 10_000)
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`))
  const exit = options.exit ?? ((code: number) => process.exit(code))
  const stop =
    options.stop ??
    (() =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
      }))
  const inFlight = new Set<ServerResponse>()
  let closing = false
  // First among the 'request' listeners: a response begun during the drain closes its connection.
  server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
    if (closing) res.setHeader('connection', 'close')
    inFlight.add(res)
    res.once('close', () => inFlight.delete(res))
  })
  let done: Promise<void> | undefined
  function shutdown(): Promise<void> {
    done ??= (async () => {
      closing = true
      log(
        JSON.stringify({
          event: 'shutdown',
          inFlight: inFlight.size,
          drainMs,
          message: 'draining in-flight requests',
        }),
      )
      for (const res of inFlight) if (!res.headersSent) res.setHeader('connection', 'close')
      const stopped = stop()
      server.closeIdleConnections()
      let timer: NodeJS.Timeout | undefined
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), drainMs)
        timer.unref()
      })
      const outcome = await Promise.race([stopped.then(() => 'drained' as const), timedOut])
      clearTimeout(timer)
      if (outcome === 'timeout') {
        log(
          JSON.stringify({
            event: 'shutdown',
            message: `drain took over ${drainMs} ms: closing ${inFlight.size} open requests`,
          }),
        )
        server.closeAllConnections()
      }
      try {
        await options.onClosed?.()
      } finally {
        log(JSON.stringify({ event: 'stopped' }))
        exit(0)
      }
    })()
    return done
  }
  for (const signal of options.signals ?? (['SIGTERM', 'SIGINT'] as const)) {
    process.once(signal, () => void shutdown())
  }
  return { shutdown }
}
