/**
 * Express middleware for @cortex/low-power: each request holds one of the
 * current mode's concurrency slots until its response ends, sees the mode as
 * `req.powerMode`, and answers with a `Power-Mode` header. A full queue gets
 * the controller's 503 with `Retry-After`.
 */
import { checkMethods } from '@cortex/core'
import type { PowerModeController } from '@cortex/low-power'
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { closeListener, onResponseClose } from './response.js'

declare global {
  namespace Express {
    interface Request {
      /** The power mode this request was admitted under (set by @cortex/express `powerMode`). */
      powerMode?: string
    }
  }
}

export interface PowerModeOptions {
  controller: PowerModeController
  /** Response header naming the mode; `false` to send none. Default `Power-Mode`. */
  header?: string | false
}

/**
 * @example
 * app.use(powerMode({ controller: power }))
 * app.post('/agents/plan', (req, res) => res.json(plan(req.body, { lowPower: req.powerMode === 'low' })))
 */
export function powerMode(options: PowerModeOptions): RequestHandler {
  checkMethods(
    options?.controller,
    'controller',
    ['acquire', 'tryAcquire', 'overloadResponse'],
    'a controller from createPowerModeController()',
    'powerMode',
  )
  const { controller, header = 'Power-Mode' } = options
  /** This middleware's slot release on each response. */
  const kRelease = Symbol('cortex.express.powerRelease')
  type Held = Response & { [kRelease]?: (() => void) | undefined }
  const onClose = closeListener(function release(this: Held): void {
    const releaseSlot = this[kRelease]
    if (releaseSlot === undefined) return
    this[kRelease] = undefined
    releaseSlot()
  })
  const admit = (req: Request, res: Response, next: NextFunction, release: () => void) => {
    // Held until the response closes: sent, or the client went away (at once if it already
    // went while this request was queued).
    ;(res as Held)[kRelease] = release
    onResponseClose(res, onClose)
    req.powerMode = controller.mode
    if (header) res.setHeader(header, controller.mode)
    next()
  }
  return (req, res, next) => {
    // A free slot is taken synchronously; only a queued request waits on a promise.
    const release = controller.tryAcquire()
    if (release !== undefined) {
      admit(req, res, next, release)
      return
    }
    controller.acquire().then(
      (queued) => admit(req, res, next, queued),
      (err: unknown) => {
        const plan = controller.overloadResponse(err)
        if (!plan) return next(err)
        res.status(plan.status).set(plan.headers).json(plan.body)
      },
    )
  }
}
