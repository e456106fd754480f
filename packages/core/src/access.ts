/**
 * Who may read an internal endpoint (`/metrics`, `/metrics/energy`): by
 * default only loopback clients; or private networks too, by choice; or a
 * caller-supplied address predicate; or a bearer token. Framework-free:
 * adapters pass the client address, the request headers and their
 * framework's trust-proxy setting, and translate the decision.
 */
import { CortexConfigError } from './errors.js'

/** Decides from the client address (as the framework resolved it) whether a request may read. */
export type AddressPredicate = (clientAddress: string | undefined) => boolean

/**
 * Access rule of an internal endpoint:
 * - `undefined` or `'internal'`: loopback only (127.0.0.0/8, ::1);
 * - `'private'`: loopback, private and link-local networks (10/8,
 *   172.16/12, 192.168/16, 169.254/16, fc00::/7, fe80::/10). Only safe when
 *   no reverse proxy on a private address forwards internet traffic to the
 *   server, or when the framework trusts that proxy so the client address
 *   is the real client's (see {@link isInternalAddress});
 * - `'any'`: everyone (put it behind your own protection);
 * - a function: your own address predicate;
 * - `{ bearerToken }`: requests must send `Authorization: Bearer <token>`, from any address.
 *
 * With `'internal'` and `'private'`, a request that carries a forwarding
 * header (`Forwarded`, `X-Forwarded-For`, `X-Real-IP`) while the framework
 * does not trust proxies is refused: its address is the proxy's, and the
 * proxy may be forwarding anyone.
 */
export type AccessRule = 'internal' | 'private' | 'any' | AddressPredicate | { bearerToken: string }

/** Request headers as frameworks hold them (lower-case names). */
export type AccessHeaders = Readonly<Record<string, string | readonly string[] | undefined>>

/** What the rule needs to know about one request. */
export interface AccessRequest {
  clientAddress: string | undefined
  /** The raw `Authorization` request header, if any. */
  authorization?: string | undefined
  /** The request headers, to notice forwarding headers (lower-case names). */
  headers?: AccessHeaders | undefined
  /** Whether the framework resolves the client address through trusted proxies. */
  trustProxy?: boolean | undefined
}

/** The decision, with the response to send when refused. */
export type AccessDecision =
  | { readonly allowed: true }
  | {
      readonly allowed: false
      readonly status: 401 | 403
      readonly headers: Readonly<Record<string, string>>
      readonly body: { readonly error: string; readonly message: string }
      /** Set when the refusal is for a forwarding header the framework does not trust. */
      readonly forwardedBy?: string
    }

const JSON_TYPE = Object.freeze({ 'content-type': 'application/json; charset=utf-8' })
const ALLOWED: AccessDecision = Object.freeze({ allowed: true })
const forbidden = (message: string): AccessDecision =>
  Object.freeze({
    allowed: false,
    status: 403,
    headers: JSON_TYPE,
    body: Object.freeze({ error: 'forbidden', message }),
  })
const FORBIDDEN_LOOPBACK = forbidden('This endpoint is internal: only loopback addresses may read it.')
const FORBIDDEN_PRIVATE = forbidden(
  'This endpoint is internal: only loopback and private addresses may read it.',
)
const FORBIDDEN_FORWARDED = new Map(
  ['forwarded', 'x-forwarded-for', 'x-real-ip'].map((header) => [
    header,
    Object.freeze({
      ...forbidden(
        `This endpoint is internal, and the request came through a proxy (it carries ${header}) that the server does not trust, so the real client is unknown.`,
      ),
      forwardedBy: header,
    }) as AccessDecision,
  ]),
)
const UNAUTHORIZED: AccessDecision = Object.freeze({
  allowed: false,
  status: 401,
  headers: Object.freeze({
    'content-type': 'application/json; charset=utf-8',
    'www-authenticate': 'Bearer',
  }),
  body: Object.freeze({ error: 'unauthorized', message: 'A valid bearer token is required.' }),
})

/** The headers a reverse proxy adds to name the client it forwards for. */
export const FORWARDING_HEADERS = ['forwarded', 'x-forwarded-for', 'x-real-ip'] as const

/**
 * The first forwarding header a request carries, or undefined.
 *
 * @example
 * forwardingHeader({ 'x-forwarded-for': '203.0.113.9' }) // → 'x-forwarded-for'
 */
export function forwardingHeader(headers: AccessHeaders | undefined): string | undefined {
  if (headers === undefined || headers === null) return undefined
  for (const header of FORWARDING_HEADERS) if (headers[header] !== undefined) return header
  return undefined
}

/**
 * Validates an access rule at construction (throws CortexConfigError naming `option`).
 *
 * @example
 * const allow = checkAccessRule(options.allow, 'allow') // undefined → 'internal'
 */
export function checkAccessRule(value: unknown, option = 'allow', where?: string): AccessRule {
  if (value === undefined || value === 'internal') return 'internal'
  if (value === 'private') return 'private'
  if (value === 'any') return 'any'
  if (typeof value === 'function') return value as AddressPredicate
  if (typeof value === 'object' && value !== null) {
    const token = (value as { bearerToken?: unknown }).bearerToken
    const keys = Object.keys(value)
    if (typeof token === 'string' && token.length > 0 && keys.length === 1) return { bearerToken: token }
  }
  throw new CortexConfigError(
    option,
    value,
    `"internal" (loopback only), "private", "any", a function (clientAddress) => boolean, or { bearerToken: "<non-empty string>" }`,
    where,
  )
}

/**
 * Applies an access rule to one request. Never throws: a predicate that
 * throws refuses the request.
 *
 * @example
 * const decision = checkAccess(undefined, { clientAddress: '127.0.0.1', headers: req.headers, trustProxy: false })
 * if (!decision.allowed) res.status(decision.status).set(decision.headers).json(decision.body)
 */
export function checkAccess(allow: AccessRule | undefined, request: AccessRequest): AccessDecision {
  if (allow === undefined || allow === 'internal' || allow === 'private') {
    if (request.trustProxy !== true) {
      const header = forwardingHeader(request.headers)
      if (header !== undefined) return FORBIDDEN_FORWARDED.get(header) as AccessDecision
    }
    if (allow === 'private') return isInternalAddress(request.clientAddress) ? ALLOWED : FORBIDDEN_PRIVATE
    return isLoopbackAddress(request.clientAddress) ? ALLOWED : FORBIDDEN_LOOPBACK
  }
  if (allow === 'any') return ALLOWED
  if (typeof allow === 'function') {
    try {
      return allow(request.clientAddress) === true ? ALLOWED : FORBIDDEN_PRIVATE
    } catch {
      return FORBIDDEN_PRIVATE
    }
  }
  const header = request.authorization
  if (typeof header !== 'string') return UNAUTHORIZED
  const match = /^\s*bearer\s+(\S+)\s*$/i.exec(header)
  if (match === null) return UNAUTHORIZED
  return constantTimeEqual(match[1] as string, allow.bearerToken) ? ALLOWED : UNAUTHORIZED
}

/**
 * An access rule validated once, applied per request, that warns once (the
 * first time a request is refused for an untrusted forwarding header) so an
 * operator learns that a proxy sits in front and how to trust it.
 *
 * @example
 * const guard = accessGuard(options.allow, 'metricsHandler')
 * const decision = guard({ clientAddress: req.ip, headers: req.headers, trustProxy: false })
 */
export function accessGuard(
  allow: unknown,
  where: string,
  warn: (message: string) => void = defaultWarn,
): (request: AccessRequest) => AccessDecision {
  const rule = checkAccessRule(allow, 'allow', where)
  let warned = false
  return (request) => {
    const decision = checkAccess(rule, request)
    if (!warned && !decision.allowed && decision.forwardedBy !== undefined) {
      warned = true
      try {
        warn(
          `ERR_CORTEX_UNTRUSTED_PROXY: ${where} refused a request that carried "${decision.forwardedBy}" from ${request.clientAddress ?? 'an unknown address'}: the framework does not trust proxies, so the proxy's own (internal) address would have let anyone it forwards in. Trust exactly your proxy hop in the framework (e.g. Express app.set('trust proxy', 'loopback'), Fastify { trustProxy: '127.0.0.1' }, Koa app.proxy = true with proxyIpHeader), or use allow: { bearerToken }. Shown once.`,
        )
      } catch {
        // A logger that throws must not fail the request.
      }
    }
    return decision
  }
}

function defaultWarn(message: string): void {
  if (typeof process !== 'undefined' && typeof process.emitWarning === 'function') {
    process.emitWarning(message, { code: 'ERR_CORTEX_UNTRUSTED_PROXY' })
  }
}

/** Compares two strings in time that depends only on their lengths. */
function constantTimeEqual(a: string, b: string): boolean {
  let diff = a.length ^ b.length
  const n = Math.max(a.length, b.length)
  for (let i = 0; i < n; i++) diff |= (a.charCodeAt(i) | 0) ^ (b.charCodeAt(i) | 0)
  return diff === 0
}

/**
 * True for loopback (127.0.0.0/8, ::1), private (10/8, 172.16/12,
 * 192.168/16, fc00::/7) and, unless `linkLocal: false`, link-local
 * (169.254/16, fe80::/10) addresses, in IPv4, IPv6 or IPv4-mapped IPv6
 * (`::ffff:10.0.0.1`) form; brackets and zone ids (`fe80::1%eth0`) are
 * accepted. Anything else, including `undefined` or a malformed string, is
 * not internal.
 *
 * @example
 * isInternalAddress('::ffff:127.0.0.1') // → true
 * isInternalAddress('203.0.113.9')      // → false
 */
export function isInternalAddress(
  address: string | undefined,
  options: { linkLocal?: boolean } = {},
): boolean {
  if (typeof address !== 'string' || address.length === 0) return false
  const linkLocal = options.linkLocal !== false
  let text = address
  if (text.charCodeAt(0) === 91 /* [ */ && text.endsWith(']')) text = text.slice(1, -1)
  const zone = text.indexOf('%')
  if (zone !== -1) text = text.slice(0, zone)
  if (text.indexOf(':') === -1) {
    const v4 = parseIPv4(text)
    return v4 !== undefined && isInternalIPv4(v4, linkLocal)
  }
  const v6 = parseIPv6(text)
  if (v6 === undefined) return false
  // IPv4-mapped ::ffff:a.b.c.d
  if (v6[0] === 0 && v6[1] === 0 && v6[2] === 0 && v6[3] === 0 && v6[4] === 0 && v6[5] === 0xffff) {
    return isInternalIPv4(((v6[6] as number) << 16) + (v6[7] as number), linkLocal)
  }
  // ::1
  if (v6[7] === 1 && v6.slice(0, 7).every((g) => g === 0)) return true
  const first = v6[0] as number
  if ((first & 0xfe00) === 0xfc00) return true // fc00::/7 unique local
  if (linkLocal && (first & 0xffc0) === 0xfe80) return true // fe80::/10
  return false
}

/**
 * True for loopback addresses only: 127.0.0.0/8, ::1 and their IPv4-mapped
 * form (`::ffff:127.0.0.1`), with brackets or a zone id accepted.
 *
 * @example
 * isLoopbackAddress('::1')      // → true
 * isLoopbackAddress('10.0.0.7') // → false
 */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (typeof address !== 'string' || address.length === 0) return false
  let text = address
  if (text.charCodeAt(0) === 91 /* [ */ && text.endsWith(']')) text = text.slice(1, -1)
  const zone = text.indexOf('%')
  if (zone !== -1) text = text.slice(0, zone)
  if (text.indexOf(':') === -1) {
    const v4 = parseIPv4(text)
    return v4 !== undefined && v4 >>> 24 === 127
  }
  const v6 = parseIPv6(text)
  if (v6 === undefined) return false
  if (v6[0] === 0 && v6[1] === 0 && v6[2] === 0 && v6[3] === 0 && v6[4] === 0 && v6[5] === 0xffff) {
    return (v6[6] as number) >>> 8 === 127
  }
  return v6[7] === 1 && v6.slice(0, 7).every((g) => g === 0)
}

function isInternalIPv4(ip: number, linkLocal: boolean): boolean {
  const a = ip >>> 24
  const b = (ip >>> 16) & 0xff
  if (a === 127 || a === 10) return true
  if (a === 172 && b >= 16 && b <= 31) return true
  if (a === 192 && b === 168) return true
  if (linkLocal && a === 169 && b === 254) return true
  return false
}

/** Dotted quad → unsigned 32-bit number, or undefined when malformed. */
function parseIPv4(text: string): number | undefined {
  const parts = text.split('.')
  if (parts.length !== 4) return undefined
  let value = 0
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return undefined
    const n = Number(part)
    if (n > 255) return undefined
    value = value * 256 + n
  }
  return value
}

/** IPv6 text → eight 16-bit groups, or undefined when malformed. */
function parseIPv6(text: string): number[] | undefined {
  let body = text
  let tail: number[] = []
  const lastColon = body.lastIndexOf(':')
  if (body.indexOf('.', lastColon) !== -1) {
    const v4 = parseIPv4(body.slice(lastColon + 1))
    if (v4 === undefined) return undefined
    tail = [v4 >>> 16, v4 & 0xffff]
    body = `${body.slice(0, lastColon + 1)}`
    // "::ffff:" → keep the trailing "::" intact; "x:y:" → drop the lone trailing colon
    if (body.endsWith(':') && !body.endsWith('::')) body = body.slice(0, -1)
  }
  const halves = body.split('::')
  if (halves.length > 2) return undefined
  const parse = (s: string): number[] | undefined => {
    if (s === '') return []
    const out: number[] = []
    for (const g of s.split(':')) {
      if (!/^[0-9a-f]{1,4}$/i.test(g)) return undefined
      out.push(Number.parseInt(g, 16))
    }
    return out
  }
  const head = parse(halves[0] as string)
  if (head === undefined) return undefined
  const want = 8 - tail.length
  if (halves.length === 1) {
    if (head.length !== want) return undefined
    return [...head, ...tail]
  }
  const rest = parse(halves[1] as string)
  if (rest === undefined) return undefined
  const zeros = want - head.length - rest.length
  if (zeros < 1) return undefined
  return [...head, ...new Array<number>(zeros).fill(0), ...rest, ...tail]
}
