/**
 * Client keys: who a limit applies to. By address, an IPv4-mapped IPv6
 * address (`::ffff:203.0.113.9`) is the IPv4 client it maps, and an IPv6
 * address is masked to its /64 by default, because one subscriber usually
 * holds a whole /64 and rotating through it would otherwise bypass any limit.
 * By API key, the key from a request header (long values are hashed so keys
 * stay bounded). Neither function throws: odd input becomes a bounded key.
 */
import { createHash } from 'node:crypto'

export interface ClientAddressKeyOptions {
  /** Prefix length IPv6 addresses are masked to, 1–128. Default 64. */
  ipv6Subnet?: number
  /** Prefix length IPv4 addresses are masked to, 1–32. Default 32 (the address itself). */
  ipv4Subnet?: number
}

const MAX_KEY_LENGTH = 128

function bounded(value: string): string {
  return value.length <= MAX_KEY_LENGTH ? value : `sha256:${createHash('sha256').update(value).digest('hex')}`
}

function parseIPv4(text: string): number[] | undefined {
  const parts = text.split('.')
  if (parts.length !== 4) return undefined
  const out: number[] = []
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined
    const n = Number(p)
    if (n > 255) return undefined
    out.push(n)
  }
  return out
}

/** Eight 16-bit groups, or undefined when `text` is not an IPv6 address. */
function parseIPv6(text: string): number[] | undefined {
  let s = text
  let tail: number[] = []
  const lastColon = s.lastIndexOf(':')
  if (s.includes('.', lastColon)) {
    const v4 = parseIPv4(s.slice(lastColon + 1))
    if (!v4) return undefined
    tail = [((v4[0] as number) << 8) | (v4[1] as number), ((v4[2] as number) << 8) | (v4[3] as number)]
    // Keep a `::` that precedes the IPv4 part; drop a single separating colon.
    s = s.slice(0, lastColon + 1)
    if (!s.endsWith('::')) s = s.slice(0, -1)
  }
  const halves = s.split('::')
  if (halves.length > 2) return undefined
  const groups = (part: string | undefined): number[] | undefined => {
    if (!part) return []
    const out: number[] = []
    for (const g of part.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined
      out.push(Number.parseInt(g, 16))
    }
    return out
  }
  const left = groups(halves[0])
  const right = groups(halves[1])
  if (!left || !right) return undefined
  const given = left.length + right.length + tail.length
  if (halves.length === 1) {
    if (given !== 8) return undefined
    return [...left, ...right, ...tail]
  }
  if (given > 7) return undefined
  return [...left, ...new Array<number>(8 - given).fill(0), ...right, ...tail]
}

/** RFC 5952 text: lower case, longest run of zero groups (≥ 2) as `::`. */
function formatIPv6(groups: number[]): string {
  let bestStart = -1
  let bestLen = 1
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++
      continue
    }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen) {
      bestStart = i
      bestLen = j - i
    }
    i = j
  }
  const hex = groups.map((g) => g.toString(16))
  if (bestStart === -1) return hex.join(':')
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`
}

function maskIPv4(octets: number[], bits: number): string {
  const masked = octets.map((o, i) => {
    const keep = Math.max(0, Math.min(8, bits - i * 8))
    return keep === 8 ? o : o & ((0xff << (8 - keep)) & 0xff)
  })
  return bits >= 32 ? masked.join('.') : `${masked.join('.')}/${bits}`
}

/**
 * The rate-limit key for a client address: IPv4 as is (or masked),
 * IPv4-mapped IPv6 as the IPv4 address, IPv6 masked to a /64 (configurable).
 *
 * @example
 * clientAddressKey('::ffff:203.0.113.9')                 // → '203.0.113.9'
 * clientAddressKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd')    // → '2001:db8:1:2::/64'
 * clientAddressKey('2001:db8::1', { ipv6Subnet: 128 })    // → '2001:db8::1'
 */
export function clientAddressKey(address: string | undefined, options: ClientAddressKeyOptions = {}): string {
  if (typeof address !== 'string' || address.length === 0) return 'unknown'
  const v6bits = clampBits(options.ipv6Subnet, 128, 64)
  const v4bits = clampBits(options.ipv4Subnet, 32, 32)
  if (!address.includes(':')) {
    if (v4bits === 32 && address.length <= 15) return address
    const v4 = parseIPv4(address)
    return v4 ? maskIPv4(v4, v4bits) : bounded(address)
  }
  let text = address
  if (text.startsWith('[')) text = text.slice(1, text.indexOf(']') === -1 ? undefined : text.indexOf(']'))
  const zone = text.indexOf('%')
  if (zone !== -1) text = text.slice(0, zone)
  const groups = parseIPv6(text)
  if (!groups) return bounded(address)
  // ::ffff:a.b.c.d — an IPv4 client seen through a dual-stack socket.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const g6 = groups[6] as number
    const g7 = groups[7] as number
    return maskIPv4([g6 >> 8, g6 & 0xff, g7 >> 8, g7 & 0xff], v4bits)
  }
  if (v6bits >= 128) return formatIPv6(groups)
  const masked = groups.map((g, i) => {
    const keep = Math.max(0, Math.min(16, v6bits - i * 16))
    return keep === 16 ? g : g & ((0xffff << (16 - keep)) & 0xffff)
  })
  return `${formatIPv6(masked)}/${v6bits}`
}

function clampBits(value: number | undefined, max: number, fallback: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) return fallback
  return Math.min(max, Math.max(1, value))
}

/** Which API keys a server recognises: the check a key must pass to be a client key. */
export type ApiKeyCheck = (key: string) => boolean

/**
 * The rate-limit key for an API key sent in a request header, or undefined
 * when the header is absent or empty, or when `recognised` is given and
 * refuses the key (or throws). Values longer than 128 characters are
 * replaced by their SHA-256 so a client cannot inflate memory with its key.
 *
 * Without `recognised`, any value is a client key: a client that sends a new
 * value per request gets a new bucket per request, so an unchecked header
 * defeats every limit. Pass the check your server already makes (a key list,
 * a lookup) so unknown keys fall back to the client address.
 *
 * @example
 * apiKeyFromHeaders(req.headers, 'x-api-key')                            // → 'apikey:abc123' or undefined
 * apiKeyFromHeaders(req.headers, 'x-api-key', (k) => knownKeys.has(k))   // → undefined for unknown keys
 */
export function apiKeyFromHeaders(
  headers: Record<string, string | string[] | undefined> | undefined,
  header: string,
  recognised?: ApiKeyCheck,
): string | undefined {
  const raw = headers?.[header.toLowerCase()]
  const value = (Array.isArray(raw) ? raw[0] : raw)?.trim()
  if (!value) return undefined
  if (recognised !== undefined) {
    try {
      if (recognised(value) !== true) return undefined
    } catch {
      return undefined
    }
  }
  return bounded(`apikey:${value}`)
}
