/**
 * The power-mode controller: one current mode (normal, low, …), chosen from
 * triggers (power budget, carbon intensity, schedule, battery) or a manual
 * override, kept from flapping by a dwell time, and applied through actions:
 * a concurrency gate, live rate-limit scaling, knobs the application reads,
 * deferred background work and micro-batching.
 */
import {
  CortexConfigError,
  checkKnownKeys,
  checkNumber,
  checkObject,
  createDwellGate,
  type DwellState,
  isCortexError,
  type PromRegistryLike,
  parseDuration,
  parseOptionalDuration,
  registerCollector,
  resolveTimers,
  type Timers,
  unrefTimer,
  withGetters,
} from '@cortex/core'
import { type Batcher, type BatchKnob, createBatcher } from './batcher.js'
import { ConcurrencyGate, type GateStats, QueueFullError } from './concurrency-gate.js'
import type { PowerModeTrigger } from './trigger.js'

/** What a mode sets. Knobs are plain data the application reads (`power.knobs`). */
export interface PowerModeConfig {
  /** Requests handled at once through `run()` / the adapters' `powerMode`. ≥ 1 (Infinity allowed). */
  concurrency: number
  /** Multiplier for attached rate limiters' refill rates (e.g. 0.5 halves them). > 0, default 1. */
  rateLimitScale?: number
  /** Requests waiting for a slot before new ones get 503. Default `100 × concurrency` (at most 10,000). */
  maxQueue?: number
  /** Whether `defer()`red work runs in this mode. Default: false for the low mode, true otherwise. */
  runDeferred?: boolean
  /** Free-form settings for the application (model size, token caps, `batch: { maxSize, maxWaitMs }` …). */
  knobs?: Record<string, unknown>
}

/** Anything whose refill rates can be scaled live, e.g. an @cortex/token-bucket limiter. */
export interface RateScalable {
  setRateScale(scale: number): void
}

/** A mode chosen elsewhere (another process) and why: what a follower applies. */
export interface PowerModeDecision {
  mode: string
  /** The leader's reason (`power-budget`, `clear`, `manual:<reason>` …), recorded as this controller's. */
  reason: string
}

/**
 * Where a follower gets its decisions: the cluster primary (`clusterPowerMode`),
 * a shared store's notifications, or anything that can call back.
 */
export interface PowerModeSource {
  /** Calls `listener` with each decision (the current one as soon as it is known); returns a function that stops. */
  subscribe(listener: (decision: PowerModeDecision) => void): () => void
}

/** @deprecated Use `Timers` from @cortex/core (also exported here): the same four functions. */
export type TimerFunctions = Timers

export interface PowerModeControllerOptions<M extends string> {
  modes: Record<M, PowerModeConfig>
  /** The mode when no trigger asks for anything. */
  initial: NoInfer<M>
  triggers?: PowerModeTrigger[]
  /**
   * Follow a decision made elsewhere instead of deciding here (no `triggers`):
   * each decision applies at once, with no dwell (the leader has its own).
   * `set()` still overrides locally; `release()` returns to the latest decision.
   */
  follow?: PowerModeSource
  /** Least time between two trigger-driven changes (ms or '60s'). Default 0. Manual `set()` is never held back. */
  minDwellMs?: number | string
  /** How often triggers are evaluated (ms or '1s'). Default 1000. */
  evaluateEveryMs?: number | string
  /** The mode that counts as "low" for `defer()`'s default. Default `low` when such a mode exists. */
  lowMode?: NoInfer<M>
  /** Limiters whose refill rates follow `rateLimitScale`. More can be attached later. */
  rateLimiters?: RateScalable[]
  /** A prom-client Registry for `power_mode{mode}` and `power_mode_changes_total{from,to,reason}`. */
  registry?: PromRegistryLike
  /** Milliseconds since the epoch; injectable for tests. Default `Date.now`. */
  clock?: () => number
  /** Injectable timers, @cortex/core's `Timers` port; missing functions are the host's. Timers the controller owns are unref'd when possible. */
  timers?: Partial<Timers>
  /** Seconds suggested to clients refused by a full queue. Default 1. */
  retryAfterSeconds?: number
  /** Where trigger failures and listener errors are reported. Default `console`. */
  logger?: { warn(message: string): void }
}

export interface PowerModeChange<M extends string = string> {
  from: M
  to: M
  /** `manual:<reason>`, the names of the triggers asking (`power-budget+schedule`), `clear`, or `override-expired`. */
  reason: string
  at: number
}

export interface OverloadResponse {
  status: 503
  headers: Record<string, string>
  body: { error: 'overloaded'; mode: string; retryAfterSeconds: number }
}

export interface SetOptions {
  /** Recorded as `manual:<reason>`. Default `operator`. */
  reason?: string
  /**
   * The override ends this long after `set()` (a positive number of ms, or
   * `'500ms'`, `'30s'`, `'1m'`, `'1h'`, `'1d'`): an unref'd timer ends it at
   * that instant, with or without triggers. Without it, it lasts until
   * `release()` or the next `set()`.
   */
  ttlMs?: number | string
}

export interface PowerModeController<M extends string = string> {
  readonly mode: M
  readonly knobs: Readonly<Record<string, unknown>>
  readonly config: Readonly<PowerModeConfig>
  /** The active manual override, if any. */
  readonly override: { mode: M; reason: string; until: number } | undefined
  /** Sets the mode now, overriding triggers until `ttlMs` passes or `release()`. */
  set(mode: M, options?: SetOptions): void
  /** Ends a manual override; triggers decide again at once. */
  release(): Promise<void>
  on(event: 'change', listener: (change: PowerModeChange<M>) => void): () => void
  /** Runs `task` under the current mode's concurrency limit (bounded queue; QueueFullError beyond). */
  run<T>(task: () => T | Promise<T>): Promise<T>
  /**
   * Waits for a slot under the current limit and returns its release function:
   * what adapters use to hold a slot for a whole HTTP exchange.
   */
  acquire(): Promise<() => void>
  /** A slot now (its release function), or undefined when none is free: the synchronous fast path of `acquire`. */
  tryAcquire(): (() => void) | undefined
  /**
   * The HTTP answer for an error from `run`/`acquire`: 503 with `Retry-After`
   * and the mode for a full queue; `undefined` for any other error.
   */
  overloadResponse(err: unknown): OverloadResponse | undefined
  /** Runs `task` now if the mode allows deferred work, else when it does. Bounded (QueueFullError beyond). */
  defer<T>(task: () => T | Promise<T>): Promise<T>
  /** Micro-batches calls per the current mode's `knobs[knob]` (`{ maxSize, maxWaitMs }`); no knob → no batching. */
  batcher<I, R>(process: (items: I[]) => R[] | Promise<R[]>, options?: { knob?: string }): Batcher<I, R>
  /**
   * Registers the metrics `options.registry` gets on another registry: a
   * second prom-client Registry, or an adapter such as @cortex/otel's.
   */
  registerMetrics(registry: PromRegistryLike): void
  /** Makes a limiter follow `rateLimitScale` (applied at once). */
  attachRateLimiter(limiter: RateScalable): void
  /** Asks every trigger now and applies the result (the timer calls this). */
  evaluate(now?: number): Promise<M>
  gateStats(): GateStats
  /** Stops the evaluation and override-expiry timers and closes triggers. */
  close(): void
}

const MODE_KEYS = ['concurrency', 'rateLimitScale', 'maxQueue', 'runDeferred', 'knobs'] as const
const OPTION_KEYS = [
  'modes',
  'initial',
  'triggers',
  'follow',
  'minDwellMs',
  'evaluateEveryMs',
  'lowMode',
  'rateLimiters',
  'registry',
  'clock',
  'timers',
  'retryAfterSeconds',
  'logger',
] as const
const MAX_REASON_SERIES = 200
/** The longest delay a Node/browser timer holds (2^31 − 1 ms, about 24.8 days); longer TTLs re-arm. */
const MAX_TIMER_MS = 2_147_483_647

interface ResolvedMode {
  name: string
  concurrency: number
  rateLimitScale: number
  maxQueue: number
  runDeferred: boolean
  knobs: Record<string, unknown>
  config: PowerModeConfig
}

/**
 * Creates a power-mode controller.
 *
 * @example
 * const power = createPowerModeController({
 *   modes: {
 *     normal: { concurrency: 8, rateLimitScale: 1, knobs: { model: 'large', maxTokens: 1024 } },
 *     low: { concurrency: 2, rateLimitScale: 0.5, knobs: { model: 'small', maxTokens: 256 } },
 *   },
 *   initial: 'normal',
 *   triggers: [powerBudgetTrigger(meter, { enterAboveWatts: 100, exitBelowWatts: 85, forMs: 30_000 })],
 *   minDwellMs: 60_000,
 * })
 * power.on('change', ({ from, to, reason }) => log.info({ from, to, reason }, 'power mode'))
 * const answer = await power.run(() => infer(input, power.knobs))
 */
export function createPowerModeController<M extends string>(
  options: PowerModeControllerOptions<M>,
): PowerModeController<M> {
  const where = 'createPowerModeController'
  checkObject(options, 'options', where)
  checkKnownKeys(options, OPTION_KEYS, where)
  const modesInput = checkObject(options.modes, 'modes', where) as Record<string, PowerModeConfig>
  const names = Object.keys(modesInput)
  if (names.length === 0) throw new CortexConfigError('modes', options.modes, 'at least one mode', where)
  const lowMode: string | undefined = options.lowMode ?? (names.includes('low') ? 'low' : undefined)
  if (lowMode !== undefined && !names.includes(lowMode)) {
    throw new CortexConfigError('lowMode', lowMode, `one of the modes (${names.join(', ')})`, where)
  }
  const modes = new Map<string, ResolvedMode>()
  for (const name of names) {
    const at = `mode "${name}"`
    const m = checkObject(modesInput[name], `modes.${name}`, where) as unknown as PowerModeConfig
    checkKnownKeys(m, MODE_KEYS, at)
    const concurrency =
      m.concurrency === Number.POSITIVE_INFINITY
        ? Number.POSITIVE_INFINITY
        : checkNumber(m.concurrency, 'concurrency', { min: 1, integer: true, where: at })
    const rateLimitScale = checkNumber(m.rateLimitScale ?? 1, 'rateLimitScale', {
      min: 0,
      exclusiveMin: true,
      where: at,
    })
    const defaultQueue = Number.isFinite(concurrency) ? Math.min(10_000, 100 * concurrency) : 0
    const maxQueue = checkNumber(m.maxQueue ?? defaultQueue, 'maxQueue', { min: 0, integer: true, where: at })
    if (m.runDeferred !== undefined && typeof m.runDeferred !== 'boolean') {
      throw new CortexConfigError('runDeferred', m.runDeferred, 'a boolean', at)
    }
    const knobs = m.knobs === undefined ? {} : checkObject(m.knobs, 'knobs', at)
    modes.set(name, {
      name,
      concurrency,
      rateLimitScale,
      maxQueue,
      runDeferred: m.runDeferred ?? name !== lowMode,
      knobs: Object.freeze({ ...knobs }),
      config: Object.freeze({ ...m, knobs }),
    })
  }
  if (typeof options.initial !== 'string' || !modes.has(options.initial)) {
    throw new CortexConfigError('initial', options.initial, `one of the modes (${names.join(', ')})`, where)
  }
  const triggers = options.triggers ?? []
  if (!Array.isArray(triggers))
    throw new CortexConfigError('triggers', triggers, 'an array of triggers', where)
  triggers.forEach((t, i) => {
    if (typeof t?.evaluate !== 'function') {
      throw new CortexConfigError(`triggers[${i}]`, t, 'a trigger (an object with evaluate(now))', where)
    }
  })
  const follow = options.follow
  if (follow !== undefined) {
    if (typeof follow?.subscribe !== 'function') {
      throw new CortexConfigError(
        'follow',
        follow,
        'a decision source (an object with subscribe(listener))',
        where,
      )
    }
    if (triggers.length > 0) {
      throw new CortexConfigError(
        'triggers',
        triggers,
        'no triggers with `follow` (the leader decides)',
        where,
      )
    }
  }
  const minDwellMs = parseOptionalDuration(options.minDwellMs, 'minDwellMs', 0, where)
  const evaluateEveryMs = parseOptionalDuration(options.evaluateEveryMs, 'evaluateEveryMs', 1000, where)
  if (evaluateEveryMs < 10) {
    throw new CortexConfigError('evaluateEveryMs', options.evaluateEveryMs, 'at least 10 ms', where)
  }
  const retryAfterSeconds = checkNumber(options.retryAfterSeconds ?? 1, 'retryAfterSeconds', {
    min: 0,
    integer: true,
    where,
  })
  const clock = options.clock ?? Date.now
  if (typeof clock !== 'function')
    throw new CortexConfigError('clock', clock, 'a function returning milliseconds', where)
  const timers = resolveTimers(options.timers, where)
  const logger = options.logger ?? console
  const baseline = options.initial as string
  const limiters: RateScalable[] = [...(options.rateLimiters ?? [])]

  const dwell = createDwellGate({ minDwellMs })
  let current = modes.get(baseline) as ResolvedMode
  let dwellState: DwellState = dwell.initial(false)
  let override: { mode: M; reason: string; until: number } | undefined
  const listeners = new Set<(change: PowerModeChange<M>) => void>()
  const gate = new ConcurrencyGate(current.concurrency, current.maxQueue, retryAfterSeconds)
  const deferred: Array<() => void> = []
  const maxDeferred = 10_000
  const changeCounts = new Map<string, { from: string; to: string; reason: string; count: number }>()
  let evaluating: Promise<M> | undefined
  let closed = false
  /** The modes the triggers asked for at their latest evaluation: what an expiring override returns to. */
  let latestVerdicts: string[] = []
  /** A follower's latest decision from its leader: what it is in, or returns to after an override. */
  let followed: PowerModeDecision | undefined
  let unfollow: (() => void) | undefined
  let expiryTimer: unknown

  function clearExpiry(): void {
    if (expiryTimer === undefined) return
    timers.clearTimeout(expiryTimer)
    expiryTimer = undefined
  }

  /** Arms the one timer that ends the override at `override.until` (none without a TTL). */
  function armExpiry(now: number): void {
    clearExpiry()
    if (closed || override === undefined || !Number.isFinite(override.until)) return
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, override.until - now))
    expiryTimer = timers.setTimeout(onExpiryTimer, delay)
    unrefTimer(expiryTimer)
  }

  function onExpiryTimer(): void {
    expiryTimer = undefined
    if (closed || override === undefined) return
    const now = clock()
    // A timer may fire a little before the clock reaches `until` (or a TTL beyond MAX_TIMER_MS): wait on.
    if (now < override.until) {
      armExpiry(now)
      return
    }
    expireOverride(now)
    if (triggers.length > 0) {
      controller
        .evaluate()
        .catch((err) => logger.warn(`@cortex/low-power: evaluation failed: ${String(err)}`))
    }
  }

  function expireOverride(now: number): void {
    override = undefined
    clearExpiry()
    change(followed?.mode ?? combine(latestVerdicts) ?? baseline, 'override-expired', now)
  }

  function onDecision(decision: PowerModeDecision): void {
    if (closed) return
    if (typeof decision?.mode !== 'string' || !modes.has(decision.mode)) {
      logger.warn(`@cortex/low-power: the leader decided unknown mode "${String(decision?.mode)}"; ignored`)
      return
    }
    followed = decision
    if (override === undefined) change(decision.mode, String(decision.reason), clock())
  }

  function applyScale(limiter: RateScalable): void {
    try {
      limiter.setRateScale(current.rateLimitScale)
    } catch (err) {
      logger.warn(
        `@cortex/low-power: a rate limiter refused setRateScale(${current.rateLimitScale}): ${String(err)}`,
      )
    }
  }

  function countChange(from: string, to: string, reason: string): void {
    // Manual reasons are free text: cap the label sets so metrics stay bounded.
    const label =
      changeCounts.size >= MAX_REASON_SERIES && !changeCounts.has(`${from}\0${to}\0${reason}`)
        ? 'other'
        : reason
    const key = `${from}\0${to}\0${label}`
    const entry = changeCounts.get(key)
    if (entry) entry.count++
    else changeCounts.set(key, { from, to, reason: label, count: 1 })
  }

  function change(to: string, reason: string, now: number): void {
    if (to === current.name) return
    const from = current.name
    current = modes.get(to) as ResolvedMode
    dwellState = { active: !dwellState.active, since: now }
    gate.setLimits(current.concurrency, current.maxQueue)
    for (const limiter of limiters) applyScale(limiter)
    countChange(from, to, reason)
    if (current.runDeferred) flushDeferred()
    const event = { from: from as M, to: to as M, reason, at: now }
    for (const listener of listeners) {
      try {
        listener(event)
      } catch (err) {
        logger.warn(`@cortex/low-power: a 'change' listener threw: ${String(err)}`)
      }
    }
  }

  function flushDeferred(): void {
    while (current.runDeferred && deferred.length > 0) (deferred.shift() as () => void)()
  }

  /** The most restrictive requested mode wins (lowest concurrency; ties: the later-declared mode). */
  function combine(requested: string[]): string | undefined {
    let best: ResolvedMode | undefined
    for (const name of requested) {
      const m = modes.get(name)
      if (!m) continue
      if (
        !best ||
        m.concurrency < best.concurrency ||
        (m.concurrency === best.concurrency && names.indexOf(m.name) > names.indexOf(best.name))
      ) {
        best = m
      }
    }
    return best?.name
  }

  async function evaluateNow(now: number): Promise<M> {
    const verdicts = await Promise.all(
      triggers.map(async (t) => {
        try {
          const v = await t.evaluate(now)
          if (v !== undefined && !modes.has(v)) {
            logger.warn(`@cortex/low-power: trigger "${t.name}" asked for unknown mode "${v}"; ignored`)
            return undefined
          }
          return v
        } catch (err) {
          logger.warn(`@cortex/low-power: trigger "${t.name}" failed: ${String(err)}`)
          return undefined
        }
      }),
    )
    if (closed) return current.name as M
    latestVerdicts = verdicts.filter((v): v is string => v !== undefined)
    if (override && now >= override.until) {
      expireOverride(now)
      return current.name as M
    }
    if (override) return current.name as M
    // A follower's mode changes with each decision (onDecision), never here.
    if (follow !== undefined) return current.name as M
    const wanted = combine(latestVerdicts) ?? baseline
    if (wanted !== current.name && dwell.canChange(dwellState, now)) {
      const reason =
        wanted === baseline
          ? 'clear'
          : triggers
              .filter((_, i) => verdicts[i] === wanted)
              .map((t) => t.name)
              .join('+')
      change(wanted, reason || 'clear', now)
    }
    return current.name as M
  }

  // Built without getters, which would put the object in V8's slow dictionary mode (see withGetters).
  const methods = {
    registerMetrics: (registry: PromRegistryLike) => registerMetrics(registry),
    set(mode, setOptions = {}) {
      if (!modes.has(mode))
        throw new CortexConfigError('mode', mode, `one of the modes (${names.join(', ')})`, 'power.set')
      const now = clock()
      const ttl =
        setOptions.ttlMs === undefined
          ? Number.POSITIVE_INFINITY
          : parseDuration(setOptions.ttlMs, 'ttlMs', 'power.set')
      const reason = `manual:${setOptions.reason ?? 'operator'}`
      override = { mode, reason, until: now + ttl }
      change(mode, reason, now)
      armExpiry(now)
    },
    async release() {
      if (!override) return
      clearExpiry()
      override = { ...override, until: Number.NEGATIVE_INFINITY }
      await controller.evaluate()
    },
    on(_event, listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    run(task) {
      return gate.run(task)
    },
    acquire() {
      return gate.acquire()
    },
    tryAcquire() {
      return gate.tryAcquire()
    },
    overloadResponse(err) {
      if (!isCortexError(err, 'ERR_CORTEX_QUEUE_FULL')) return undefined
      const seconds = (err as QueueFullError).retryAfterSeconds ?? retryAfterSeconds
      return {
        status: 503,
        headers: { 'Retry-After': String(seconds), 'Power-Mode': current.name },
        body: { error: 'overloaded', mode: current.name, retryAfterSeconds: seconds },
      }
    },
    defer<T>(task: () => T | Promise<T>): Promise<T> {
      if (current.runDeferred) return Promise.resolve().then(task)
      if (deferred.length >= maxDeferred) {
        return Promise.reject(new QueueFullError(0, maxDeferred, retryAfterSeconds))
      }
      return new Promise<T>((resolve, reject) => {
        deferred.push(() => {
          Promise.resolve().then(task).then(resolve, reject)
        })
      })
    },
    batcher(process, batcherOptions = {}) {
      const knob = batcherOptions.knob ?? 'batch'
      return createBatcher(process, () => current.knobs[knob] as BatchKnob | undefined, timers)
    },
    attachRateLimiter(limiter) {
      if (typeof limiter?.setRateScale !== 'function') {
        throw new CortexConfigError(
          'limiter',
          limiter,
          'an object with setRateScale(scale)',
          'attachRateLimiter',
        )
      }
      limiters.push(limiter)
      applyScale(limiter)
    },
    evaluate(now) {
      // One evaluation at a time: a slow trigger must not pile up overlapping runs.
      if (evaluating) return evaluating
      evaluating = evaluateNow(now ?? clock()).finally(() => {
        evaluating = undefined
      })
      return evaluating
    },
    gateStats() {
      return gate.stats()
    },
    close() {
      closed = true
      clearExpiry()
      if (handle !== undefined) timers.clearInterval(handle)
      unfollow?.()
      unfollow = undefined
      for (const t of triggers) t.close?.()
    },
  } satisfies Omit<PowerModeController<M>, 'mode' | 'knobs' | 'config' | 'override'>
  const controller: PowerModeController<M> = withGetters(methods, {
    mode: () => current.name as M,
    knobs: () => current.knobs,
    config: () => current.config,
    override: () => override,
  })

  for (const limiter of limiters) applyScale(limiter)

  function registerMetrics(registry: PromRegistryLike): void {
    registerCollector(registry, {
      name: 'power_mode',
      help: 'The current power mode (1) among the configured modes (0); under AggregatorRegistry, the share of workers in each mode.',
      type: 'gauge',
      aggregator: 'average',
      collect: () => names.map((name) => ({ value: name === current.name ? 1 : 0, labels: { mode: name } })),
    })
    registerCollector(registry, {
      name: 'power_mode_changes_total',
      help: 'Power mode changes by origin, destination and reason.',
      type: 'counter',
      collect: () =>
        [...changeCounts.values()].map((c) => ({
          value: c.count,
          labels: { from: c.from, to: c.to, reason: c.reason },
        })),
    })
  }
  if (options.registry) registerMetrics(options.registry)
  if (follow !== undefined) unfollow = follow.subscribe(onDecision)

  let handle: unknown
  if (triggers.length > 0) {
    handle = timers.setInterval(() => {
      controller
        .evaluate()
        .catch((err) => logger.warn(`@cortex/low-power: evaluation failed: ${String(err)}`))
    }, evaluateEveryMs)
    unrefTimer(handle)
  }

  return controller
}
