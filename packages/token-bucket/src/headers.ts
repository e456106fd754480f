/**
 * Response headers for rate-limit decisions, behind named formats so the
 * serializer can follow the IETF draft as it evolves:
 *
 * - `ietf` (default): draft-ietf-httpapi-ratelimit-headers (-10/-11)
 *   Structured Fields lists, one named item per policy:
 *   `RateLimit-Policy: "POST /embed/multimodal";q=60;w=60` and
 *   `RateLimit: "POST /embed/multimodal";r=9;t=1`. `t` is draft-10's: the
 *   seconds until *additional* quota is made available — for a token bucket,
 *   until its next whole token (0 when it is full), so on a refusal of cost 1
 *   it equals `Retry-After` (-09 said "until the quota resets").
 * - `draft-7`: `RateLimit: limit=60, remaining=9, reset=6` and
 *   `RateLimit-Policy: 60;w=60` (the older combined field).
 * - `legacy`: `X-RateLimit-Limit`, `X-RateLimit-Remaining`,
 *   `X-RateLimit-Reset` (seconds from now, not an epoch time).
 *
 * A list policy's decision (several limits) sends one item per limit, named
 * `"<policy>:<limit>"`, with `qu` for a unit other than requests:
 * `RateLimit-Policy: "POST /agents/plan:requests";q=10;w=60,
 * "POST /agents/plan:tokens";q=20000;w=60;qu="tokens"`.
 *
 * A denied decision adds `Retry-After` (integer seconds, RFC 9110). Several
 * decisions for one request combine: `ietf` lists every policy; `draft-7` and
 * `legacy`, which can carry one state, report the most restrictive one.
 */
import { CortexConfigError } from '@cortex/core'
import type { LimitDecision, RateLimitDecision } from './decision.js'
import { REQUESTS } from './policies.js'

export const HEADER_FORMATS = ['ietf', 'draft-7', 'legacy'] as const
export type HeaderFormat = (typeof HEADER_FORMATS)[number]

export interface RateLimitHeadersOptions {
  /** Default `'ietf'`. `false` emits only `Retry-After`. */
  format?: HeaderFormat | false
}

/** Validates a header format option; throws CortexConfigError otherwise. */
export function checkHeaderFormat(value: unknown, option: string, where?: string): HeaderFormat | false {
  if (value === undefined || value === 'ietf') return 'ietf'
  if (value === false || (HEADER_FORMATS as readonly unknown[]).includes(value))
    return value as HeaderFormat | false
  throw new CortexConfigError(
    option,
    value,
    `one of ${HEADER_FORMATS.map((f) => `"${f}"`).join(', ')} or false`,
    where,
  )
}

/**
 * Policy names are few and fixed, and this runs on every response: keep their
 * serialised form (bounded, in case callers pass arbitrary names).
 */
const sfCache = new Map<string, string>()

function sfString(value: string): string {
  let out = sfCache.get(value)
  if (out === undefined) {
    out = serialiseSfString(value)
    if (sfCache.size < 1024) sfCache.set(value, out)
  }
  return out
}

/** A Structured Fields sf-string: printable ASCII only, `"` and `\` escaped. */
function serialiseSfString(value: string): string {
  let out = '"'
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i)
    if (c === 0x22 || c === 0x5c) out += `\\${value[i]}`
    else if (c < 0x20 || c > 0x7e) out += '?'
    else out += value[i]
  }
  return `${out}"`
}

/** A policy's serialised name and its whole `RateLimit-Policy` item, as last sent. */
interface PolicyItem {
  readonly limit: number
  readonly windowMs: number
  readonly unit: string
  /** The policy name as an sf-string. */
  readonly name: string
  /** `"name";q=limit;w=seconds`. */
  readonly item: string
}

/** The `RateLimit-Policy` item per policy name (bounded like `sfCache`): it changes only with the policy's rate. */
const itemCache = new Map<string, PolicyItem>()

function policyItem(d: RateLimitDecision): PolicyItem {
  return itemFor(d.policy, d.limit, d.windowMs, REQUESTS)
}

/**
 * The item of one limit of a list policy: named `"<policy>:<limit>"`, so a
 * client tells the limits (and the policies) apart, with `qu` for a unit
 * other than requests (draft-10's quota unit parameter).
 */
function limitItem(d: RateLimitDecision, l: LimitDecision): PolicyItem {
  return itemFor(`${d.policy}:${l.name}`, l.limit, l.windowMs, l.unit)
}

function itemFor(itemName: string, limit: number, windowMs: number, unit: string): PolicyItem {
  let entry = itemCache.get(itemName)
  if (entry === undefined || entry.limit !== limit || entry.windowMs !== windowMs || entry.unit !== unit) {
    const name = sfString(itemName)
    const qu = unit === REQUESTS ? '' : `;qu=${sfString(unit)}`
    entry = { limit, windowMs, unit, name, item: `${name};q=${limit};w=${windowSeconds(windowMs)}${qu}` }
    if (itemCache.size < 1024 || itemCache.has(itemName)) itemCache.set(itemName, entry)
  }
  return entry
}

/** `RateLimit-Policy` items of a decision: one, or one per limit of a list policy. */
function policyItems(d: RateLimitDecision): string {
  const limits = d.limits
  if (limits === undefined) return policyItem(d).item
  return limits.map((l) => limitItem(d, l).item).join(', ')
}

/** `RateLimit` items of a decision: one, or one per limit of a list policy. */
function stateItems(d: RateLimitDecision): string {
  const limits = d.limits
  if (limits === undefined) return `${policyItem(d).name};r=${d.remaining};t=${additionalQuotaSeconds(d)}`
  return limits
    .map((l) => `${limitItem(d, l).name};r=${l.remaining};t=${additionalQuotaSeconds(l)}`)
    .join(', ')
}

/** Whole seconds for a window (Structured Fields integers; sub-second windows round up to 1). */
export function windowSeconds(windowMs: number): number {
  return Math.max(1, Math.ceil(windowMs / 1000))
}

/**
 * Draft-10's `t`: whole seconds (ceiling) until the policy's bucket holds one
 * more whole token than now, or 0 when it is full. From the decision's own
 * figures: `resetMs` is the wait until full, one token refills every
 * `windowMs / limit` ms.
 *
 * @example
 * // 60 per minute, 2.5 tokens short of full: the next whole token in 0.5 s
 * additionalQuotaSeconds({ limit: 60, windowMs: 60_000, resetMs: 2500 }) // → 1
 */
export function additionalQuotaSeconds(d: Pick<RateLimitDecision, 'limit' | 'windowMs' | 'resetMs'>): number {
  if (!(d.resetMs > 0) || !(d.windowMs > 0) || !(d.limit > 0)) return 0
  const msPerToken = d.windowMs / d.limit
  const missing = d.resetMs / msPerToken // tokens short of full, fractional
  // The next whole token: the fractional part of `missing` refills first (a whole token when exact).
  const fraction = missing - Math.floor(missing + 1e-9)
  const waitMs = (fraction > 1e-9 ? fraction : 1) * msPerToken
  return Math.max(1, Math.ceil(waitMs / 1000 - 1e-9))
}

/** Decisions that carry figures worth sending (not unlimited, not a blind store-failure verdict). */
function informative(d: RateLimitDecision): boolean {
  return !d.unlimited && (d.degraded === false || d.degraded === 'fallback')
}

function mostRestrictive(list: readonly RateLimitDecision[]): RateLimitDecision {
  let best = list[0] as RateLimitDecision
  for (const d of list) {
    if (
      d.remaining < best.remaining ||
      (d.remaining === best.remaining && d.resetSeconds > best.resetSeconds)
    )
      best = d
  }
  return best
}

/**
 * The headers for one decision or for every decision made on one request.
 *
 * @example
 * const d = await limiter.consume(clientKey, 'POST /embed/multimodal')
 * rateLimitHeaders(d, { format: 'ietf' })
 * // → { 'RateLimit-Policy': '"POST /embed/multimodal";q=60;w=60',
 * //     'RateLimit': '"POST /embed/multimodal";r=9;t=1' }
 */
export function rateLimitHeaders(
  decisions: RateLimitDecision | readonly RateLimitDecision[],
  options: RateLimitHeadersOptions = {},
): Record<string, string> {
  const format = checkHeaderFormat(options.format, 'format', 'rateLimitHeaders')
  const list: readonly RateLimitDecision[] = Array.isArray(decisions)
    ? decisions
    : [decisions as RateLimitDecision]
  const headers: Record<string, string> = {}
  // The common case, one decision under the default format, without arrays.
  if (list.length === 1 && format === 'ietf' && (list[0] as RateLimitDecision).limits === undefined) {
    const d = list[0] as RateLimitDecision
    if (informative(d)) {
      const p = policyItem(d)
      headers['RateLimit-Policy'] = p.item
      headers.RateLimit = `${p.name};r=${d.remaining};t=${additionalQuotaSeconds(d)}`
    }
    if (!d.allowed && d.retryAfterSeconds >= 0) headers['Retry-After'] = String(d.retryAfterSeconds)
    return headers
  }
  const shown = format === false ? [] : list.filter(informative)
  if (shown.length > 0) {
    if (format === 'ietf') {
      headers['RateLimit-Policy'] = shown.map(policyItems).join(', ')
      headers.RateLimit = shown.map(stateItems).join(', ')
    } else if (format === 'draft-7') {
      const d = mostRestrictive(shown)
      headers['RateLimit-Policy'] = shown.map((p) => `${p.limit};w=${windowSeconds(p.windowMs)}`).join(', ')
      headers.RateLimit = `limit=${d.limit}, remaining=${d.remaining}, reset=${d.resetSeconds}`
    } else {
      const d = mostRestrictive(shown)
      headers['X-RateLimit-Limit'] = String(d.limit)
      headers['X-RateLimit-Remaining'] = String(d.remaining)
      headers['X-RateLimit-Reset'] = String(d.resetSeconds)
    }
  }
  let retryAfter = -1
  for (const d of list) if (!d.allowed && d.retryAfterSeconds > retryAfter) retryAfter = d.retryAfterSeconds
  if (retryAfter >= 0) headers['Retry-After'] = String(retryAfter)
  return headers
}
