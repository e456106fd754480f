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

/**
 * Adds ONE `onRequest` hook running each step's `start` in order, and, if any
 * step has a `close`, ONE 'close' listener per response running every
 * `close` in order. A step that replies stops the steps after it; a step
 * that returns a promise holds them until it settles.
 */
export function installSteps(app: FastifyInstance, steps: readonly Step[]): void {
  const starts = steps.flatMap((s) => (s.start === undefined ? [] : [s.start]))
  const closes = steps.flatMap((s) => (s.close === undefined ? [] : [s.close]))
  // One function for every response: no closure per request. The request is found on the
  // response itself (the property is never cleared, so several plugins may share it).
  function onClose(this: TaggedResponse): void {
    const request = this[kRequest]
    if (request === undefined) return
    for (let i = 0; i < closes.length; i++) {
      try {
        ;(closes[i] as NonNullable<Step['close']>)(request, this)
      } catch (err) {
        // Nothing may throw into the socket's event: report it instead.
        request.log.error({ err }, '@cortex/fastify: a response-close step failed')
      }
    }
  }
  const listens = closes.length > 0

  // A callback-style hook: no promise per request.
  app.addHook('onRequest', (request, reply, done) => {
    let closed = false
    if (listens) {
      const res = reply.raw as TaggedResponse
      res[kRequest] = request
      // Already closed (the client left before this hook ran): 'close' will not come again.
      closed = res.closed
      if (!closed) res.on('close', onClose)
    }
    run(starts, 0, request, reply, done)
    if (closed) onClose.call(reply.raw)
  })
}

/** Runs the starts from `i` on, and tells Fastify to go on unless a step replied itself. */
function run(
  starts: readonly NonNullable<Step['start']>[],
  i: number,
  request: FastifyRequest,
  reply: FastifyReply,
  done: HookHandlerDoneFunction,
): void {
  for (; i < starts.length; i++) {
    let result: StepResult
    try {
      result = (starts[i] as NonNullable<Step['start']>)(request, reply)
    } catch (err) {
      done(err as Error)
      return
    }
    if (result === undefined) continue
    if (result === REPLIED) return
    const next = i + 1
    result.then(
      (settled) => {
        if (settled !== REPLIED) run(starts, next, request, reply, done)
      },
      (err: unknown) => done(err as Error),
    )
    return
  }
  done()
}
