/**
 * How every @cortex Fastify plugin hooks into a request: its step's start
 * runs in one `onRequest` hook, and what must happen when the exchange ends
 * runs from one listener on the response's 'close' event — a function shared
 * by every response, with no closure per request.
 *
 * Why not `onResponse`: Fastify charges for an `onResponse` hook about as
 * much as all of a plugin's own work, and it does not cover every request:
 * Fastify runs neither `onResponse` nor `onRequestAbort` for a client that
 * leaves after sending its whole request. 'close' comes for every response,
 * once it is sent or when the client goes away.
 */
import type { ServerResponse } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'

/** What a step returns when it has sent the reply itself: the request goes no further. */
export const REPLIED: unique symbol = Symbol('cortex.replied')
export type Replied = typeof REPLIED

/** `undefined` to go on, `REPLIED` to stop, or a promise of either (a rejection fails the request). */
export type StepResult = undefined | Replied | PromiseLike<undefined | Replied>

export interface Step {
  /** Runs in `onRequest`. */
  start?: (request: FastifyRequest, reply: FastifyReply) => StepResult
  /**
   * Runs once when the response closes (sent, or the client went away),
   * even when another plugin refused the request before this step started:
   * it must check its own per-request state.
   */
  close?: (request: FastifyRequest, res: ServerResponse) => void
}

const kRequest = Symbol('cortex.request')
type TaggedResponse = ServerResponse & { [kRequest]?: FastifyRequest }

/** Adds one `onRequest` hook running `step.start` and, if the step has a `close`, one 'close' listener per response. */
export function installStep(app: FastifyInstance, { start, close }: Step): void {
  // One function for every response: no closure per request. The request is found on the
  // response itself (the property is never cleared, so several plugins may share it).
  function onClose(this: TaggedResponse): void {
    const request = this[kRequest]
    if (request === undefined || close === undefined) return
    try {
      close(request, this)
    } catch (err) {
      // Nothing may throw into the socket's event: report it instead.
      request.log.error({ err }, '@cortex/fastify: a response-close step failed')
    }
  }

  // A callback-style hook: no promise per request.
  app.addHook('onRequest', (request, reply, done) => {
    let closed = false
    if (close !== undefined) {
      const res = reply.raw as TaggedResponse
      res[kRequest] = request
      // Already closed (the client left before this hook ran): 'close' will not come again.
      closed = res.closed
      if (!closed) res.on('close', onClose)
    }
    begin(start, request, reply, done)
    if (closed) onClose.call(reply.raw)
  })
}

/** Runs a step's start and tells Fastify to go on, unless the step replied itself. */
function begin(
  start: Step['start'],
  request: FastifyRequest,
  reply: FastifyReply,
  done: HookHandlerDoneFunction,
): void {
  let result: StepResult
  try {
    result = start?.(request, reply)
  } catch (err) {
    done(err as Error)
    return
  }
  if (result === undefined) done()
  else if (result !== REPLIED) {
    result.then(
      (settled) => {
        if (settled !== REPLIED) done()
      },
      (err: unknown) => done(err as Error),
    )
  }
}
