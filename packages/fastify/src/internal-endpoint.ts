/**
 * The shape of the read-only endpoints for operators (`metricsHandler`,
 * `energyHandler`): the access rule is checked first (403/401 with a JSON
 * body otherwise) and the answer is never cached.
 */
import { type AccessRule, accessGuard } from '@cortex/core'
import type { FastifyReply, FastifyRequest } from 'fastify'

export interface EndpointAnswer {
  contentType: string
  body: string
}

export function internalEndpoint(
  allow: AccessRule | undefined,
  where: string,
  answer: () => EndpointAnswer | Promise<EndpointAnswer>,
): (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply> {
  const guard = accessGuard(allow, where)
  return async (request, reply) => {
    // Fastify defines `request.ips` only when `trustProxy` is set.
    const decision = guard({
      clientAddress: request.ip,
      authorization: request.headers.authorization,
      headers: request.headers,
      trustProxy: 'ips' in request,
    })
    if (!decision.allowed) {
      return reply
        .code(decision.status)
        .headers({ ...decision.headers, 'content-type': 'application/json; charset=utf-8' })
        .send(JSON.stringify(decision.body))
    }
    const { contentType, body } = await answer()
    return reply.code(200).headers({ 'content-type': contentType, 'cache-control': 'no-store' }).send(body)
  }
}
