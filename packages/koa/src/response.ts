/**
 * Per-request plumbing shared by the middleware.
 *
 * Work that ends with the exchange runs from a listener on the response's
 * 'close' event — one function per middleware, shared by every response, with
 * no closure or `once` wrapper per request. 'close' comes for every response,
 * once it is sent or when the client goes away. The listener finds the Koa
 * context on the response itself.
 */
import type { ServerResponse } from 'node:http'
import type { Context } from 'koa'

const kContext = Symbol('cortex.koa.context')
type ContextResponse = ServerResponse & { [kContext]?: Context }

/**
 * Wraps a 'close' listener once, when the middleware is created: an error it
 * throws goes to Koa's `app.on('error')` with the context, never into the
 * socket's event (where it would crash the process).
 */
export function closeListener(listener: (this: ServerResponse) => void): (this: ServerResponse) => void {
  return function onClose(this: ServerResponse) {
    try {
      listener.call(this)
    } catch (err) {
      const ctx = contextOf(this)
      ctx?.app.emit('error', err, ctx)
    }
  }
}

/** Calls `listener` (with `this` the response) when `ctx.res` closes — at once if it already has. */
export function onResponseClose(ctx: Context, listener: (this: ServerResponse) => void): void {
  const res = ctx.res as ContextResponse
  res[kContext] = ctx
  if (res.closed) listener.call(res)
  else res.on('close', listener)
}

/** The Koa context `onResponseClose` remembered for this response. */
export function contextOf(res: ServerResponse): Context | undefined {
  return (res as ContextResponse)[kContext]
}

/**
 * Sets response headers on the Node response directly. Koa's `ctx.set(object)`
 * goes through a delegate and a loop of `response.set` calls that cost, on
 * the HTTP benchmark, about five times what the `setHeader` calls themselves
 * do; nothing is set once the headers are sent (as `ctx.set` behaves).
 */
export function setHeaders(ctx: Context, headers: Readonly<Record<string, string>>): void {
  const res = ctx.res
  if (res.headersSent) return
  for (const name in headers) res.setHeader(name, headers[name] as string)
}

/** `setHeaders` for one header. */
export function setHeader(ctx: Context, name: string, value: string): void {
  const res = ctx.res
  if (!res.headersSent) res.setHeader(name, value)
}
