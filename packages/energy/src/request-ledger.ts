/**
 * Per-request energy attribution, the meter's hot path.
 *
 * Rule: each sampling interval's energy is shared among the requests in
 * flight during it in proportion to their time in flight within it. A
 * request in flight for the whole interval gets a full share, one that
 * started or ended inside it a partial share; when no request was in
 * flight the interval's energy is unattributed (idle).
 *
 * How it stays O(1) and allocation-free per request: the ledger keeps, per
 * route, the integral over time of its in-flight count in the current
 * interval (request-milliseconds), updated on start and end from the route's
 * count and the time elapsed since its last update. At the interval's end
 * route r receives `E × integral_r / Σ integral`, so the shares sum to E.
 * End handles come from a pool of preallocated functions, each with its
 * slot in typed arrays, reused first-in first-out.
 *
 * Each route has one slot for its requests in flight and one per outcome
 * (the status class its requests ended with: `1xx` … `5xx`, or `none`
 * without a status). A request is counted in its route's in-flight slot
 * (or in a pending slot when the framework learns the route only after
 * routing) and moved to its route's outcome slot when it ends: its time in
 * the current interval moves with it, and so does the energy it earned in
 * completed intervals, computed from a cumulative "joules per request in
 * flight since the start" curve. An outcome slot only ever gains energy, so
 * the per-outcome figures can be exported as counters.
 */
import { UNMATCHED_ROUTE } from '@cortex/core'

/**
 * Ends a request started by `startRequest`; pass the route if it was not
 * known at the start, and the end time (on the meter's clock) if the caller
 * has already read it.
 */
export type EndRequest = (route?: string, atMs?: number, statusCode?: number) => void

/** The outcome of a request: the class of the status it ended with, or `none` without one. */
export type StatusClass = 'none' | '1xx' | '2xx' | '3xx' | '4xx' | '5xx'

/** Every status class, in the order reports list them. */
export const STATUS_CLASSES: readonly StatusClass[] = ['none', '1xx', '2xx', '3xx', '4xx', '5xx']

/** Energy attributed to the ended requests of one route with one outcome. */
export interface OutcomeEnergy {
  /** Requests that ended with this outcome. */
  requests: number
  /** Joules of those requests (including the current interval's estimate). */
  joules: number
  /** Joules of closed intervals only: never decreases (what `energy_per_request_joules_sum` exports). */
  settledJoules: number
  /** `joules / requests`. */
  joulesPerRequest: number
  /** Grams of CO₂e for those joules. */
  co2Grams: number
}

/** Energy attributed to one route. */
export interface RouteEnergy {
  /** The HTTP method (as the SLO tracker names it: upper case, `OTHER` when unknown), or '' for a name without one. */
  method: string
  /** The route template (`__unmatched__` when none matched). */
  route: string
  /** Requests that ended. */
  requests: number
  /** Joules attributed so far (including the share of its requests still in flight and the current interval's estimate). */
  joules: number
  /** `joules / requests`, or 0 before the first request ended. */
  joulesPerRequest: number
  /** Grams of CO₂e for those joules at the intensity of each interval. */
  co2Grams: number
  /** Of `joules`, the share of requests still in flight. */
  inFlightJoules: number
  /**
   * Of `joules`, the estimate for the interval not closed yet (the latest
   * interval's power × the time since, shared by time in flight); the next
   * sample replaces it with the measured share.
   */
  provisionalJoules: number
  /** The ended requests by outcome (only outcomes seen). */
  byStatusClass: Partial<Record<StatusClass, OutcomeEnergy>>
}

export interface RequestLedgerOptions {
  /** Milliseconds; default `performance.timeOrigin + performance.now()`, read inline on the hot path. */
  clock?: (() => number) | undefined
  /** Distinct routes kept; further ones are counted under `__unmatched__`. */
  maxRoutes: number
  /** Requests tracked at once; beyond that a request is counted in `untrackedRequests` and not attributed. */
  maxInFlight: number
}

const PENDING = 0
const UNMATCHED = 1
/** Slots per route: in flight, then one per status class. */
const KINDS = 1 + STATUS_CLASSES.length
/** Methods labelled by name, as the SLO tracker does; others are `OTHER`. */
const KNOWN_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'CONNECT', 'TRACE']
/** Extra spellings remembered per route name (`get /x` for `GET /x`) before they are normalised on each call. */
const ALIASES_PER_ROUTE = 4
/** Completed intervals remembered to move a pending request's energy exactly. */
const HISTORY = 256
const NOOP_END: EndRequest = () => {}
/** Lines of the route-name cache in front of the Map (a power of two). */
const ROUTE_CACHE = 64
const TIME_ORIGIN = performance.timeOrigin

export class RequestLedger {
  readonly #clock: (() => number) | undefined
  readonly #maxInFlight: number
  /** Route names (and slots) at most. */
  readonly #capacity: number
  readonly #index = new Map<string, number>()
  readonly #cachedName: (string | undefined)[] = new Array(ROUTE_CACHE).fill(undefined)
  readonly #cachedRoute = new Int32Array(ROUTE_CACHE)
  readonly #names: string[] = ['__pending__', UNMATCHED_ROUTE]
  readonly #methods: string[] = ['', '']
  readonly #templates: string[] = ['__pending__', UNMATCHED_ROUTE]
  // Per slot: route × KINDS + kind (0 in flight, 1 + i for STATUS_CLASSES[i]).
  readonly #count: Float64Array
  readonly #integral: Float64Array
  readonly #last: Float64Array
  readonly #joules: Float64Array
  readonly #co2: Float64Array
  readonly #requests: Float64Array
  // Interval history.
  #boundary: number
  #epoch = 0
  /** Joules earned per request in flight for the whole time since creation. */
  #perRequest = 0
  #perRequestCo2 = 0
  readonly #rate = new Float64Array(HISTORY)
  readonly #gPerJ = new Float64Array(HISTORY)
  readonly #start = new Float64Array(HISTORY)
  // Handle pool.
  #handles: EndRequest[] = []
  #hSlot = new Int32Array(64)
  #hStart = new Float64Array(64)
  #hEpoch = new Float64Array(64)
  #hPerRequest = new Float64Array(64)
  #hPerRequestCo2 = new Float64Array(64)
  #hActive = new Uint8Array(64)
  #free = new Int32Array(64)
  #freeHead = 0
  #freeCount = 0
  #inFlight = 0
  #unattributed = 0
  #doubleEnds = 0
  #untracked = 0

  constructor(options: RequestLedgerOptions) {
    this.#clock = options.clock
    this.#maxInFlight = options.maxInFlight
    this.#capacity = options.maxRoutes + 2
    const slots = this.#capacity * KINDS
    this.#count = new Float64Array(slots)
    this.#integral = new Float64Array(slots)
    this.#last = new Float64Array(slots)
    this.#joules = new Float64Array(slots)
    this.#co2 = new Float64Array(slots)
    this.#requests = new Float64Array(slots)
    this.#index.set(UNMATCHED_ROUTE, UNMATCHED)
    this.#boundary = this.#now()
    this.#last.fill(this.#boundary)
  }

  /**
   * Starts a request on `route` (or on no route yet) at `atMs` (default: now
   * on the ledger's clock) and returns the function that ends it.
   */
  startRequest(route?: string, atMs?: number): EndRequest {
    const h = this.#acquire()
    if (h < 0) {
      this.#untracked++
      return NOOP_END
    }
    const now = this.#at(atMs)
    const slot = (route === undefined ? PENDING : this.#routeOf(route)) * KINDS
    this.#advance(slot, now)
    this.#count[slot] = (this.#count[slot] as number) + 1
    this.#inFlight++
    this.#hSlot[h] = slot
    this.#hActive[h] = 1
    // What the request's move to its outcome at the end needs.
    this.#hStart[h] = now
    this.#hEpoch[h] = this.#epoch
    this.#hPerRequest[h] = this.#perRequest
    this.#hPerRequestCo2[h] = this.#perRequestCo2
    return this.#handles[h] as EndRequest
  }

  #end(h: number, route: unknown, atMs: number | undefined, statusCode: unknown): void {
    if (this.#hActive[h] !== 1) {
      this.#doubleEnds++
      return
    }
    this.#hActive[h] = 0
    const now = this.#at(atMs)
    const slot = this.#hSlot[h] as number
    this.#advance(slot, now)
    const count = this.#count[slot] as number
    if (count > 0) this.#count[slot] = count - 1
    this.#inFlight--
    let r = (slot / KINDS) | 0
    if (r === PENDING) r = typeof route === 'string' ? this.#routeOf(route) : UNMATCHED
    const target = r * KINDS + kindOf(statusCode)
    this.#move(h, slot, target, now)
    this.#requests[target] = (this.#requests[target] as number) + 1
    this.#release(h)
  }

  /**
   * Moves an ended request's time in the current interval and its earned
   * energy from `source` to `target`. The last request to leave a slot takes
   * all that is left in it, so no rounding residue stays behind.
   */
  #move(h: number, source: number, target: number, now: number): void {
    const start = this.#hStart[h] as number
    const last = this.#count[source] === 0
    const overlap = last
      ? (this.#integral[source] as number)
      : Math.max(0, now - Math.max(start, this.#boundary))
    this.#integral[source] = Math.max(0, (this.#integral[source] as number) - overlap)
    this.#advance(target, now)
    this.#integral[target] = (this.#integral[target] as number) + overlap
    const startEpoch = this.#hEpoch[h] as number
    if (last) {
      this.#transfer(source, target, this.#joules[source] as number, this.#co2[source] as number)
      return
    }
    if (startEpoch === this.#epoch) return
    let joules = this.#perRequest - (this.#hPerRequest[h] as number)
    let co2 = this.#perRequestCo2 - (this.#hPerRequestCo2[h] as number)
    if (this.#epoch - startEpoch <= HISTORY) {
      // Not in flight before `start` within its first interval.
      const i = startEpoch % HISTORY
      const before = Math.max(0, start - (this.#start[i] as number)) * (this.#rate[i] as number)
      joules -= before
      co2 -= before * (this.#gPerJ[i] as number)
    }
    this.#transfer(
      source,
      target,
      Math.min(Math.max(0, joules), this.#joules[source] as number),
      Math.min(Math.max(0, co2), this.#co2[source] as number),
    )
  }

  #transfer(source: number, target: number, joules: number, co2: number): void {
    this.#joules[source] = (this.#joules[source] as number) - joules
    this.#co2[source] = (this.#co2[source] as number) - co2
    this.#joules[target] = (this.#joules[target] as number) + joules
    this.#co2[target] = (this.#co2[target] as number) + co2
  }

  /**
   * Ends the current interval at `nowMs`: shares `joules` among the routes by
   * their request-milliseconds in flight, at `gramsPerKWh`. Returns the
   * joules attributed (equal to `joules` unless nothing was in flight).
   */
  closeInterval(nowMs: number, joules: number, gramsPerKWh: number): number {
    const now = Math.max(nowMs, this.#boundary)
    const used = this.#names.length * KINDS
    let total = 0
    for (let s = 0; s < used; s++) {
      this.#advance(s, now)
      total += this.#integral[s] as number
    }
    const energy = Number.isFinite(joules) && joules > 0 ? joules : 0
    const gPerJ = gramsPerJoule(gramsPerKWh)
    const rate = total > 0 ? energy / total : 0
    if (total > 0) {
      for (let s = 0; s < used; s++) {
        const share = (this.#integral[s] as number) * rate
        this.#joules[s] = (this.#joules[s] as number) + share
        this.#co2[s] = (this.#co2[s] as number) + share * gPerJ
        this.#integral[s] = 0
      }
    } else {
      this.#unattributed += energy
    }
    const i = this.#epoch % HISTORY
    this.#rate[i] = rate
    this.#gPerJ[i] = gPerJ
    this.#start[i] = this.#boundary
    this.#perRequest += rate * (now - this.#boundary)
    this.#perRequestCo2 += rate * (now - this.#boundary) * gPerJ
    this.#epoch++
    this.#boundary = now
    return total > 0 ? energy : 0
  }

  /**
   * Per route (never the pending slot), for snapshots and metrics. With
   * `provisional` (the time now, and the power to assume since the last
   * interval closed), each figure includes its share of the open interval's
   * estimated energy; without it, closed intervals only.
   */
  routes(provisional?: { nowMs: number; watts: number; gramsPerKWh: number }): Record<string, RouteEnergy> {
    const used = this.#names.length * KINDS
    let rate = 0
    let gPerJ = 0
    let now = this.#boundary
    if (provisional !== undefined && Number.isFinite(provisional.nowMs)) {
      now = Math.max(this.#boundary, provisional.nowMs)
      let total = 0
      for (let s = 0; s < used; s++) total += this.#integralAt(s, now)
      const watts = Number.isFinite(provisional.watts) && provisional.watts > 0 ? provisional.watts : 0
      const estimate = (watts * (now - this.#boundary)) / 1000
      rate = total > 0 ? estimate / total : 0
      gPerJ = gramsPerJoule(provisional.gramsPerKWh)
    }
    const out: Record<string, RouteEnergy> = {}
    for (let r = 1; r < this.#names.length; r++) {
      const base = r * KINDS
      const inFlightExtra = this.#integralAt(base, now) * rate
      const route: RouteEnergy = {
        method: this.#methods[r] as string,
        route: this.#templates[r] as string,
        requests: 0,
        joules: (this.#joules[base] as number) + inFlightExtra,
        joulesPerRequest: 0,
        co2Grams: (this.#co2[base] as number) + inFlightExtra * gPerJ,
        inFlightJoules: (this.#joules[base] as number) + inFlightExtra,
        provisionalJoules: inFlightExtra,
        byStatusClass: {},
      }
      for (let k = 1; k < KINDS; k++) {
        const s = base + k
        const requests = this.#requests[s] as number
        const settled = this.#joules[s] as number
        if (requests === 0 && settled === 0 && this.#integral[s] === 0) continue
        const extra = this.#integralAt(s, now) * rate
        const joules = settled + extra
        const co2 = (this.#co2[s] as number) + extra * gPerJ
        route.byStatusClass[STATUS_CLASSES[k - 1] as StatusClass] = {
          requests,
          joules,
          settledJoules: settled,
          joulesPerRequest: requests > 0 ? joules / requests : 0,
          co2Grams: co2,
        }
        route.requests += requests
        route.joules += joules
        route.co2Grams += co2
        route.provisionalJoules += extra
      }
      if (route.requests === 0 && route.joules === 0) continue
      route.joulesPerRequest = route.requests > 0 ? route.joules / route.requests : 0
      out[this.#names[r] as string] = route
    }
    return out
  }

  /** Requests in flight now. */
  get inFlight(): number {
    return this.#inFlight
  }
  /** Joules earned by requests in flight whose route is not known yet. */
  get pendingJoules(): number {
    return this.#joules[PENDING] as number
  }
  /** Joules of intervals during which no request was in flight. */
  get unattributedJoules(): number {
    return this.#unattributed
  }
  /** Calls of an end function whose request had already ended. */
  get doubleEnds(): number {
    return this.#doubleEnds
  }
  /** Requests not tracked because `maxInFlight` were already in flight. */
  get untrackedRequests(): number {
    return this.#untracked
  }

  /** The clock; the default one is called directly so the hot path's call site stays monomorphic. */
  #now(): number {
    const clock = this.#clock
    return clock === undefined ? TIME_ORIGIN + performance.now() : clock()
  }

  /** A time the caller read (a finite number), else the clock now. */
  #at(atMs: number | undefined): number {
    return atMs !== undefined && Number.isFinite(atMs) ? atMs : this.#now()
  }

  #advance(slot: number, now: number): void {
    const elapsed = now - (this.#last[slot] as number)
    if (elapsed > 0) {
      this.#integral[slot] = (this.#integral[slot] as number) + (this.#count[slot] as number) * elapsed
      this.#last[slot] = now
    }
  }

  /** The slot's request-milliseconds in the open interval up to `now`, without advancing it. */
  #integralAt(slot: number, now: number): number {
    const elapsed = Math.max(0, now - (this.#last[slot] as number))
    return (this.#integral[slot] as number) + (this.#count[slot] as number) * elapsed
  }

  /**
   * The route's index. A small direct-mapped cache, indexed by the name's
   * length and last character, answers repeated names with one string
   * comparison (the same string object compares by reference) before the
   * Map, whose hashing and bucket walk were a fifth of a pair's cost.
   */
  #routeOf(name: string): number {
    const n = name.length
    const line = n === 0 ? 0 : (n * 31 + name.charCodeAt(n - 1)) & (ROUTE_CACHE - 1)
    if (this.#cachedName[line] === name) return this.#cachedRoute[line] as number
    const r = this.#index.get(name) ?? this.#addRoute(name)
    this.#cachedName[line] = name
    this.#cachedRoute[line] = r
    return r
  }

  /**
   * A name seen for the first time: `METHOD /template` is split into the
   * labels the SLO tracker uses (method upper case, `OTHER` when unknown),
   * and spellings of one (method, template) share one route.
   */
  #addRoute(name: string): number {
    const split = /^([A-Za-z]+) (.+)$/.exec(name)
    let method = ''
    let template = name
    if (split !== null) {
      const upper = (split[1] as string).toUpperCase()
      method = KNOWN_METHODS.includes(upper) ? upper : 'OTHER'
      template = split[2] as string
    }
    const canonical = method === '' ? name : `${method} ${template}`
    let r = this.#index.get(canonical)
    if (r === undefined) {
      if (this.#names.length >= this.#capacity) return UNMATCHED
      r = this.#names.length
      this.#names.push(canonical)
      this.#methods.push(method)
      this.#templates.push(template)
      this.#index.set(canonical, r)
      for (let k = 0; k < KINDS; k++) this.#last[r * KINDS + k] = this.#boundary
    }
    if (canonical !== name && this.#index.size < this.#capacity * ALIASES_PER_ROUTE) this.#index.set(name, r)
    return r
  }

  #acquire(): number {
    if (this.#freeCount > 0) {
      const h = this.#free[this.#freeHead] as number
      this.#freeHead = (this.#freeHead + 1) & (this.#free.length - 1)
      this.#freeCount--
      return h
    }
    const h = this.#handles.length
    if (h >= this.#maxInFlight) return -1
    if (h === this.#hSlot.length) this.#grow()
    this.#handles.push((route?: string, atMs?: number, statusCode?: number) =>
      this.#end(h, route, atMs, statusCode),
    )
    return h
  }

  #release(h: number): void {
    const tail = (this.#freeHead + this.#freeCount) & (this.#free.length - 1)
    this.#free[tail] = h
    this.#freeCount++
  }

  /** Doubles the handle arrays (only while concurrency reaches a new peak, up to maxInFlight). */
  #grow(): void {
    // Powers of two, so the free queue wraps with a mask.
    const size = this.#hSlot.length * 2
    const grow = <T extends Float64Array | Int32Array | Uint8Array>(old: T, make: (n: number) => T): T => {
      const next = make(size)
      next.set(old)
      return next
    }
    this.#hSlot = grow(this.#hSlot, (n) => new Int32Array(n))
    this.#hStart = grow(this.#hStart, (n) => new Float64Array(n))
    this.#hEpoch = grow(this.#hEpoch, (n) => new Float64Array(n))
    this.#hPerRequest = grow(this.#hPerRequest, (n) => new Float64Array(n))
    this.#hPerRequestCo2 = grow(this.#hPerRequestCo2, (n) => new Float64Array(n))
    this.#hActive = grow(this.#hActive, (n) => new Uint8Array(n))
    // The free queue is empty whenever we grow (growth happens only when nothing is free).
    this.#free = new Int32Array(size)
    this.#freeHead = 0
  }
}

/** The slot kind of an outcome: 1 + the index of its status class (`none` for no status in 100–599). */
function kindOf(statusCode: unknown): number {
  if (typeof statusCode !== 'number' || !(statusCode >= 100 && statusCode < 600)) return 1
  return 1 + Math.floor(statusCode / 100)
}

function gramsPerJoule(gramsPerKWh: number): number {
  return Number.isFinite(gramsPerKWh) && gramsPerKWh > 0 ? gramsPerKWh / 3_600_000 : 0
}
