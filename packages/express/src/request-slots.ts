/**
 * Per-request values @cortex hands to Express handlers — `req.powerMode` and
 * the rate-limit decisions `rateLimitDecisions(req)` reads — kept without
 * adding a property to `req`.
 *
 * Why: by the time a middleware runs, Express has swapped the request's
 * prototype and added dozens of its own properties, so each further
 * property added to `req` is a shape change on a large object, paid on every
 * request. So each name is an accessor on the request prototype
 * Express installed (`app.request`, the extension point Express documents),
 * and the values live in `res.locals`, the request-scoped object Express
 * creates for every response, under symbol keys no template or user code
 * sees. Reading and writing `req.powerMode` work as for a plain property.
 * A middleware that replaces `res.locals` with a new object (rather than
 * adding to it) drops both values.
 *
 * A request Express did not initialise (no `app.request` prototype, or no
 * `res.locals`) gets plain properties instead.
 */
import type { RateLimitDecision } from '@cortex/token-bucket'
import type { Request } from 'express'

/** The key a request's rate-limit decisions are kept under (`Symbol.for`: @cortex/token-bucket's deprecated `rateLimitDecisions(req)` reads it too). */
const DECISIONS = Symbol.for('@cortex/token-bucket.decisions')

type Keeps = { [DECISIONS]?: readonly RateLimitDecision[] }

/** The rate-limit decisions kept on `req` (in `res.locals`, through the accessor). */
export function decisionsOf(req: Request): readonly RateLimitDecision[] | undefined {
  return (req as Keeps)[DECISIONS]
}

export function keepDecisions(req: Request, decisions: readonly RateLimitDecision[]): void {
  ;(req as Keeps)[DECISIONS] = decisions
}
/** Where `req.powerMode` lives in `res.locals`. */
const POWER_MODE = Symbol('@cortex/express.powerMode')

type Locals = Record<PropertyKey, unknown>
type Slotted = Request & { res?: { locals?: Locals } }

function slotAccessor(key: PropertyKey, stored: symbol): PropertyDescriptor {
  return {
    configurable: true,
    enumerable: false,
    get(this: Slotted): unknown {
      return this.res?.locals?.[stored]
    },
    set(this: Slotted, value: unknown): void {
      const locals = this.res?.locals
      if (locals !== undefined && locals !== null) locals[stored] = value
      else Object.defineProperty(this, key, { value, writable: true, configurable: true, enumerable: false })
    },
  }
}

const POWER_MODE_ACCESSOR = slotAccessor('powerMode', POWER_MODE)
const DECISIONS_ACCESSOR = slotAccessor(DECISIONS, DECISIONS)

/** The last prototype given the accessors: a request of the same app skips the check. */
let lastPrototype: object | null = null

/**
 * Makes sure `req`'s prototype (its app's `app.request`) carries the
 * accessors. Costs one prototype read per request once they are there.
 */
export function installRequestSlots(req: Request): void {
  const prototype = Object.getPrototypeOf(req) as object | null
  if (prototype === lastPrototype || prototype === null) return
  // Only an app's own request prototype (it carries `app`), never Node's IncomingMessage.prototype:
  // a request Express did not initialise keeps plain properties.
  if (!Object.hasOwn(prototype, 'app')) return
  lastPrototype = prototype
  // A prototype we did not equip yet: another app, or the first request.
  if (Object.getOwnPropertyDescriptor(prototype, 'powerMode')?.get !== POWER_MODE_ACCESSOR.get) {
    Object.defineProperty(prototype, 'powerMode', POWER_MODE_ACCESSOR)
  }
  if (Object.getOwnPropertyDescriptor(prototype, DECISIONS)?.get !== DECISIONS_ACCESSOR.get) {
    Object.defineProperty(prototype, DECISIONS, DECISIONS_ACCESSOR)
  }
}
