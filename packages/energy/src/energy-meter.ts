/**
 * The energy meter: samples its sources every `intervalMs` (an unref'd
 * timer, so it never keeps a process alive), integrates their readings into
 * joules per component, takes this process's share of what the sources
 * measure for the whole machine, converts both to CO₂, shares each
 * interval's process energy among the requests in flight, and raises a
 * `budget` event when the machine's average power passes a budget and again
 * when it falls back below it.
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
import {
  type ProcessShareOptions,
  type ShareCounters,
  type ShareReader,
  shareReader,
} from './process-share.js'
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
  /**
   * How this process's share of what machine-wide sources measure is taken
   * (RAPL, hwmon, nvidia-smi, the RAM model): by CPU time and resident
   * memory, read from procfs (default), or `false` to attribute the whole
   * machine to this process (one process per machine). See the README,
   * "Process share".
   */
  processShare?: ProcessShareOptions | false
  /** The machine's average power above which `overBudget` turns true and a `budget` event fires, in watts. */
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

/** The machine's own figures, as its sources measure or model them (before any process share). */
export interface HostEnergy {
  joules: number
  kWh: number
  co2Grams: number
  /** joules / durationSeconds. */
  avgWatts: number
  /** Power over the latest interval. */
  currentWatts: number
  cpu: ComponentEnergy
  gpu: ComponentEnergy
  ram: ComponentEnergy
}

/** How this process's share of the machine-wide sources is taken, and its latest value. */
export interface ProcessShareReport {
  /** `cpu-time`: by CPU time and resident memory; `whole-machine`: `processShare: false`. */
  rule: 'cpu-time' | 'whole-machine'
  /** Where the counters come from: `procfs`, `node` (no procfs here), or null with `whole-machine`. */
  reader: 'procfs' | 'node' | null
  /** This process's CPU time / the machine's (idle included) over the latest interval, in [0, 1]. */
  cpu: number
  /** Resident memory / the machine's memory at the latest sample, in [0, 1]. */
  ram: number
  /** Of machine-wide GPU energy: 0 (not attributed: no per-process GPU figure is read), 1 with `whole-machine`. */
  gpu: number
  /** Failed reads of the counters (the previous share is kept). */
  errors: number
  lastError?: string
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
  /** This process's joules (its share of machine-wide sources; see `host` for the machine's). */
  joules: number
  kWh: number
  co2Grams: number
  carbonIntensity: CarbonIntensityInfo
  /** joules / durationSeconds. */
  avgWatts: number
  /** This process's power over the latest interval. */
  currentWatts: number
  cpu: ComponentEnergy
  gpu: ComponentEnergy
  ram: ComponentEnergy
  /** The machine's figures. */
  host: HostEnergy
  /** How this process's share was taken. */
  share: ProcessShareReport
  sources: SourceReport[]
  /** True when any figure comes from a model rather than a sensor. */
  estimated: boolean
  powerBudgetWatts: number | null
  /** The machine's average power over `budgetWindowMs`, compared with the budget; null without a budget. */
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
   * routing), pass it to the end function: `end('GET /users/:id')`. Pass
   * the response status as the third argument (`end(route, atMs, 429)`) to
   * count the request under its outcome (`2xx`, `4xx`, … or `none`). See
   * the README for double-end behaviour.
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
  'processShare',
]
const MAX_WINDOW_ENTRIES = 3600

interface SourceState {
  source: EnergySource
  /** True when the source covers the whole machine (its energy is shared). */
  machine: boolean
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
  if (
    options.processShare !== undefined &&
    options.processShare !== false &&
    typeof options.processShare !== 'object'
  ) {
    throw new CortexConfigError('processShare', options.processShare, '{ procRoot?, pid? } or false', where)
  }
  const shares: ShareReader | undefined =
    options.processShare === false ? undefined : shareReader(options.processShare ?? {}, where)

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
  const own = newTotals()
  const host = newTotals()
  let previousCounters: ShareCounters | undefined
  const share: ProcessShareReport = {
    rule: shares === undefined ? 'whole-machine' : 'cpu-time',
    reader: null,
    cpu: shares === undefined ? 1 : 0,
    ram: shares === undefined ? 1 : 0,
    gpu: shares === undefined ? 1 : 0,
    errors: 0,
  }
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
    const [readings] = await Promise.all([
      Promise.all(
        used.map((s) =>
          s.source.read(readAt).then(
            (r): SourceReading | Error => r,
            (err: unknown): SourceReading | Error => (err instanceof Error ? err : new Error(String(err))),
          ),
        ),
      ),
      updateShare(),
    ])
    const first = Number.isNaN(lastAt)
    const dtSeconds = first ? 0 : Math.max(0, (readAt - lastAt) / 1000)
    let hostJoules = 0
    let ownJoules = 0
    for (const c of ENERGY_COMPONENTS) {
      host.watts[c] = 0
      own.watts[c] = 0
    }
    for (let i = 0; i < used.length; i++) {
      const state = used[i] as SourceState
      const joules = accumulate(state, readings[i] as SourceReading | Error, readAt, dtSeconds)
      const c = state.source.component
      const fraction = state.machine ? share[c] : 1
      hostJoules += joules
      host.joules[c] += joules
      host.watts[c] += state.watts
      ownJoules += joules * fraction
      own.joules[c] += joules * fraction
      own.watts[c] += state.watts * fraction
    }
    const gPerKWh = intensity.gramsPerKWh
    ledger.closeInterval(clock(), ownJoules, gPerKWh)
    host.add(hostJoules, gPerKWh, dtSeconds)
    own.add(ownJoules, gPerKWh, dtSeconds)
    if (first) firstAt = readAt
    else if (dtSeconds > 0) recordWindow(hostJoules, readAt - lastAt)
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

  /** Reads the share counters; this process's CPU share is the ratio of the two CPU times' increases. */
  async function updateShare(): Promise<void> {
    if (shares === undefined) return
    let counters: ShareCounters
    try {
      counters = await shares.read()
    } catch (err) {
      share.errors++
      share.lastError = messageOf(err).slice(0, 500)
      return
    }
    share.reader = shares.name
    const before = previousCounters
    previousCounters = counters
    share.ram = clampShare(counters.rssBytes / counters.memoryBytes, share.ram)
    if (before === undefined) return
    const machine = counters.machineCpu - before.machineCpu
    if (machine > 0) share.cpu = clampShare((counters.processCpu - before.processCpu) / machine, share.cpu)
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
    const component = (totals: Totals, c: EnergyComponent): ComponentEnergy => {
      const mine = (states ?? []).filter((s) => s.used && s.source.component === c)
      return {
        joules: totals.joules[c],
        watts: totals.watts[c],
        estimated: mine.some((s) => s.source.kind === 'modelled'),
        sources: mine.map((s) => s.source.name),
      }
    }
    const avg = (joules: number) => (durationSeconds > 0 ? joules / durationSeconds : 0)
    const gPerKWh = intensity.gramsPerKWh
    return {
      startedAt: Number.isNaN(firstAt) ? null : isoTime(firstAt),
      sampledAt: Number.isNaN(lastAt) ? null : isoTime(lastAt),
      durationSeconds,
      samples,
      joules: own.total,
      kWh: joulesToKWh(own.total),
      co2Grams: own.co2,
      carbonIntensity: intensity.info(),
      avgWatts: avg(own.total),
      currentWatts: own.current,
      cpu: component(own, 'cpu'),
      gpu: component(own, 'gpu'),
      ram: component(own, 'ram'),
      host: {
        joules: host.total,
        kWh: joulesToKWh(host.total),
        co2Grams: host.co2,
        avgWatts: avg(host.total),
        currentWatts: host.current,
        cpu: component(host, 'cpu'),
        gpu: component(host, 'gpu'),
        ram: component(host, 'ram'),
      },
      share: { ...share },
      sources: reports,
      estimated: (states ?? []).some((s) => s.used && s.source.kind === 'modelled'),
      powerBudgetWatts: budgetWatts ?? null,
      budgetAverageWatts: budgetWatts === undefined || Number.isNaN(budgetAverage) ? null : budgetAverage,
      overBudget: budgetState?.active ?? false,
      // Until the next sample closes the interval, the routes carry an estimate at the latest power.
      routes: ledger.routes(
        Number.isNaN(lastAt) ? undefined : { nowMs: clock(), watts: own.current, gramsPerKWh: gPerKWh },
      ),
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

/** Running figures of the machine or of this process. */
interface Totals {
  total: number
  co2: number
  current: number
  joules: Record<EnergyComponent, number>
  watts: Record<EnergyComponent, number>
  /** Adds one interval's joules. */
  add(joules: number, gramsPerKWh: number, dtSeconds: number): void
}

function newTotals(): Totals {
  return {
    total: 0,
    co2: 0,
    current: 0,
    joules: { cpu: 0, gpu: 0, ram: 0 },
    watts: { cpu: 0, gpu: 0, ram: 0 },
    add(joules, gramsPerKWh, dtSeconds) {
      this.total += joules
      this.co2 += co2Grams(joules, gramsPerKWh)
      this.current = dtSeconds > 0 ? joules / dtSeconds : 0
    },
  }
}

/** A share in [0, 1]; a reading that is not a number keeps the previous share. */
function clampShare(value: number, previous: number): number {
  return Number.isFinite(value) ? Math.min(1, Math.max(0, value)) : previous
}

function newState(source: EnergySource, used: boolean, reason: string | undefined): SourceState {
  return {
    source,
    machine: source.scope === 'machine',
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
    (s.scope === undefined || s.scope === 'machine' || s.scope === 'process') &&
    typeof s.available === 'function' &&
    typeof s.read === 'function'
  if (!ok) {
    throw new CortexConfigError(
      `sources[${i}]`,
      source,
      "a source { name, kind: 'measured' | 'modelled', component: 'cpu' | 'gpu' | 'ram', scope?: 'machine' | 'process', available(), read() }",
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
