/**
 * Response headers from the middleware, set on Node's response directly
 * (Koa's `ctx.set` adds a delegate hop per call) and never after the headers
 * have gone out.
 */
import type { Context } from 'koa'

/**
 * Sets response headers on the Node response directly. Koa's `ctx.set(object)`
 * goes through a delegate and a loop of `response.set` calls, each adding its
 * own checks around the `setHeader` that does the work; nothing is set once
 * the headers are sent (as `ctx.set` behaves).
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
