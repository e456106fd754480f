/**
 * `createSloTracker`'s options and their validation: every bad value throws
 * CortexConfigError when the tracker is created, naming the option.
 */
import {
  CortexConfigError,
  checkKnownKeys,
  checkNumber,
  checkObject,
  type PromRegistryLike,
  parseDuration,
  resolveTimers,
  type Timers,
} from '@cortex/core'

export interface SloTrackerOptions {
  /** A prom-client `Registry`: the histogram and SLO gauges are registered there, computed at scrape time. */
  registry?: PromRegistryLike
  /** Milliseconds, monotonic (default `performance.now()`): windows, rates and adapter-measured durations. */
  clock?: () => number
  /**
   * The timer functions behind the windows' slot timer and the alert
   * interval (default the host's). `record` without an end time reads no
   * clock: a timer moves the windows to the next 10-s slot at each
   * boundary. Given a `clock` but no `timers`, the tracker cannot assume the
   * host's timers follow that clock, so `record` reads `clock` instead; pass
   * timers that follow it (a fake, in tests) to keep records clock-free.
   */
  timers?: Partial<Timers>
  /** Distinct (method, route) pairs tracked besides objective routes; more collapse into `__unmatched__` (default 200). */
  maxRoutes?: number
  /** Histogram bucket upper bounds in seconds (default prom-client's); every objective threshold is added. */
  buckets?: readonly number[]
  /** Relative accuracy of the per-route quantile sketch (default 0.01: p50/p95/p99 within 1 %). */
  relativeAccuracy?: number
  /** How often `on('alert')` listeners are evaluated (default `'30s'`). */
  alertInterval?: string | number
  /** Receives errors thrown by alert listeners (default: `console.error`). They never reach the timer. */
  onListenerError?: (error: unknown) => void
}

/** The options with defaults applied; `buckets` and `registry` are checked where they are used. */
export interface TrackerConfig {
  clock: () => number
  timers: Timers
  /** True when `record` without an end time reads `clock` (a clock given without timers); else a slot timer runs. */
  clockPerRecord: boolean
  maxRoutes: number
  relativeAccuracy: number
  alertIntervalMs: number
  onListenerError: (error: unknown) => void
}

export const OPTIONS_WHERE = 'createSloTracker options'

const TRACKER_KEYS = [
  'registry',
  'clock',
  'timers',
  'maxRoutes',
  'buckets',
  'relativeAccuracy',
  'alertInterval',
  'onListenerError',
] as const

export function resolveTrackerOptions(options: SloTrackerOptions): TrackerConfig {
  const where = OPTIONS_WHERE
  checkObject(options, 'options', where)
  checkKnownKeys(options, TRACKER_KEYS, where)
  if (options.clock !== undefined && typeof options.clock !== 'function') {
    throw new CortexConfigError('clock', options.clock, 'a function returning milliseconds', where)
  }
  const clock = options.clock ?? (() => performance.now())
  const timers = resolveTimers(options.timers, where)
  const clockPerRecord = options.clock !== undefined && options.timers === undefined
  const maxRoutes = checkNumber(options.maxRoutes ?? 200, 'maxRoutes', {
    min: 0,
    max: 100_000,
    integer: true,
    where,
  })
  const relativeAccuracy = checkNumber(options.relativeAccuracy ?? 0.01, 'relativeAccuracy', {
    min: 0.0001,
    max: 0.5,
    where,
  })
  const alertIntervalMs = parseDuration(options.alertInterval ?? '30s', 'alertInterval', where)
  if (options.onListenerError !== undefined && typeof options.onListenerError !== 'function') {
    throw new CortexConfigError('onListenerError', options.onListenerError, 'a function', where)
  }
  const onListenerError =
    options.onListenerError ?? ((error) => console.error('@cortex/slo alert listener failed:', error))
  return { clock, timers, clockPerRecord, maxRoutes, relativeAccuracy, alertIntervalMs, onListenerError }
}
