/**
 * How every @cortex Fastify plugin hooks into a request: its work is a list
 * of steps run by one `onRequest` hook, and what must happen when the
 * exchange ends runs from one listener on the response's 'close' event — a
 * function shared by every response, with no closure per request.
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
  /** Runs in `onRequest`, after the steps before it. */
  start?: (request: FastifyRequest, reply: FastifyReply) => StepResult
  /**
   * Runs once when the response closes (sent, or the client went away),
   * even when an earlier step refused the request before this one started:
   * it must check its own per-request state.
   */
  close?: (request: FastifyRequest, res: ServerResponse) => void
}

const kRequest = Symbol('cortex.request')
type TaggedResponse = ServerResponse & { [kRequest]?: FastifyRequest }

/** Adds one `onRequest` hook (and, if a step needs it, one 'close' listener per response) running `steps` in order. */
export function installSteps(app: FastifyInstance, steps: readonly Step[]): void {
  const starts = steps.flatMap((s) => (s.start ? [s.start] : []))
  const closes = steps.flatMap((s) => (s.close ? [s.close] : []))

  // One function for every response: no closure per request. The request is found on the
  // response itself (the property is never cleared, so several pipelines may share it).
  function onClose(this: TaggedResponse): void {
    const request = this[kRequest]
    if (request === undefined) return
    for (const close of closes) {
      try {
        close(request, this)
      } catch (err) {
        // Nothing may throw into the socket's event: report it and go on with the others.
        request.log.error({ err }, '@cortex/fastify: a response-close step failed')
      }
    }
  }

  function run(
    from: number,
    request: FastifyRequest,
    reply: FastifyReply,
    done: HookHandlerDoneFunction,
  ): void {
    for (let i = from; i < starts.length; i++) {
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
          if (settled === REPLIED) return
          // The client left while this step waited: 'close' has come and gone, so later steps
          // would start work that nothing ends. Let Fastify finish the request without them.
          if (reply.raw.closed) done()
          else run(next, request, reply, done)
        },
        (err: unknown) => done(err as Error),
      )
      return
    }
    done()
  }

  // A callback-style hook: no promise per request.
  app.addHook('onRequest', (request, reply, done) => {
    if (closes.length === 0) {
      run(0, request, reply, done)
      return
    }
    const res = reply.raw as TaggedResponse
    res[kRequest] = request
    // Already closed (the client left before the hooks ran): 'close' will not come again.
    const closed = res.closed
    if (!closed) res.on('close', onClose)
    run(0, request, reply, done)
    if (closed) onClose.call(res)
  })
}
