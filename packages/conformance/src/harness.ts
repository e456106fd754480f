/**
 * The adapter conformance harness: starts a real Express, Fastify or Koa
 * server on loopback (port 0) from one framework-neutral description, so the
 * same named cases run against every adapter.
 *
 * A case describes routes and "middleware": for each framework, how to wire
 * the @cortex adapter under test. Each framework's driver lives in its own
 * file and knows nothing about any @cortex feature.
 */
import type { AddressInfo } from 'node:net'
import type { RequestInfo } from '@cortex/core'

export type FrameworkName =
  | 'express'
  | 'express4'
  | 'fastify'
  | 'koa'
  | 'koa2'
  | 'express+cortex'
  | 'fastify+cortex'
  | 'koa+cortex'
  | 'hono'
  | 'hono+cortex'

/**
 * The @cortex parts a case wires, each the options of the adapter's
 * middleware of that name (`rateLimit`, `sloTracking`, `energyTracking`,
 * `powerMode`) — exactly what the adapter's `cortex()` takes.
 */
export interface Parts {
  rateLimit?: unknown
  slo?: unknown
  energy?: unknown
  powerMode?: unknown
}

/** The order in which a driver wiring one middleware per part mounts them (the order `cortex()` runs them). */
export const PART_ORDER = ['slo', 'energy', 'rateLimit', 'powerMode'] as const

/** How a driver mounts a case's parts: one adapter middleware per part, or one `cortex(parts)`. */
export type Wiring = 'separate' | 'cortex'

/**
 * The `cortex()` calls a driver wiring `'cortex'` makes for a case: the parts
 * of every middleware together in ONE call, as a user wires the whole stack,
 * unless two middleware wire the same part (then one call each).
 */
function cortexCalls(middleware: readonly Middleware[]): Parts[] {
  const all = middleware.flatMap((m) => (m.parts === undefined ? [] : [m.parts]))
  const merged: Parts = {}
  for (const parts of all) {
    for (const key of Object.keys(parts) as (keyof Parts)[]) {
      if (key in merged) return all
      merged[key] = parts[key]
    }
  }
  return all.length === 0 ? [] : [merged]
}

/** How one framework mounts a `cortex()` call, one single-concern part, and a middleware's own endpoints. */
export interface Mounter {
  cortex(parts: Parts): unknown
  part(name: (typeof PART_ORDER)[number], options: unknown): unknown
  own(m: Middleware): unknown
}

/** Mounts a case's parts as `wiring` says (see `cortexCalls`), then each middleware's own endpoints. */
export async function mountAll(
  middleware: readonly Middleware[],
  wiring: Wiring,
  mounter: Mounter,
): Promise<void> {
  if (wiring === 'cortex') for (const parts of cortexCalls(middleware)) await mounter.cortex(parts)
  for (const m of middleware) {
    if (wiring === 'separate' && m.parts !== undefined) {
      for (const part of PART_ORDER) if (m.parts[part] !== undefined) await mounter.part(part, m.parts[part])
    }
    await mounter.own(m)
  }
}

/** The reply a route handler gives, framework-free. */
export interface RouteReply {
  status?: number
  body?: unknown
  headers?: Record<string, string>
  /** Milliseconds to wait before replying (simulated work). */
  delayMs?: number
}

export interface RouteSpec {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE'
  /** A route template in the common `:param` syntax, e.g. `/users/:id`. */
  path: string
  /**
   * Builds the reply from what the adapter reported about the request.
   * Default: 200 with the RequestInfo as JSON.
   */
  handler?: (info: RequestInfo, extras: Record<string, unknown>) => RouteReply | Promise<RouteReply>
}

// biome-ignore lint/suspicious/noExplicitAny: each driver passes its own framework's app object.
type AnyApp = any

/**
 * How to wire one concern into each framework, applied before the routes:
 * the driver mounts `parts` (as its wiring says), then calls the function
 * for its framework (endpoints such as `/metrics`).
 */
export interface Middleware {
  parts?: Parts
  express?: (app: AnyApp) => void
  fastify?: (app: AnyApp) => void | Promise<void>
  koa?: (app: AnyApp) => void
  /** Hono has no trust-proxy setting: `client` is the driver's stand-in, to pass to internal endpoints. */
  hono?: (app: AnyApp, client: HonoClient) => void
}

/** How a Hono server resolves the client (the options `metricsHandler`/`energyHandler` take). */
export interface HonoClient {
  clientAddress?: (c: AnyApp) => string | undefined
  trustProxy: boolean
}

/** What a route handler can do about its request's quota, through the adapter under test. */
export interface Quota {
  /** `settleRateLimit(frameworkRequest, actual)`. */
  settle(actual: number | Record<string, number>): unknown
  /** `rateLimitDecisions(frameworkRequest)`. */
  decisions(): readonly unknown[]
}

/** The adapter's quota functions bound to one framework request (every adapter exports both). */
export function quotaOf(
  adapter: {
    settleRateLimit(req: never, actual: number | Record<string, number>): unknown
    rateLimitDecisions(req: never): readonly unknown[]
  },
  frameworkRequest: unknown,
): Quota {
  return {
    settle: (actual) => adapter.settleRateLimit(frameworkRequest as never, actual),
    decisions: () => adapter.rateLimitDecisions(frameworkRequest as never),
  }
}

export interface ServerSetup {
  routes: RouteSpec[]
  middleware?: Middleware[]
  /** Framework trust-proxy setting (Express `trust proxy`, Fastify `trustProxy`, Koa `proxy`). */
  trustProxy?: boolean
  /**
   * Per framework: pulls extra facts out of the framework request for
   * handlers (e.g. `req.powerMode`); receives the framework request/context.
   */
  extras?: (frameworkRequest: AnyApp) => Record<string, unknown>
}

export interface RunningServer {
  framework: FrameworkName
  /** Base URL, e.g. `http://127.0.0.1:39123`. */
  url: string
  close(): Promise<void>
}

export interface FrameworkDriver {
  name: FrameworkName
  /** Which adapter family this driver uses (express4 uses the Express adapter). */
  family: 'express' | 'fastify' | 'koa' | 'hono'
  /** How this driver mounts the parts a case wires. */
  wiring: Wiring
  start(setup: ServerSetup): Promise<RunningServer>
}

/** Resolves once an http.Server listens on 127.0.0.1:0; returns its base URL. */
export function listen(server: import('node:http').Server): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo
      resolve(`http://127.0.0.1:${port}`)
    })
  })
}

/** Closes an http.Server, ending idle keep-alive sockets so tests never hang. */
export function close(server: import('node:http').Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()))
    server.closeAllConnections?.()
  })
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Runs a handler and fills the defaults of its reply. */
export async function reply(
  route: RouteSpec,
  info: RequestInfo,
  extras: Record<string, unknown>,
): Promise<Required<Omit<RouteReply, 'delayMs'>>> {
  const r = route.handler ? await route.handler(info, extras) : { body: info }
  if (r.delayMs) await sleep(r.delayMs)
  return { status: r.status ?? 200, body: r.body ?? null, headers: r.headers ?? {} }
}
