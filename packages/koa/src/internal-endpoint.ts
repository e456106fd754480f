/**
 * The shape of the read-only endpoints for operators (`metricsHandler`,
 * `energyHandler`): the access rule is checked first (403/401 with a JSON
 * body otherwise) and the answer is never cached.
 */
import { type AccessRule, accessGuard } from '@cortex/core'
import type { Middleware } from 'koa'

export interface EndpointAnswer {
  contentType: string
  body: string
}

export function internalEndpoint(
  allow: AccessRule | undefined,
  where: string,
  answer: () => EndpointAnswer | Promise<EndpointAnswer>,
): Middleware {
  const guard = accessGuard(allow, where)
  return async (ctx) => {
    const decision = guard({
      clientAddress: ctx.ip || ctx.req.socket?.remoteAddress,
      authorization: ctx.get('authorization') || undefined,
      headers: ctx.req.headers,
      trustProxy: ctx.app.proxy,
    })
    if (!decision.allowed) {
      ctx.status = decision.status
      ctx.set(decision.headers)
      ctx.type = 'application/json; charset=utf-8'
      ctx.body = JSON.stringify(decision.body)
      return
    }
    const { contentType, body } = await answer()
    ctx.status = 200
    ctx.set({ 'content-type': contentType, 'cache-control': 'no-store' })
    ctx.body = body
  }
}
