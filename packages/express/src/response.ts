/**
 * Work that ends with the exchange runs from a listener on the response's
 * 'close' event — one function per middleware, shared by every response, with
 * no closure or `once` wrapper per request. 'close' comes for every response,
 * once it is sent or when the client goes away; the listener finds the
 * request as `res.req`.
 */
import type { Response } from 'express'

/**
 * Wraps a 'close' listener once, when the middleware is created: an error it
 * throws (say, from a custom tracker) becomes a process warning
 * (`ERR_CORTEX_CLOSE_LISTENER`), never an exception in the socket's event,
 * where it would crash the process.
 */
export function closeListener(listener: (this: Response) => void): (this: Response) => void {
  return function onClose(this: Response) {
    try {
      listener.call(this)
    } catch (err) {
      process.emitWarning(
        `@cortex/express: a response-close listener failed: ${(err as Error)?.message ?? err}`,
        {
          code: 'ERR_CORTEX_CLOSE_LISTENER',
          detail: (err as Error)?.stack,
        },
      )
    }
  }
}

/** Calls `listener` (with `this` the response) when `res` closes — at once if it already has. */
export function onResponseClose(res: Response, listener: (this: Response) => void): void {
  if (res.closed) listener.call(res)
  else res.on('close', listener)
}
