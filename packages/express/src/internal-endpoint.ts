/**
 * The shape of the read-only endpoints for operators (`metricsHandler`,
 * `energyHandler`): the access rule is checked first (403/401 with a JSON
 * body otherwise), the answer is never cached, and a failure goes to `next`.
 */
import { type AccessRule, accessGuard } from '@cortex/core'
import type { RequestHandler } from 'express'

export interface EndpointAnswer {
  contentType: string
  body: string
}

export function internalEndpoint(
  allow: AccessRule | undefined,
  where: string,
  answer: () => EndpointAnswer | Promise<EndpointAnswer>,
): RequestHandler {
  const guard = accessGuard(allow, where)
  return (req, res, next) => {
    const decision = guard({
      clientAddress: req.ip ?? req.socket?.remoteAddress,
      authorization: req.headers.authorization,
      headers: req.headers,
      trustProxy: Boolean(req.app?.get('trust proxy')),
    })
    if (!decision.allowed) {
      res
        .status(decision.status)
        .set({ ...decision.headers, 'content-type': 'application/json; charset=utf-8' })
        .send(JSON.stringify(decision.body))
      return
    }
    Promise.resolve()
      .then(answer)
      .then(
        ({ contentType, body }) =>
          res.status(200).set({ 'content-type': contentType, 'cache-control': 'no-store' }).send(body),
        next,
      )
  }
}
