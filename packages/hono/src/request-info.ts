/**
 * Hono's side of the @cortex request port: method, path, the route template
 * Hono's router matched and the client address, which Hono leaves to the
 * runtime (Node, Bun and Deno each hand it over differently).
 */
import type { RequestInfo } from '@cortex/core'
import type { Context } from 'hono'
import type { RouterRoute } from 'hono/types'

/**
 * Gives the client address of a request. Hono has no trust-proxy setting:
 * the address is whatever this function returns, so forwarding headers
 * count only when it reads them (for the proxies you run, see the README).
 */
export type ClientAddress = (c: Context) => string | undefined

export interface RequestInfoOptions {
  /** Default: the runtime's peer address (see {@link runtimeClientAddress}). */
  clientAddress?: ClientAddress
}

/**
 * The framework-free facts about a Hono request.
 *
 * @example
 * app.get('/users/:id', (c) => c.json(requestInfo(c)))
 * // → { method: 'GET', path: '/users/42', route: '/users/:id', clientAddress: '127.0.0.1' }
 */
export function requestInfo(c: Context, options: RequestInfoOptions = {}): RequestInfo {
  return {
    method: c.req.method,
    path: c.req.path,
    route: routeOf(c),
    clientAddress: addressOf(c, options.clientAddress),
  }
}

/**
 * The template of the route that answers this request: the first route Hono
 * matched from the current handler on that is not middleware, or undefined
 * when none is (Hono answers 404). Middleware means a wildcard path (`*`,
 * `/api/*`) whose handler takes `next`, as `app.use` mounts. Hono has
 * matched every handler before the first middleware runs, so this is known
 * in middleware already, with sub-app and `basePath` prefixes included.
 *
 * @example
 * app.use(async (c, next) => { console.log(routeOf(c)); await next() }) // '/users/:id'
 */
export function routeOf(c: Context): string | undefined {
  const route = matchedRoute(c)
  return route === UNKNOWN_ROUTE ? undefined : route
}

/** What `matchedRoute` answers when this Hono tells no matched routes. */
export const UNKNOWN_ROUTE: unique symbol = Symbol('cortex.hono.unknownRoute')

/**
 * `routeOf`, telling "no route matched" (undefined) from "this Hono does not
 * say" (`UNKNOWN_ROUTE`). It reads `c.req.matchedRoutes`, which every Hono 4
 * has, rather than the `hono/route` helper (4.8+): the helper finds the
 * match through a symbol private to its own copy of Hono, so with two copies
 * loaded (ESM and CommonJS, or two versions) it would throw on every request.
 */
export function matchedRoute(c: Context): string | undefined | typeof UNKNOWN_ROUTE {
  let routes: unknown
  try {
    routes = (c.req as { matchedRoutes?: unknown }).matchedRoutes
  } catch {
    return UNKNOWN_ROUTE
  }
  if (!Array.isArray(routes)) return UNKNOWN_ROUTE
  for (let i = c.req.routeIndex; i < routes.length; i++) {
    const route = routes[i] as RouterRoute
    const path = route.path
    if (path.charCodeAt(path.length - 1) === 42 /* * */ && route.handler.length >= 2) continue
    return path
  }
  return undefined
}

/** The client address from `clientAddress`, else the runtime's; never throws. */
export function addressOf(c: Context, clientAddress: ClientAddress | undefined): string | undefined {
  try {
    const address = (clientAddress ?? runtimeClientAddress)(c)
    return typeof address === 'string' && address.length > 0 ? address : undefined
  } catch {
    return undefined
  }
}

/**
 * The request headers as a read-only record of lower-case names, the shape
 * the packages read a few headers from: Node's own object under
 * @hono/node-server, else a view over the Web `Headers`.
 */
export function headerRecord(c: Context): Record<string, string | undefined> {
  const env = c.env as { incoming?: { headers?: Record<string, string | undefined> } } | undefined
  const nodeHeaders = typeof env === 'object' && env !== null ? env.incoming?.headers : undefined
  if (typeof nodeHeaders === 'object' && nodeHeaders !== null) return nodeHeaders
  return new Proxy(c.req.raw.headers, HEADER_RECORD) as unknown as Record<string, string | undefined>
}

const HEADER_RECORD: ProxyHandler<Headers> = {
  get: (headers, name) => (typeof name === 'string' ? (headers.get(name) ?? undefined) : undefined),
  has: (headers, name) => typeof name === 'string' && headers.has(name),
}

interface RuntimeEnv {
  /** @hono/node-server: `{ incoming, outgoing }` (or under `server`). */
  incoming?: { socket?: { remoteAddress?: unknown } }
  /** Deno: `Deno.serve(app.fetch)` passes `ServeHandlerInfo`. */
  remoteAddr?: { hostname?: unknown }
  /** Bun: `Bun.serve({ fetch: app.fetch })` passes the server. */
  requestIP?: (request: Request) => { address?: unknown } | null
  server?: RuntimeEnv
}

/**
 * The peer address the runtime saw, read from `c.env` the way Hono's own
 * connection-info helpers do: the socket of @hono/node-server's `incoming`
 * request (Node), `info.remoteAddr.hostname` (Deno), `server.requestIP()`
 * (Bun); undefined elsewhere (then pass `clientAddress`). Never a forwarding
 * header.
 *
 * @example
 * runtimeClientAddress(c) // → '127.0.0.1'
 */
export function runtimeClientAddress(c: Context): string | undefined {
  const env = c.env as RuntimeEnv | undefined
  if (typeof env !== 'object' || env === null) return undefined
  const bindings = typeof env.server === 'object' && env.server !== null ? env.server : env
  const socketAddress = bindings.incoming?.socket?.remoteAddress
  if (typeof socketAddress === 'string') return socketAddress
  const denoAddress = bindings.remoteAddr?.hostname
  if (typeof denoAddress === 'string') return denoAddress
  if (typeof bindings.requestIP === 'function') {
    const bunAddress = bindings.requestIP(c.req.raw)?.address
    if (typeof bunAddress === 'string') return bunAddress
  }
  return undefined
}
