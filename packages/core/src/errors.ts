/**
 * Errors shared by every @cortex/* package. Match them by `code`, not only by
 * `instanceof`: two copies of a package may be installed side by side.
 */

/** Stable machine-readable codes. New codes may be added; existing ones never change meaning. */
export type CortexErrorCode =
  | 'ERR_CORTEX_CONFIG'
  | 'ERR_CORTEX_STORE'
  | 'ERR_CORTEX_STORE_TIMEOUT'
  | 'ERR_CORTEX_QUEUE_FULL'
  | 'ERR_CORTEX_THROTTLE_TIMEOUT'
  | 'ERR_CORTEX_SOURCE_UNAVAILABLE'
  | 'ERR_CORTEX_PERMISSION'
  | `ERR_CORTEX_${string}`

/**
 * Base class of every error thrown by @cortex/*.
 *
 * @example
 * try { limiter.wait(key, route) } catch (err) {
 *   if (isCortexError(err, 'ERR_CORTEX_THROTTLE_TIMEOUT')) reply.status(429)
 * }
 */
export class CortexError extends Error {
  readonly code: CortexErrorCode

  constructor(code: CortexErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'CortexError'
    this.code = code
  }
}

/**
 * An option had a value that is not allowed. Thrown when an object is
 * created, never on the hot path. The message names the option, the value
 * received and what is allowed.
 *
 * @example
 * throw new CortexConfigError('limit', -1, 'a positive finite number', 'policy "POST /agents/plan"')
 * // → Invalid `limit` in policy "POST /agents/plan": expected a positive finite number, got -1
 */
export class CortexConfigError extends CortexError {
  /** Dotted path of the offending option, e.g. `policies["POST /x"].limit`. */
  readonly option: string
  readonly received: unknown
  readonly expected: string

  constructor(option: string, received: unknown, expected: string, where?: string) {
    super(
      'ERR_CORTEX_CONFIG',
      `Invalid \`${option}\`${where ? ` in ${where}` : ''}: expected ${expected}, got ${describeValue(received)}`,
    )
    this.name = 'CortexConfigError'
    this.option = option
    this.received = received
    this.expected = expected
  }
}

/**
 * True when `err` is a CortexError (from any installed copy) and, when given, has `code`.
 *
 * @example
 * if (isCortexError(err, 'ERR_CORTEX_CONFIG')) console.error(err.message)
 */
export function isCortexError(err: unknown, code?: CortexErrorCode): err is CortexError {
  if (typeof err !== 'object' || err === null) return false
  const c = (err as { code?: unknown }).code
  if (typeof c !== 'string' || !c.startsWith('ERR_CORTEX_')) return false
  return code === undefined || c === code
}

/** Renders a received value for an error message: strings quoted, objects as JSON, the rest as-is. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value)
  if (value === undefined) return 'undefined'
  if (value === null) return 'null'
  if (typeof value === 'function') return 'a function'
  try {
    const json = JSON.stringify(value)
    return json.length > 80 ? `${json.slice(0, 77)}...` : json
  } catch {
    return Object.prototype.toString.call(value)
  }
}
