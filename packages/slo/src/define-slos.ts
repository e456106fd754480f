/**
 * One SLO definition that drives everything else in the package: the
 * in-process tracker, the Prometheus rules, the Grafana dashboard, the k6
 * thresholds and the `cortex` CLI's load baseline. `defineSlos` validates
 * it once (every error names the objective and the field) and resolves it
 * into plain, frozen data.
 */
import {
  type BurnRateAlertTier,
  type BurnRateTierInput,
  burnRateAlertTable,
  CortexConfigError,
  checkKnownKeys,
  checkNumber,
  checkObject,
  parseDuration,
} from '@cortex/core'
import { BASE_WINDOW_MS, type Duration } from './durations.js'
import {
  formatLatencyThreshold,
  formatRateThreshold,
  type K6Threshold,
  parseK6Threshold,
} from './k6-threshold.js'

/** SLO periods the package knows (rolling windows). */
export const SLO_WINDOWS = ['7d', '14d', '28d', '30d'] as const
export type SloWindow = (typeof SLO_WINDOWS)[number]

/** HTTP methods an objective or a sample request may name. */
export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const

/** Alerting settings, at the top level or per objective (per objective wins, field by field). */
export interface SloAlertingInput {
  /** Generate / evaluate the `page` tiers (default true). */
  page?: boolean
  /** Generate / evaluate the `ticket` tiers (default true). */
  ticket?: boolean
  /** Your own burn-rate tiers instead of the SRE Workbook's four (windows ≥ 5m). */
  tiers?: readonly BurnRateTierInput[]
  /** How long a condition must hold before the alert fires (Prometheus `for:`): `'5m'` or milliseconds; default 0 (immediately). */
  for?: Duration | number
  /** Runbook linked from every alert's annotations. */
  runbookUrl?: string
  /** Extra labels on the generated alerts, e.g. `{ team: 'ml' }`. */
  labels?: Record<string, string>
}

/** What the `cortex baseline` load generator sends to one endpoint. */
export interface SampleRequestInput {
  /** Concrete path to request (overrides `params`), e.g. `/users/42?full=1`. */
  path?: string
  /** Values for the route's `:params` (default `1` for each). */
  params?: Record<string, string | number>
  headers?: Record<string, string>
  /** JSON-serialisable body (sent as `application/json`) or a string sent as is. */
  body?: unknown
}

interface ObjectiveCommon {
  /** Unique name; becomes the `slo` label. Letters, digits, `_`, `.`, `-`. */
  name: string
  /** `'METHOD /route/:template'`, `'/route'` (any method) or `'*'` (every request). */
  route: string
  description?: string
  alerting?: SloAlertingInput
}

export interface LatencyObjectiveInput extends ObjectiveCommon {
  /**
   * "p95 < 200 ms": at least `percentile`% of requests complete within
   * `thresholdMs`. `percentile` is in percent, 50 to 99.99 (95, not 0.95).
   */
  latency: { percentile: number; thresholdMs: number }
}

export interface ThresholdObjectiveInput extends ObjectiveCommon {
  /** k6 syntax: `'p(95)<2000'` (latency, ms; percentile 50 to 99.99) or `'rate<0.005'` (error rate). */
  threshold: K6Threshold
}

export interface AvailabilityObjectiveInput extends ObjectiveCommon {
  availability: {
    /** Highest tolerated fraction of bad requests, e.g. 0.005; or give `target`. */
    errorRate?: number
    /** Lowest tolerated fraction of good requests, e.g. 0.999; or give `errorRate`. */
    target?: number
    /** Status codes that count as bad: `'5xx'`, `'4xx'` or exact codes (default `['5xx']`). */
    errorStatusCodes?: readonly (string | number)[]
  }
}

export type ObjectiveInput = LatencyObjectiveInput | ThresholdObjectiveInput | AvailabilityObjectiveInput

export interface SloConfig {
  /** Service name, the `service` label of the recording rules and alerts. */
  service: string
  /** The SLO period (rolling): `'30d'` (default) or `'28d'`; `'7d'` and `'14d'` too. */
  window?: SloWindow
  objectives: readonly ObjectiveInput[]
  /** Defaults for every objective's alerts. */
  alerting?: SloAlertingInput
  /** PromQL label matchers added to every query, e.g. `job="cortex-api"`. */
  selector?: string
  /** Requests `cortex baseline` sends, keyed `'METHOD /route'` (e.g. JSON bodies for POST routes). */
  requests?: Record<string, SampleRequestInput>
  /**
   * Extra k6 scripts to generate, by file name: each drives only the listed
   * endpoints (`'METHOD /route'`, among those the objectives or `requests`
   * name) and carries their thresholds plus the service-wide ones.
   */
  loadScripts?: Record<string, readonly string[]>
}

/** Resolved alerting for one objective. */
export interface ResolvedAlerting {
  page: boolean
  ticket: boolean
  /** The tiers in force (disabled severities removed): the rules and the tracker both use exactly these. */
  table: readonly BurnRateAlertTier[]
  forMs: number
  runbookUrl: string | undefined
  labels: Readonly<Record<string, string>>
}

/** A validated objective. */
export interface Objective {
  name: string
  /** As written, e.g. `'POST /embed/multimodal'` or `'*'`. */
  route: string
  /** Upper-case method, or undefined for any method. */
  method: string | undefined
  /** Route template, or undefined for every route (`'*'`). */
  path: string | undefined
  kind: 'latency' | 'availability'
  /** Fraction of good requests the objective promises, in (0, 1): 0.95 for p95, 0.995 for 0.5% errors. */
  target: number
  /** Latency objectives: the percentile (95) and the threshold (ms). */
  percentile: number | undefined
  thresholdMs: number | undefined
  /** Availability objectives: the bad status patterns (`'5xx'`, `'429'`…). */
  errorStatusCodes: readonly string[]
  /** Canonical k6 form: `p(95)<200` or `rate<0.005`. */
  k6Threshold: string
  description: string | undefined
  alerting: ResolvedAlerting
}

export interface SampleRequest {
  method: string
  route: string
  path: string
  headers: Readonly<Record<string, string>>
  body: unknown
}

/** The resolved definition every other function of the package takes. */
export interface SloDefinitions {
  readonly service: string
  readonly window: SloWindow
  readonly windowMs: number
  readonly objectives: readonly Objective[]
  readonly selector: string | undefined
  /** Sample requests by `'METHOD /route'`, as configured (see `baselineEndpoints` in @cortex/cli). */
  readonly requests: Readonly<Record<string, SampleRequest>>
  /** Extra k6 scripts by file name, each listing canonical endpoints (`'POST /x'`). */
  readonly loadScripts: Readonly<Record<string, readonly string[]>>
}

const CONFIG_KEYS = [
  'service',
  'window',
  'objectives',
  'alerting',
  'selector',
  'requests',
  'loadScripts',
] as const
const OBJECTIVE_KEYS = ['name', 'route', 'description', 'alerting', 'latency', 'threshold', 'availability']
const ALERTING_KEYS = ['page', 'ticket', 'tiers', 'for', 'runbookUrl', 'labels'] as const
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const RESOLVED = Symbol.for('cortex.slo.definitions')

/**
 * Validates and resolves an SLO configuration. Throws CortexConfigError
 * naming the objective and the field (unknown fields, a percentile outside
 * (0, 100), a negative threshold, an unknown window…). Passing an already
 * resolved definition returns it unchanged.
 *
 * @example
 * const slos = defineSlos({
 *   service: 'cortex-api',
 *   window: '30d',
 *   objectives: [
 *     { name: 'embed-latency', route: 'POST /embed/multimodal', latency: { percentile: 95, thresholdMs: 200 } },
 *     { name: 'plan-latency', route: 'POST /agents/plan', threshold: 'p(95)<2000' },
 *     { name: 'availability', route: '*', availability: { errorRate: 0.005 } },
 *   ],
 * })
 */
export function defineSlos(config: SloConfig | SloDefinitions): SloDefinitions {
  if (isSloDefinitions(config)) return config
  const where = 'defineSlos'
  const raw = checkObject(config, 'config', where)
  checkKnownKeys(raw, CONFIG_KEYS, where)
  const service = raw.service
  if (typeof service !== 'string' || !NAME.test(service)) {
    throw new CortexConfigError(
      'service',
      service,
      'a name of letters, digits, "_", "." or "-" (at most 100 characters)',
      where,
    )
  }
  const window = raw.window ?? '30d'
  if (!(SLO_WINDOWS as readonly unknown[]).includes(window)) {
    throw new CortexConfigError(
      'window',
      window,
      `one of ${SLO_WINDOWS.map((w) => `"${w}"`).join(', ')}`,
      where,
    )
  }
  const windowMs = parseDuration(window, 'window', where)
  let selector: string | undefined
  if (raw.selector !== undefined) {
    if (typeof raw.selector !== 'string' || /[{}]/.test(raw.selector) || raw.selector.trim() === '') {
      throw new CortexConfigError(
        'selector',
        raw.selector,
        'PromQL label matchers without braces, e.g. job="api"',
        where,
      )
    }
    selector = raw.selector.trim()
  }
  const defaults = raw.alerting === undefined ? {} : checkAlerting(raw.alerting, where)
  if (!Array.isArray(raw.objectives) || raw.objectives.length === 0) {
    throw new CortexConfigError('objectives', raw.objectives, 'a non-empty array of objectives', where)
  }
  const seen = new Set<string>()
  const objectives = raw.objectives.map((o, i) => {
    const objective = resolveObjective(o, i, window as string, defaults)
    if (seen.has(objective.name)) {
      throw new CortexConfigError(
        'name',
        objective.name,
        'a name no other objective uses',
        `objectives[${i}]`,
      )
    }
    seen.add(objective.name)
    return objective
  })
  const requests = resolveRequests(raw.requests)
  const loadScripts = resolveLoadScripts(raw.loadScripts, objectives, requests)
  const definitions: SloDefinitions = {
    service,
    window: window as SloWindow,
    windowMs,
    objectives: Object.freeze(objectives),
    selector,
    requests,
    loadScripts,
  }
  Object.defineProperty(definitions, RESOLVED, { value: true })
  return Object.freeze(definitions)
}

function isSloDefinitions(value: unknown): value is SloDefinitions {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[RESOLVED] === true
}

interface AlertingDefaults {
  page?: boolean
  ticket?: boolean
  tiers?: readonly BurnRateTierInput[]
  forMs?: number
  runbookUrl?: string
  labels?: Record<string, string>
}

function checkAlerting(value: unknown, where: string): AlertingDefaults {
  const a = checkObject(value, 'alerting', where)
  checkKnownKeys(a, ALERTING_KEYS, `${where} alerting`)
  const out: AlertingDefaults = {}
  for (const key of ['page', 'ticket'] as const) {
    if (a[key] === undefined) continue
    if (typeof a[key] !== 'boolean')
      throw new CortexConfigError(`alerting.${key}`, a[key], 'true or false', where)
    out[key] = a[key]
  }
  if (a.tiers !== undefined) {
    if (!Array.isArray(a.tiers))
      throw new CortexConfigError('alerting.tiers', a.tiers, 'an array of tiers', where)
    out.tiers = a.tiers as BurnRateTierInput[]
  }
  if (a.for !== undefined) {
    out.forMs = a.for === 0 || a.for === '0s' ? 0 : parseDuration(a.for, 'alerting.for', where)
  }
  if (a.runbookUrl !== undefined) {
    if (typeof a.runbookUrl !== 'string' || !/^https?:\/\//.test(a.runbookUrl)) {
      throw new CortexConfigError('alerting.runbookUrl', a.runbookUrl, 'an http(s) URL', where)
    }
    out.runbookUrl = a.runbookUrl
  }
  if (a.labels !== undefined) {
    const labels = checkObject(a.labels, 'alerting.labels', where)
    for (const [k, v] of Object.entries(labels)) {
      if (!LABEL_NAME.test(k) || ['slo', 'service', 'severity', 'alertname'].includes(k)) {
        throw new CortexConfigError(
          `alerting.labels.${k}`,
          k,
          'a Prometheus label name other than slo, service, severity, alertname',
          where,
        )
      }
      if (typeof v !== 'string') throw new CortexConfigError(`alerting.labels.${k}`, v, 'a string', where)
    }
    out.labels = labels as Record<string, string>
  }
  return out
}

/** What every kind of objective shares: its identity, and what its alerting resolves against. */
interface ObjectiveScope {
  name: string
  route: string
  method: string | undefined
  path: string | undefined
  description: string | undefined
  /** The objective's own `alerting` input, resolved last (after its kind's fields) over `defaults`. */
  alerting: unknown
  window: string
  defaults: AlertingDefaults
  /** `objective "<name>"`: where every error about it points. */
  where: string
}

/** The fields that differ between latency and availability objectives. */
type ObjectiveKindFields = Pick<
  Objective,
  'kind' | 'target' | 'percentile' | 'thresholdMs' | 'errorStatusCodes' | 'k6Threshold'
>

function resolveObjective(
  value: unknown,
  index: number,
  window: string,
  defaults: AlertingDefaults,
): Objective {
  const o = checkObject(value, `objectives[${index}]`, 'defineSlos')
  const name = o.name
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new CortexConfigError(
      'name',
      name,
      'a name of letters, digits, "_", "." or "-" (at most 100 characters)',
      `objectives[${index}]`,
    )
  }
  const where = `objective "${name}"`
  checkKnownKeys(o, OBJECTIVE_KEYS, where)
  const { method, path } = parseRoute(o.route, 'route', where)
  const kinds = ['latency', 'threshold', 'availability'].filter((k) => o[k] !== undefined)
  if (kinds.length !== 1) {
    throw new CortexConfigError(
      'latency',
      kinds.length === 0 ? undefined : kinds,
      'exactly one of `latency`, `threshold` (k6 syntax) or `availability`',
      where,
    )
  }
  if (o.description !== undefined && typeof o.description !== 'string') {
    throw new CortexConfigError('description', o.description, 'a string', where)
  }
  const scope: ObjectiveScope = {
    name,
    route: o.route as string,
    method,
    path,
    description: o.description as string | undefined,
    alerting: o.alerting,
    window,
    defaults,
    where,
  }
  if (o.threshold !== undefined) return thresholdObjective(scope, o.threshold)
  if (o.latency !== undefined) {
    const latency = checkObject(o.latency, 'latency', where)
    checkKnownKeys(latency, ['percentile', 'thresholdMs'], where)
    return latencyObjective(scope, {
      percentile: latency.percentile,
      thresholdMs: latency.thresholdMs,
      percentileOption: 'latency.percentile',
      thresholdOption: 'latency.thresholdMs',
    })
  }
  return availabilityObjective(scope, o.availability)
}

/** k6 syntax: `'p(95)<200'` is a latency objective, `'rate<0.005'` an availability one on 5xx. */
function thresholdObjective(scope: ObjectiveScope, threshold: unknown): Objective {
  const parsed = typeof threshold === 'string' ? parseK6Threshold(threshold) : undefined
  if (parsed === undefined) {
    throw new CortexConfigError(
      'threshold',
      threshold,
      "a k6 threshold such as 'p(95)<200' or 'rate<0.005'",
      scope.where,
    )
  }
  if (parsed.kind === 'availability') {
    return availabilityTarget(scope, {
      errorRate: parsed.errorRate,
      target: undefined,
      errorStatusCodes: ['5xx'],
      errorRateOption: 'threshold',
    })
  }
  return latencyObjective(scope, {
    percentile: parsed.percentile,
    thresholdMs: parsed.thresholdMs,
    percentileOption: 'threshold',
    thresholdOption: 'threshold',
  })
}

/** A latency promise as given, and the options its errors name. */
interface LatencyFields {
  percentile: unknown
  thresholdMs: unknown
  percentileOption: string
  thresholdOption: string
}

function latencyObjective(scope: ObjectiveScope, fields: LatencyFields): Objective {
  const percentile = checkPercentile(fields.percentile, fields.percentileOption, scope.where)
  const thresholdMs = checkNumber(fields.thresholdMs, fields.thresholdOption, {
    min: 0,
    exclusiveMin: true,
    where: scope.where,
  })
  return finish(scope, {
    kind: 'latency',
    target: percentile / 100,
    percentile,
    thresholdMs,
    errorStatusCodes: [],
    k6Threshold: formatLatencyThreshold(percentile, thresholdMs),
  })
}

function availabilityObjective(scope: ObjectiveScope, value: unknown): Objective {
  const { where } = scope
  const availability = checkObject(value, 'availability', where)
  checkKnownKeys(availability, ['errorRate', 'target', 'errorStatusCodes'], where)
  if ((availability.errorRate === undefined) === (availability.target === undefined)) {
    throw new CortexConfigError(
      'availability.errorRate',
      availability.errorRate,
      'exactly one of `errorRate` (e.g. 0.005) or `target` (e.g. 0.995)',
      where,
    )
  }
  const errorStatusCodes =
    availability.errorStatusCodes === undefined
      ? ['5xx']
      : checkStatusPatterns(availability.errorStatusCodes, where)
  return availabilityTarget(scope, {
    errorRate: availability.errorRate,
    target: availability.target,
    errorStatusCodes,
    errorRateOption: 'availability.errorRate',
  })
}

/** An availability promise as given (`errorRate` or `target`), and the option an `errorRate` error names. */
interface AvailabilityFields {
  errorRate: unknown
  target: unknown
  errorStatusCodes: string[]
  errorRateOption: string
}

function availabilityTarget(scope: ObjectiveScope, fields: AvailabilityFields): Objective {
  const { where } = scope
  const { errorRate, target: targetInput, errorRateOption: field } = fields
  let rate: number
  if (targetInput !== undefined) {
    const target = checkNumber(targetInput, 'availability.target', {
      min: 0,
      max: 1,
      exclusiveMin: true,
      where,
    })
    if (target >= 1)
      throw new CortexConfigError('availability.target', targetInput, 'a ratio in (0, 1) exclusive', where)
    rate = 1 - target
  } else {
    rate = checkNumber(errorRate, field, { min: 0, max: 1, exclusiveMin: true, where })
    if (rate >= 1) throw new CortexConfigError(field, errorRate, 'an error rate in (0, 1) exclusive', where)
  }
  return finish(scope, {
    kind: 'availability',
    target: targetInput !== undefined ? (targetInput as number) : 1 - rate,
    percentile: undefined,
    thresholdMs: undefined,
    errorStatusCodes: fields.errorStatusCodes,
    k6Threshold: formatRateThreshold(targetInput !== undefined ? Number(rate.toPrecision(12)) : rate),
  })
}

/** Lays the objective out (one field order for every kind), resolves its alerting and freezes it. */
function finish(scope: ObjectiveScope, fields: ObjectiveKindFields): Objective {
  return Object.freeze({
    name: scope.name,
    route: scope.route,
    method: scope.method,
    path: scope.path,
    kind: fields.kind,
    target: fields.target,
    percentile: fields.percentile,
    thresholdMs: fields.thresholdMs,
    errorStatusCodes: Object.freeze(fields.errorStatusCodes),
    k6Threshold: fields.k6Threshold,
    description: scope.description,
    alerting: resolveAlerting(scope.alerting, scope.window, scope.defaults, scope.where),
  })
}

function resolveAlerting(
  value: unknown,
  window: string,
  defaults: AlertingDefaults,
  where: string,
): ResolvedAlerting {
  const own = value === undefined ? {} : checkAlerting(value, where)
  const page = own.page ?? defaults.page ?? true
  const ticket = own.ticket ?? defaults.ticket ?? true
  const tiers = own.tiers ?? defaults.tiers
  const full = burnRateAlertTable(window, tiers)
  for (const tier of full) {
    if (
      tier.shortWindowMs < BASE_WINDOW_MS ||
      tier.shortWindowMs % 60_000 !== 0 ||
      tier.longWindowMs % 60_000 !== 0
    ) {
      throw new CortexConfigError(
        'alerting.tiers',
        tiers,
        'tiers whose windows are whole minutes of at least 5m (the base window the rules sum from)',
        where,
      )
    }
  }
  const table = Object.freeze(
    full.filter((t) => (t.severity === 'page' ? page : ticket)).map((t) => Object.freeze(t)),
  )
  return Object.freeze({
    page,
    ticket,
    table,
    forMs: own.forMs ?? defaults.forMs ?? 0,
    runbookUrl: own.runbookUrl ?? defaults.runbookUrl,
    labels: Object.freeze({ ...defaults.labels, ...own.labels }),
  })
}

function checkStatusPatterns(value: unknown, where: string): string[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw new CortexConfigError(
      'availability.errorStatusCodes',
      value,
      "a non-empty array such as ['5xx', 429]",
      where,
    )
  }
  return value.map((v) => {
    const s = String(v)
    if (/^[1-5]xx$/.test(s) || (/^[1-5]\d\d$/.test(s) && (typeof v === 'number' || typeof v === 'string')))
      return s
    throw new CortexConfigError(
      'availability.errorStatusCodes',
      v,
      "a status class such as '5xx' or a code 100-599",
      where,
    )
  })
}

/** Splits `'POST /x'`, `'/x'` or `'*'` into method and path template. */
export function parseRoute(
  value: unknown,
  option: string,
  where: string,
): { method: string | undefined; path: string | undefined } {
  const expected = "'METHOD /route/:template', '/route' (any method) or '*' (every request)"
  if (typeof value !== 'string') throw new CortexConfigError(option, value, expected, where)
  const text = value.trim()
  if (text === '*') return { method: undefined, path: undefined }
  const match = /^(?:([A-Za-z]+)\s+)?(\S+)$/.exec(text)
  if (!match) throw new CortexConfigError(option, value, expected, where)
  const method = match[1]?.toUpperCase()
  const path = match[2] as string
  if (method !== undefined && !(HTTP_METHODS as readonly string[]).includes(method)) {
    throw new CortexConfigError(option, value, `a method among ${HTTP_METHODS.join(', ')}`, where)
  }
  if (!path.startsWith('/') || /[?#]/.test(path) || /^[a-z]+:/i.test(path)) {
    throw new CortexConfigError(option, value, `${expected}; a route template, not a URL`, where)
  }
  return { method, path }
}

function resolveRequests(value: unknown): Readonly<Record<string, SampleRequest>> {
  const where = 'defineSlos requests'
  if (value === undefined) return Object.freeze({})
  const requests = checkObject(value, 'requests', 'defineSlos')
  const out: Record<string, SampleRequest> = {}
  for (const [key, raw] of Object.entries(requests)) {
    const { method, path } = parseRoute(key, `requests["${key}"]`, where)
    if (path === undefined)
      throw new CortexConfigError(`requests["${key}"]`, key, "a key such as 'POST /embed/multimodal'", where)
    const spec = checkObject(raw, `requests["${key}"]`, where)
    checkKnownKeys(spec, ['path', 'params', 'headers', 'body'], `${where} "${key}"`)
    let concrete: string
    if (spec.path !== undefined) {
      if (typeof spec.path !== 'string' || !spec.path.startsWith('/')) {
        throw new CortexConfigError(`requests["${key}"].path`, spec.path, 'a path starting with /', where)
      }
      concrete = spec.path
    } else {
      const params =
        spec.params === undefined ? {} : checkObject(spec.params, `requests["${key}"].params`, where)
      concrete = fillParams(path, params)
    }
    const headers =
      spec.headers === undefined ? {} : checkObject(spec.headers, `requests["${key}"].headers`, where)
    for (const [h, v] of Object.entries(headers)) {
      if (typeof v !== 'string')
        throw new CortexConfigError(`requests["${key}"].headers.${h}`, v, 'a string', where)
    }
    const canonical = `${method ?? 'GET'} ${path}`
    out[canonical] = Object.freeze({
      method: method ?? 'GET',
      route: path,
      path: concrete,
      headers: Object.freeze({ ...(headers as Record<string, string>) }),
      body: spec.body,
    })
  }
  return Object.freeze(out)
}

function resolveLoadScripts(
  value: unknown,
  objectives: readonly Objective[],
  requests: Readonly<Record<string, SampleRequest>>,
): Readonly<Record<string, readonly string[]>> {
  const where = 'defineSlos loadScripts'
  if (value === undefined) return Object.freeze({})
  const scripts = checkObject(value, 'loadScripts', 'defineSlos')
  const known = new Set<string>(Object.keys(requests))
  for (const o of objectives) if (o.path !== undefined) known.add(`${o.method ?? 'GET'} ${o.path}`)
  const out: Record<string, readonly string[]> = {}
  for (const [name, list] of Object.entries(scripts)) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(name)) {
      throw new CortexConfigError(
        `loadScripts["${name}"]`,
        name,
        'a file name of letters, digits, ".", "_" or "-"',
        where,
      )
    }
    if (!Array.isArray(list) || list.length === 0) {
      throw new CortexConfigError(
        `loadScripts["${name}"]`,
        list,
        "a non-empty array of endpoints such as 'POST /embed/multimodal'",
        where,
      )
    }
    out[name] = Object.freeze(
      list.map((entry: unknown, i: number) => {
        const { method, path } = parseRoute(entry, `loadScripts["${name}"][${i}]`, where)
        const canonical = `${method ?? 'GET'} ${path}`
        if (!known.has(canonical)) {
          throw new CortexConfigError(
            `loadScripts["${name}"][${i}]`,
            entry,
            `an endpoint named by an objective or by \`requests\` (${[...known].join(', ')})`,
            where,
          )
        }
        return canonical
      }),
    )
  }
  return Object.freeze(out)
}

/** Fills `:param` segments (also `:param?` and Fastify's `*`) with the given values or `1`. */
export function fillParams(template: string, params: Record<string, unknown> = {}): string {
  return template
    .replace(/:([A-Za-z0-9_]+)(\([^)]*\))?\??/g, (_m, name: string) =>
      encodeURIComponent(String(params[name] ?? '1')),
    )
    .replace(/\*/g, () => encodeURIComponent(String(params['*'] ?? '1')))
}

/** The percentiles an objective may promise, in percent. */
const PERCENTILE_MIN = 50
const PERCENTILE_MAX = 99.99

/**
 * A latency percentile in percent, 50 to 99.99. A fraction such as 0.95 is
 * the usual slip (it would promise that 0.95 % of requests are fast): the
 * message says "95, not 0.95".
 */
function checkPercentile(value: unknown, option: string, where: string): number {
  const ok =
    typeof value === 'number' && Number.isFinite(value) && value >= PERCENTILE_MIN && value <= PERCENTILE_MAX
  if (ok) return value
  const allowed = `a percentile from ${PERCENTILE_MIN} to ${PERCENTILE_MAX}, in percent`
  const asPercent =
    typeof value === 'number' && value > 0 && value < 1 ? +(value * 100).toPrecision(12) : undefined
  throw new CortexConfigError(
    option,
    value,
    asPercent === undefined ? `${allowed} (95, not 0.95)` : `${allowed}: ${asPercent}, not ${value}`,
    where,
  )
}
