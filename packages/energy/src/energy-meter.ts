/**
 * The energy meter: samples its sources every `intervalMs` (an unref'd
 * timer, so it never keeps a process alive), integrates their readings into
 * joules per component, converts them to CO₂, shares each interval's energy
 * among the requests in flight, and raises a `budget` event when the average
 * power passes a budget and again when it falls back below it.
 */
import {
  CortexConfigError,
  checkKnownKeys,
  checkNumber,
  checkObject,
  co2Grams,
  createHysteresis,
  createPowerIntegrator,
  type HysteresisState,
  joulesToKWh,
  type PowerIntegrator,
  type PromRegistryLike,
  parseDuration,
  realTimers,
  type Timers,
  unrefTimer,
} from '@cortex/core'
import { type AutoSourcesOptions, autoCandidates, chooseAutoSources } from './auto-sources.js'
import {
  type CarbonIntensityInfo,
  type CarbonIntensityOption,
  createIntensityProvider,
} from './carbon-intensity.js'
import { type EnergyMetricsOptions, registerEnergyMetrics } from './energy-metrics.js'
import { type EndRequest, RequestLedger, type RouteEnergy } from './request-ledger.js'
import {
  ENERGY_COMPONENTS,
  type EnergyComponent,
  type EnergySource,
  messageOf,
  type SourceKind,
  type SourceReading,
} from './source.js'

/** @deprecated Use `Timers` from @cortex/core: the meter needs its interval half. */
export type EnergyTimers = Pick<Timers, 'setInterval' | 'clearInterval'>

export interface EnergyMeterOptions {
  /** `'auto'` (default) or the sources to read. */
  sources?: 'auto' | readonly EnergySource[]
  /** Options of the sources `'auto'` builds. */
  auto?: AutoSourcesOptions
  /** Sampling period in ms (or `'1s'`), at least 10. Default 1000. */
  intervalMs?: number | string
  /** gCO₂e/kWh, `{ country: 'FRA' }` (ISO 3166-1 alpha-3), or a function for live data. Default: world average. */
  carbonIntensity?: CarbonIntensityOption
  /** Average power above which `overBudget` turns true and a `budget` event fires, in watts. */
  powerBudgetWatts?: number
  /** The average compared with the budget is taken over this window (ms or `'1m'`). Default 60 000. */
  budgetWindowMs?: number | string
  /** Leave "over budget" only below `budget × (1 − budgetHysteresis)`. In [0, 1). Default 0.1. */
  budgetHysteresis?: number
  /** Distinct routes tracked; more are counted under `__unmatched__`. Default 200. */
  maxRoutes?: number
  /** Requests tracked at once; more are counted in `untrackedRequests`. Default 100 000. */
  maxInFlight?: number
  /** Milliseconds since the epoch, monotonic. Default `performance.timeOrigin + performance.now()`. */
  clock?: () => number
  /** Injectable timers (@cortex/core's `Timers` port; the meter uses `setInterval`/`clearInterval`); the interval timer is unref'd when it has `unref`. */
  timers?: Pick<Timers, 'setInterval' | 'clearInterval'>
}

/** One component's figures. */
export interface ComponentEnergy {
  joules: number
  /** Power over the latest interval. */
  watts: number
  /** True when a modelled source contributes. */
  estimated: boolean
  /** Names of the sources used for it. */
  sources: string[]
}

/** A source as the snapshot reports it. */
export interface SourceReport {
  name: string
  kind: SourceKind
  component: EnergyComponent
  /** True when the meter reads it. */
  used: boolean
  /** Why it is (not) used: `auto`'s choice or the unavailability message. */
  reason?: string
  /** Failed reads so far. */
  errors: number
  lastError?: string
  details?: Record<string, unknown>
}

/** Everything the meter knows, JSON-serialisable (the body of `/metrics/energy`). */
export interface EnergySnapshot {
  /** ISO time of the first reading, or null before it. */
  startedAt: string | null
  /** ISO time of the latest reading, or null before it. */
  sampledAt: string | null
  /** From the first to the latest reading. */
  durationSeconds: number
  samples: number
  joules: number
  kWh: number
  co2Grams: number
  carbonIntensity: CarbonIntensityInfo
  /** joules / durationSeconds. */
  avgWatts: number
  /** Power over the latest interval. */
  currentWatts: number
  cpu: ComponentEnergy
  gpu: ComponentEnergy
  ram: ComponentEnergy
  sources: SourceReport[]
  /** True when any figure comes from a model rather than a sensor. */
  estimated: boolean
  powerBudgetWatts: number | null
  /** Average power over `budgetWindowMs`, compared with the budget; null without a budget. */
  budgetAverageWatts: number | null
  overBudget: boolean
  routes: Record<string, RouteEnergy>
  requestsInFlight: number
  /** Energy of in-flight requests whose route is not known yet. */
  pendingJoules: number
  /** Energy of intervals with no request in flight. */
  unattributedJoules: number
  /** Requests not attributed because `maxInFlight` were in flight. */
  untrackedRequests: number
  /** Calls of an end function for a request that had already ended (ignored). */
  doubleEnds: number
}

/** The `budget` event: the meter entered or left "over budget". */
export interface BudgetEvent {
  overBudget: boolean
  /** Average power over the window when it changed. */
  averageWatts: number
  budgetWatts: number
  /** The threshold that ends "over budget": `budget × (1 − hysteresis)`. */
  exitBelowWatts: number
  windowMs: number
  /** Meter clock, ms. */
  timeMs: number
}

export interface EnergyMeter {
  /** Takes a first reading now and then one every `intervalMs`. Idempotent. */
  start(): void
  /** Stops sampling (figures are kept; `start()` resumes). */
  stop(): void
  /** Takes one reading now and returns the snapshot after it. Concurrent calls share one reading. Never rejects. */
  sample(): Promise<EnergySnapshot>
  snapshot(): EnergySnapshot
  /**
   * Starts attributing energy to a request; call the returned function once
   * when it ends. Without a route (the framework knows it only after
   * routing), pass it to the end function: `end('GET /users/:id')`. See the
   * README for double-end behaviour.
   *
   * `atMs` (here and on the end function) is the time on the meter's clock
   * (`meter.now()`) when the caller has already read it — for instance the
   * start and end a request timer took anyway — so attribution reads no clock.
   */
  startRequest(route?: string, atMs?: number): EndRequest
  /** The meter's clock (milliseconds since the epoch by default; the injected `clock` otherwise). */
  now(): number
  on(event: 'budget', listener: (event: BudgetEvent) => void): () => void
  on(event: 'sample', listener: (snapshot: EnergySnapshot) => void): () => void
  off(event: 'budget' | 'sample', listener: (...args: never[]) => void): void
  /** Registers the prom-client metrics (see README) on `registry`. */
  registerMetrics(registry: PromRegistryLike, options?: EnergyMetricsOptions): void
  readonly intervalMs: number
  readonly powerBudgetWatts: number | undefined
}

const OPTION_KEYS = [
  'sources',
  'auto',
  'intervalMs',
  'carbonIntensity',
  'powerBudgetWatts',
  'budgetWindowMs',
  'budgetHysteresis',
  'maxRoutes',
  'maxInFlight',
  'clock',
  'timers',
]
const MAX_WINDOW_ENTRIES = 3600

interface SourceState {
  source: EnergySource
  used: boolean
  reason: string | undefined
  previousJoules: number
  integrator: PowerIntegrator | undefined
  joules: number
  watts: number
  errors: number
  lastError: string | undefined
}

const timeOrigin = performance.timeOrigin
function defaultClock(): number {
  return timeOrigin + performance.now()
}

/**
 * Creates an energy meter. Options are validated here (CortexConfigError
 * naming the option); sources are probed on the first sample.
 *
 * @example
 * const meter = createEnergyMeter({ carbonIntensity: { country: 'FRA' }, powerBudgetWatts: 100 })
 * meter.start()
 * const end = meter.startRequest('POST /embed/multimodal')
 * // ... handle the request ...
 * end()
 * meter.on('budget', (e) => console.warn(e.overBudget ? 'over budget' : 'back under budget', e.averageWatts))
 */
export function createEnergyMeter(options: EnergyMeterOptions = {}): EnergyMeter {
  const where = 'createEnergyMeter'
  checkObject(options, 'options', where)
  checkKnownKeys(options, OPTION_KEYS, where)
  const intervalMs =
    options.intervalMs === undefined ? 1000 : parseDuration(options.intervalMs, 'intervalMs', where)
  if (intervalMs < 10) throw new CortexConfigError('intervalMs', options.intervalMs, 'at least 10 ms', where)
  if (options.clock !== undefined && typeof options.clock !== 'function') {
    throw new CortexConfigError('clock', options.clock, 'a function returning milliseconds', where)
  }
  const clock = options.clock ?? defaultClock
  const timers = options.timers ?? realTimers
  if (typeof timers?.setInterval !== 'function' || typeof timers.clearInterval !== 'function') {
    throw new CortexConfigError('timers', timers, '{ setInterval, clearInterval }', where)
  }
  const budgetWatts =
    options.powerBudgetWatts === undefined
      ? undefined
      : checkNumber(options.powerBudgetWatts, 'powerBudgetWatts', { min: 0, exclusiveMin: true, where })
  const windowMs =
    options.budgetWindowMs === undefined
      ? 60_000
      : parseDuration(options.budgetWindowMs, 'budgetWindowMs', where)
  const hysteresisFraction =
    options.budgetHysteresis === undefined
      ? 0.1
      : checkNumber(options.budgetHysteresis, 'budgetHysteresis', { min: 0, max: 0.99, where })
  const maxRoutes =
    options.maxRoutes === undefined
      ? 200
      : checkNumber(options.maxRoutes, 'maxRoutes', { min: 1, max: 100_000, integer: true, where })
  const maxInFlight =
    options.maxInFlight === undefined
      ? 100_000
      : checkNumber(options.maxInFlight, 'maxInFlight', { min: 1, max: 10_000_000, integer: true, where })
  const intensity = createIntensityProvider(options.carbonIntensity)

  let resolveSources: () => Promise<SourceState[]>
  if (options.sources === undefined || options.sources === 'auto') {
    const candidates = autoCandidates(options.auto)
    resolveSources = async () =>
      (await chooseAutoSources(candidates)).map((c) => newState(c.source, c.used, c.reason))
  } else if (Array.isArray(options.sources) && options.sources.length > 0) {
    const list = options.sources as readonly EnergySource[]
    for (const [i, s] of list.entries()) checkSource(s, i, where)
    resolveSources = async () =>
      Promise.all(
        list.map(async (source) => {
          let state: Awaited<ReturnType<EnergySource['available']>>
          try {
            state = await source.available()
          } catch (err) {
            state = { available: false, reason: messageOf(err) }
          }
          return newState(source, state.available, state.available ? undefined : state.reason)
        }),
      )
  } else {
    throw new CortexConfigError('sources', options.sources, `'auto' or a non-empty array of sources`, where)
  }
  if (options.auto !== undefined && options.sources !== undefined && options.sources !== 'auto') {
    throw new CortexConfigError('auto', options.auto, "nothing unless sources is 'auto'", where)
  }

  const ledger = new RequestLedger({ clock: options.clock, maxRoutes, maxInFlight })
  const hysteresis =
    budgetWatts === undefined
      ? undefined
      : createHysteresis({ enterAbove: budgetWatts, exitBelow: budgetWatts * (1 - hysteresisFraction) })
  let budgetState: HysteresisState | undefined = hysteresis?.initial()
  const windowCapacity = Math.min(MAX_WINDOW_ENTRIES, Math.ceil(windowMs / intervalMs) + 1)
  const windowJoules = new Float64Array(windowCapacity)
  const windowMsRing = new Float64Array(windowCapacity)
  let windowNext = 0
  let windowSize = 0
  let budgetAverage = Number.NaN

  let states: SourceState[] | undefined
  let probing: Promise<SourceState[]> | undefined
  let sampling: Promise<EnergySnapshot> | undefined
  let timer: unknown
  let firstAt = Number.NaN
  let lastAt = Number.NaN
  let samples = 0
  let totalJoules = 0
  let totalCo2 = 0
  let currentWatts = 0
  const componentJoules: Record<EnergyComponent, number> = { cpu: 0, gpu: 0, ram: 0 }
  const componentWatts: Record<EnergyComponent, number> = { cpu: 0, gpu: 0, ram: 0 }
  const listeners = {
    budget: new Set<(e: BudgetEvent) => void>(),
    sample: new Set<(s: EnergySnapshot) => void>(),
  }

  const ready = (): Promise<SourceState[]> => {
    probing ??= resolveSources().then((s) => {
      states = s
      return s
    })
    return probing
  }

  async function takeSample(): Promise<EnergySnapshot> {
    const all = await ready()
    const used = all.filter((s) => s.used)
    const readAt = clock()
    await intensity.refresh(readAt)
    const readings = await Promise.all(
      used.map((s) =>
        s.source.read(readAt).then(
          (r): SourceReading | Error => r,
          (err: unknown): SourceReading | Error => (err instanceof Error ? err : new Error(String(err))),
        ),
      ),
    )
    const first = Number.isNaN(lastAt)
    const dtSeconds = first ? 0 : Math.max(0, (readAt - lastAt) / 1000)
    let intervalJoules = 0
    componentWatts.cpu = 0
    componentWatts.gpu = 0
    componentWatts.ram = 0
    for (let i = 0; i < used.length; i++) {
      const state = used[i] as SourceState
      const joules = accumulate(state, readings[i] as SourceReading | Error, readAt, dtSeconds)
      intervalJoules += joules
      componentJoules[state.source.component] += joules
      componentWatts[state.source.component] += state.watts
    }
    const gPerKWh = intensity.gramsPerKWh
    ledger.closeInterval(clock(), intervalJoules, gPerKWh)
    totalJoules += intervalJoules
    totalCo2 += co2Grams(intervalJoules, gPerKWh)
    currentWatts = dtSeconds > 0 ? intervalJoules / dtSeconds : 0
    if (first) firstAt = readAt
    else if (dtSeconds > 0) recordWindow(intervalJoules, readAt - lastAt)
    lastAt = readAt
    samples++
    updateBudget(readAt)
    if (listeners.sample.size > 0) {
      const snap = snapshot()
      for (const fn of listeners.sample) safeCall(fn, snap)
    }
    return snapshot()
  }

  function accumulate(
    state: SourceState,
    reading: SourceReading | Error,
    readAt: number,
    dt: number,
  ): number {
    if (reading instanceof Error) return failed(state, reading.message)
    if (typeof reading !== 'object' || reading === null) return failed(state, 'read() returned no reading')
    if (typeof reading.joules === 'number') {
      const j = reading.joules
      if (!Number.isFinite(j)) return failed(state, `read() returned joules ${j}`)
      const delta = Number.isNaN(state.previousJoules) ? 0 : Math.max(0, j - state.previousJoules)
      state.previousJoules = j
      state.joules += delta
      state.watts = dt > 0 ? delta / dt : 0
      return delta
    }
    if (typeof reading.watts === 'number') {
      const w = reading.watts
      if (!Number.isFinite(w) || w < 0) return failed(state, `read() returned watts ${w}`)
      state.integrator ??= createPowerIntegrator()
      const before = state.integrator.joules
      const delta = state.integrator.add(readAt, w) - before
      state.joules += delta
      state.watts = w
      return delta
    }
    return failed(state, 'read() returned neither joules nor watts')
  }

  function failed(state: SourceState, message: string): number {
    state.errors++
    state.lastError = message.slice(0, 500)
    state.watts = 0
    return 0
  }

  function recordWindow(joules: number, ms: number): void {
    windowJoules[windowNext] = joules
    windowMsRing[windowNext] = ms
    windowNext = (windowNext + 1) % windowCapacity
    windowSize = Math.min(windowSize + 1, windowCapacity)
  }

  function updateBudget(now: number): void {
    if (hysteresis === undefined || budgetState === undefined || windowSize === 0) return
    let joules = 0
    let ms = 0
    for (let k = 1; k <= windowSize && ms < windowMs; k++) {
      const i = (windowNext - k + windowCapacity) % windowCapacity
      joules += windowJoules[i] as number
      ms += windowMsRing[i] as number
    }
    budgetAverage = ms > 0 ? joules / (ms / 1000) : Number.NaN
    const next = hysteresis.step(budgetState, now, budgetAverage)
    const changed = next.active !== budgetState.active
    budgetState = next
    if (!changed) return
    const event: BudgetEvent = {
      overBudget: next.active,
      averageWatts: budgetAverage,
      budgetWatts: budgetWatts as number,
      exitBelowWatts: hysteresis.exitBelow,
      windowMs,
      timeMs: now,
    }
    for (const fn of listeners.budget) safeCall(fn, event)
  }

  function snapshot(): EnergySnapshot {
    const durationSeconds = Number.isNaN(firstAt) ? 0 : Math.max(0, (lastAt - firstAt) / 1000)
    const reports: SourceReport[] = (states ?? []).map(report)
    const component = (c: EnergyComponent): ComponentEnergy => {
      const mine = (states ?? []).filter((s) => s.used && s.source.component === c)
      return {
        joules: componentJoules[c],
        watts: componentWatts[c],
        estimated: mine.some((s) => s.source.kind === 'modelled'),
        sources: mine.map((s) => s.source.name),
      }
    }
    return {
      startedAt: Number.isNaN(firstAt) ? null : isoTime(firstAt),
      sampledAt: Number.isNaN(lastAt) ? null : isoTime(lastAt),
      durationSeconds,
      samples,
      joules: totalJoules,
      kWh: joulesToKWh(totalJoules),
      co2Grams: totalCo2,
      carbonIntensity: intensity.info(),
      avgWatts: durationSeconds > 0 ? totalJoules / durationSeconds : 0,
      currentWatts,
      cpu: component('cpu'),
      gpu: component('gpu'),
      ram: component('ram'),
      sources: reports,
      estimated: (states ?? []).some((s) => s.used && s.source.kind === 'modelled'),
      powerBudgetWatts: budgetWatts ?? null,
      budgetAverageWatts: budgetWatts === undefined || Number.isNaN(budgetAverage) ? null : budgetAverage,
      overBudget: budgetState?.active ?? false,
      routes: ledger.routes(),
      requestsInFlight: ledger.inFlight,
      pendingJoules: ledger.pendingJoules,
      unattributedJoules: ledger.unattributedJoules,
      untrackedRequests: ledger.untrackedRequests,
      doubleEnds: ledger.doubleEnds,
    }
  }

  const meter: EnergyMeter = {
    intervalMs,
    powerBudgetWatts: budgetWatts,
    start() {
      if (timer !== undefined) return
      void meter.sample()
      timer = timers.setInterval(() => {
        void meter.sample()
      }, intervalMs)
      unrefTimer(timer)
    },
    stop() {
      if (timer === undefined) return
      timers.clearInterval(timer)
      timer = undefined
    },
    sample() {
      sampling ??= takeSample()
        .catch(() => snapshot())
        .finally(() => {
          sampling = undefined
        })
      return sampling
    },
    snapshot,
    startRequest: (route?: string, atMs?: number) => ledger.startRequest(route, atMs),
    now: clock,
    on(event: 'budget' | 'sample', listener: (arg: never) => void) {
      const set = listeners[event] as Set<unknown> | undefined
      if (set === undefined) throw new CortexConfigError('event', event, `"budget" or "sample"`, 'meter.on')
      if (typeof listener !== 'function')
        throw new CortexConfigError('listener', listener, 'a function', 'meter.on')
      set.add(listener)
      return () => {
        set.delete(listener)
      }
    },
    off(event, listener) {
      ;(listeners[event] as Set<unknown> | undefined)?.delete(listener)
    },
    registerMetrics(registry, metricsOptions) {
      registerEnergyMetrics(meter, registry, metricsOptions)
    },
  }
  return meter
}

function newState(source: EnergySource, used: boolean, reason: string | undefined): SourceState {
  return {
    source,
    used,
    reason,
    previousJoules: Number.NaN,
    integrator: undefined,
    joules: 0,
    watts: 0,
    errors: 0,
    lastError: undefined,
  }
}

function report(state: SourceState): SourceReport {
  const r: SourceReport = {
    name: state.source.name,
    kind: state.source.kind,
    component: state.source.component,
    used: state.used,
    errors: state.errors,
  }
  if (state.reason !== undefined) r.reason = state.reason
  if (state.lastError !== undefined) r.lastError = state.lastError
  if (state.source.describe !== undefined) {
    try {
      r.details = JSON.parse(JSON.stringify(state.source.describe())) as Record<string, unknown>
    } catch {
      // A describe() that throws or is not serialisable is left out.
    }
  }
  return r
}

function checkSource(source: unknown, i: number, where: string): void {
  const s = source as Partial<EnergySource> | null
  const ok =
    typeof s === 'object' &&
    s !== null &&
    typeof s.name === 'string' &&
    (s.kind === 'measured' || s.kind === 'modelled') &&
    ENERGY_COMPONENTS.includes(s.component as EnergyComponent) &&
    typeof s.available === 'function' &&
    typeof s.read === 'function'
  if (!ok) {
    throw new CortexConfigError(
      `sources[${i}]`,
      source,
      "a source { name, kind: 'measured' | 'modelled', component: 'cpu' | 'gpu' | 'ram', available(), read() }",
      where,
    )
  }
}

function isoTime(ms: number): string | null {
  const d = new Date(ms)
  return Number.isNaN(d.getTime()) ? null : d.toISOString()
}

function safeCall<T>(fn: (arg: T) => void, arg: T): void {
  try {
    fn(arg)
  } catch {
    // A listener's error must not stop sampling or reach the timer.
  }
}
