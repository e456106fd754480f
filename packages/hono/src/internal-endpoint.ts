/**
 * The shape of the read-only endpoints for operators (`metricsHandler`,
 * `energyHandler`): the access rule is checked first (403/401 with a JSON
 * body otherwise) and the answer is never cached.
 */
import { type AccessRule, accessGuard, CortexConfigError } from '@cortex/core'
import type { Handler } from 'hono'
import { addressOf, type ClientAddress, headerRecord } from './request-info.js'

export interface EndpointAnswer {
  contentType: string
  body: string
}

/** How an endpoint learns who is asking (see the README's *Behind a proxy*). */
export interface ClientOptions {
  /** The client address `allow` judges; default: the runtime's peer address. */
  clientAddress?: ClientAddress
  /**
   * Set `true` when `clientAddress` reads a forwarding header for a proxy you
   * run. Otherwise (the default) a request carrying `Forwarded`,
   * `X-Forwarded-For` or `X-Real-IP` is refused by `'internal'` and `'private'`.
   */
  trustProxy?: boolean
}

export function internalEndpoint(
  allow: AccessRule | undefined,
  { clientAddress, trustProxy }: ClientOptions,
  where: string,
  answer: () => EndpointAnswer | Promise<EndpointAnswer>,
): Handler {
  const guard = accessGuard(allow, where)
  if (clientAddress !== undefined && typeof clientAddress !== 'function') {
    throw new CortexConfigError('clientAddress', clientAddress, 'a function (c) => string | undefined', where)
  }
  if (trustProxy !== undefined && typeof trustProxy !== 'boolean') {
    throw new CortexConfigError('trustProxy', trustProxy, 'true or false', where)
  }
  return async (c) => {
    const decision = guard({
      clientAddress: addressOf(c, clientAddress),
      authorization: c.req.header('authorization'),
      headers: headerRecord(c),
      trustProxy: trustProxy === true,
    })
    if (!decision.allowed) return c.json(decision.body, decision.status, decision.headers)
    const { contentType, body } = await answer()
    return c.body(body, 200, { 'content-type': contentType, 'cache-control': 'no-store' })
  }
}
