/**
 * Rate-limit policies: parsing the `policies` option of `createRateLimiter`
 * into validated entries, and matching a request (method + path) to the most
 * specific one. Validation happens once, here; matching never throws.
 *
 * The matching rule (most specific wins):
 *  1. an exact path (`POST /embed/multimodal`) for the request's method,
 *  2. an exact path for any method (`* /embed/multimodal`),
 *  3. the `/*` wildcard with the longest prefix (`GET /health/*` matches
 *     `/health` and everything below it); at equal length a policy naming
 *     the method beats one for any method,
 *  4. the `*` default, if configured; otherwise no policy (not limited).
 * A HEAD request also matches GET policies (frameworks answer HEAD with the
 * GET handler). Paths compare case-insensitively and ignore one trailing
 * slash, so `/Embed/Multimodal/` cannot step around `/embed/multimodal`.
 */
import { CortexConfigError, checkKnownKeys, checkNumber, parseDuration } from '@cortex/core'

/** The methods a policy key may name (any case), or `*` for any method. */
export type PolicyMethod =
  | 'GET'
  | 'HEAD'
  | 'POST'
  | 'PUT'
  | 'PATCH'
  | 'DELETE'
  | 'OPTIONS'
  | 'CONNECT'
  | 'TRACE'
  | '*'

/**
 * A policy key: `'METHOD /path'` (an exact path, or a prefix ending in
 * `/*`), or `'*'` for the default. `'POST embed'` or `'FETCH /x'` are type
 * errors; a route template (`'POST /agents/:id'`) is refused when the limiter
 * is created, since policies match the request's path.
 */
export type PolicyKey = `${PolicyMethod | Lowercase<PolicyMethod>} /${string}` | '*'

/** The `policies` option: a policy per key. */
export type Policies = { readonly [K in PolicyKey]?: PolicyConfig }

/**
 * One limit of a list policy: a rate with a name (unique within the policy,
 * sent as the header item's name and the metrics' `limit` label) and a unit.
 *
 * @example
 * { name: 'tokens', limit: 20_000, window: '1m', unit: 'tokens' }
 */
export interface LimitConfig {
  /** Unique within the policy: letters, digits, `_`, `.`, `-` (at most 64). */
  name: string
  /** Units admitted per `window`. A positive integer. */
  limit: number
  /** The window of `limit`: milliseconds or `'500ms' | '30s' | '1m' | '1h' | '1d'`. */
  window: number | string
  /** Bucket capacity: the largest burst, in the limit's unit. Defaults to `limit`. */
  burst?: number
  /**
   * What the limit counts; default `'requests'`. A cost object names its
   * units (`{ tokens: 800 }`); a unit the cost omits is charged 1 for
   * `requests` and 0 otherwise (so a tokens limit can be charged at `settle`).
   */
  unit?: string
}

/** One policy as written by the user: a rate, several limits decided together, or `'unlimited'`. */
export type PolicyConfig =
  | 'unlimited'
  | readonly LimitConfig[]
  | {
      /** Requests admitted per `window` (the sustained rate). A positive integer. */
      limit: number
      /** The window of `limit`: milliseconds or `'500ms' | '30s' | '1m' | '1h' | '1d'`. */
      window: number | string
      /** Bucket capacity: the largest burst. A positive integer; defaults to `limit`. */
      burst?: number
      /**
       * Throttling: instead of refusing at once, a request that would be
       * admitted within this many milliseconds is held until then (adapters
       * and `check` only; `consume` never waits). Default 0 (no queueing).
       */
      maxDelayMs?: number | string
    }

/** A validated policy, as `limiter.policies` lists it. */
export interface PolicyDescription {
  /** The key as configured, e.g. `POST /embed/multimodal`. */
  readonly name: string
  /** Upper-case method, or `*` for any method (and for the default policy). */
  readonly method: string
  /** Normalised path: exact, or the prefix of a `/*` wildcard; `*` for the default. */
  readonly path: string
  readonly kind: 'exact' | 'wildcard' | 'default'
  readonly unlimited: boolean
  /** Requests per window (0 when unlimited). */
  readonly limit: number
  readonly windowMs: number
  readonly burst: number
  readonly maxDelayMs: number
  /**
   * A list policy's limits, in the order configured (the policy's own
   * `limit`, `windowMs` and `burst` are its first limit's); undefined for a
   * single-rate policy.
   */
  readonly limits?: readonly LimitDescription[]
}

/** A validated limit of a list policy. */
export interface LimitDescription {
  readonly name: string
  readonly unit: string
  readonly limit: number
  readonly windowMs: number
  readonly burst: number
}

/** The unit of a single-rate policy, and the default unit of a limit. */
export const REQUESTS = 'requests'

const LIMIT_OPTIONS = ['name', 'limit', 'window', 'burst', 'unit'] as const
const NAME_SHAPE = /^[A-Za-z0-9_.-]{1,64}$/
const NAME_TEXT = "1 to 64 letters, digits, '_', '.' or '-'"
/** Limits per list policy: each costs a store key per client. */
export const MAX_LIMITS = 8

const POLICY_OPTIONS = ['limit', 'window', 'burst', 'maxDelayMs'] as const
const KEY_SHAPE = "a key 'METHOD /path' (exact path, or ending in '/*'), or '*' for the default"

/** Lower-cases and drops one trailing slash (except for the root). Never throws. */
export function normalizePath(path: string): string {
  let p = path
  const q = p.indexOf('?')
  if (q !== -1) p = p.slice(0, q)
  if (p.length > 1 && p.charCodeAt(p.length - 1) === 47 /* / */) p = p.slice(0, -1)
  return p.toLowerCase()
}

/** Parses and validates every policy; throws CortexConfigError naming the policy and the field. */
export function parsePolicies(policies: unknown): PolicyDescription[] {
  if (typeof policies !== 'object' || policies === null || Array.isArray(policies)) {
    throw new CortexConfigError(
      'policies',
      policies,
      'an object of policies keyed by "METHOD /path"',
      'createRateLimiter',
    )
  }
  const entries = Object.entries(policies as Record<string, unknown>)
  if (entries.length === 0) {
    throw new CortexConfigError('policies', policies, 'at least one policy', 'createRateLimiter')
  }
  const seen = new Map<string, string>()
  const parsed: PolicyDescription[] = []
  for (const [name, config] of entries) {
    const where = `policy ${JSON.stringify(name)}`
    const { method, path, kind } = parseKey(name)
    const identity = `${method} ${kind === 'wildcard' ? `${path}/*` : path}`
    const clash = seen.get(identity)
    if (clash !== undefined) {
      throw new CortexConfigError(
        `policies[${JSON.stringify(name)}]`,
        name,
        `a key that matches different requests than policy ${JSON.stringify(clash)} (paths compare case-insensitively, ignoring a trailing slash)`,
        'createRateLimiter',
      )
    }
    seen.set(identity, name)
    if (config === 'unlimited') {
      parsed.push({
        name,
        method,
        path,
        kind,
        unlimited: true,
        limit: 0,
        windowMs: 0,
        burst: 0,
        maxDelayMs: 0,
      })
      continue
    }
    if (Array.isArray(config)) {
      parsed.push(parseLimits(name, method, path, kind, config, where))
      continue
    }
    if (typeof config !== 'object' || config === null) {
      throw new CortexConfigError(
        'policy',
        config,
        "'unlimited', an object { limit, window, burst? } or a list of limits [{ name, limit, window, unit? }]",
        where,
      )
    }
    checkKnownKeys(config, POLICY_OPTIONS, where)
    const c = config as Record<string, unknown>
    const limit = checkNumber(c.limit, 'limit', { min: 0, exclusiveMin: true, integer: true, where })
    const windowMs = parseDuration(c.window, 'window', where)
    const burst =
      c.burst === undefined
        ? limit
        : checkNumber(c.burst, 'burst', { min: 0, exclusiveMin: true, integer: true, where })
    const maxDelayMs =
      c.maxDelayMs === undefined || c.maxDelayMs === 0 ? 0 : parseDuration(c.maxDelayMs, 'maxDelayMs', where)
    parsed.push({ name, method, path, kind, unlimited: false, limit, windowMs, burst, maxDelayMs })
  }
  return parsed
}

/** A list policy: every limit validated, names unique. */
function parseLimits(
  name: string,
  method: string,
  path: string,
  kind: PolicyDescription['kind'],
  config: readonly unknown[],
  where: string,
): PolicyDescription {
  if (config.length === 0 || config.length > MAX_LIMITS) {
    throw new CortexConfigError('policy', config, `a list of 1 to ${MAX_LIMITS} limits`, where)
  }
  const limits: LimitDescription[] = []
  config.forEach((item, i) => {
    const at = `${where} limit ${i}`
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      throw new CortexConfigError('limit', item, 'an object { name, limit, window, burst?, unit? }', at)
    }
    checkKnownKeys(item, LIMIT_OPTIONS, at)
    const c = item as Record<string, unknown>
    if (typeof c.name !== 'string' || !NAME_SHAPE.test(c.name)) {
      throw new CortexConfigError('name', c.name, NAME_TEXT, at)
    }
    const limitName = c.name
    if (limits.some((l) => l.name === limitName)) {
      throw new CortexConfigError('name', limitName, 'a name not used by another limit of this policy', at)
    }
    const unit = c.unit === undefined ? REQUESTS : c.unit
    if (typeof unit !== 'string' || !NAME_SHAPE.test(unit))
      throw new CortexConfigError('unit', unit, NAME_TEXT, at)
    const named = `${where} limit ${JSON.stringify(limitName)}`
    const limit = checkNumber(c.limit, 'limit', { min: 0, exclusiveMin: true, integer: true, where: named })
    const windowMs = parseDuration(c.window, 'window', named)
    const burst =
      c.burst === undefined
        ? limit
        : checkNumber(c.burst, 'burst', { min: 0, exclusiveMin: true, integer: true, where: named })
    limits.push({ name: limitName, unit, limit, windowMs, burst })
  })
  const first = limits[0] as LimitDescription
  return {
    name,
    method,
    path,
    kind,
    unlimited: false,
    limit: first.limit,
    windowMs: first.windowMs,
    burst: first.burst,
    maxDelayMs: 0,
    limits,
  }
}

function parseKey(name: string): Pick<PolicyDescription, 'method' | 'path' | 'kind'> {
  const trimmed = name.trim()
  if (trimmed === '*') return { method: '*', path: '*', kind: 'default' }
  const match = /^([A-Za-z]+|\*)\s+(\/\S*)$/.exec(trimmed)
  if (!match)
    throw new CortexConfigError(`policies[${JSON.stringify(name)}]`, name, KEY_SHAPE, 'createRateLimiter')
  const method = (match[1] as string).toUpperCase()
  let path = match[2] as string
  let kind: 'exact' | 'wildcard' = 'exact'
  if (path.endsWith('/*')) {
    kind = 'wildcard'
    path = path.slice(0, -2)
  }
  if (path.includes('*')) {
    throw new CortexConfigError(
      `policies[${JSON.stringify(name)}]`,
      name,
      `${KEY_SHAPE}; '*' is only allowed as a final '/*'`,
      'createRateLimiter',
    )
  }
  // A route template never matches: policies compare the request's path, and
  // no request path is literally `/agents/:id`.
  const template = path.split('/').find((segment) => segment.startsWith(':'))
  if (template !== undefined) {
    const prefix = path.slice(0, path.indexOf(`/${template}`))
    throw new CortexConfigError(
      `policies[${JSON.stringify(name)}]`,
      name,
      `${KEY_SHAPE}; a route template segment such as '${template}' never matches, since policies match request paths: use '${match[1]} ${prefix}/*' for everything under ${prefix || '/'}`,
      'createRateLimiter',
    )
  }
  path = kind === 'wildcard' ? normalizePath(path || '/').replace(/\/$/, '') : normalizePath(path)
  return { method, path, kind }
}

/** Finds the policy for a request by the rule in this module's header. */
export interface PolicyMatcher<P> {
  match(method: string, path: string): P | undefined
  /**
   * The policy of a request the router matched to no route (a 404): only
   * the `*` default applies, never a route's policy.
   */
  matchUnrouted(): P | undefined
}

/**
 * Builds a matcher over validated policies; `value` maps each description to
 * what `match` returns.
 */
/** Request lines a matcher remembers (see `match`), and the longest path it remembers. */
const MATCH_CACHE_SIZE = 4096
const MATCH_CACHE_PATH_LENGTH = 256

export function createPolicyMatcher<P>(
  policies: readonly PolicyDescription[],
  value: (p: PolicyDescription) => P,
): PolicyMatcher<P> {
  const exact = new Map<string, P>()
  const wildcards: { method: string; prefix: string; value: P }[] = []
  let fallback: P | undefined
  for (const p of policies) {
    if (p.kind === 'default') fallback = value(p)
    else if (p.kind === 'exact') exact.set(`${p.method} ${p.path}`, value(p))
    else wildcards.push({ method: p.method, prefix: p.path, value: value(p) })
  }
  // Longest prefix first; at equal length, a named method before `*`.
  wildcards.sort(
    (a, b) => b.prefix.length - a.prefix.length || (a.method === '*' ? 1 : 0) - (b.method === '*' ? 1 : 0),
  )

  /**
   * Answers by (method, raw path), so a repeated request line costs two Map
   * lookups instead of normalising and concatenating strings. Bounded: raw
   * paths are client-chosen (a 404 flood), so once full it stops adding.
   */
  const cache = new Map<string, Map<string, P | undefined>>()
  let cached = 0
  function match(rawMethod: string, rawPath: string): P | undefined {
    if (typeof rawMethod !== 'string' || typeof rawPath !== 'string') return fallback
    const byPath = cache.get(rawMethod)
    if (byPath !== undefined) {
      const known = byPath.get(rawPath)
      if (known !== undefined || byPath.has(rawPath)) return known
    }
    const answer = resolve(rawMethod, rawPath)
    if (cached < MATCH_CACHE_SIZE && rawPath.length <= MATCH_CACHE_PATH_LENGTH) {
      cached++
      if (byPath === undefined) cache.set(rawMethod, new Map([[rawPath, answer]]))
      else byPath.set(rawPath, answer)
    }
    return answer
  }

  function resolve(rawMethod: string, rawPath: string): P | undefined {
    const method = rawMethod.toUpperCase()
    const path = normalizePath(rawPath)
    const isHead = method === 'HEAD'
    if (exact.size > 0) {
      const hit =
        exact.get(`${method} ${path}`) ??
        exact.get(`* ${path}`) ??
        (isHead ? exact.get(`GET ${path}`) : undefined)
      if (hit !== undefined) return hit
    }
    for (const w of wildcards) {
      if (w.method !== method && w.method !== '*' && !(isHead && w.method === 'GET')) continue
      if (
        w.prefix === '' ||
        path === w.prefix ||
        (path.startsWith(w.prefix) && path.charCodeAt(w.prefix.length) === 47) /* / */
      ) {
        return w.value
      }
    }
    return fallback
  }
  return { match, matchUnrouted: () => fallback }
}
