/**
 * The port every adapter implements: the few facts about an HTTP request that
 * the @cortex/* packages need, in a framework-free shape. Adapters translate
 * their framework's request into it; packages never see a framework object.
 */

/** What a package may know about one request. */
export interface RequestInfo {
  /** Upper-case HTTP method, e.g. `POST`. */
  method: string
  /** The URL path without query string or fragment, e.g. `/users/42`. */
  path: string
  /**
   * The route template the framework matched, e.g. `/users/:id`, or
   * `undefined` when no route matched (a 404). Never a raw URL: metrics
   * label by it, so it must have bounded cardinality.
   */
  route: string | undefined
  /** The client address as the framework resolved it (honouring its trust-proxy setting). */
  clientAddress: string | undefined
}

/** Label used for requests that matched no route, so a flood of random URLs adds one series. */
export const UNMATCHED_ROUTE = '__unmatched__'

/**
 * The path part of a request target: drops the query string and fragment.
 *
 * @example
 * pathOf('/embed/multimodal?debug=1') // → '/embed/multimodal'
 */
export function pathOf(url: string): string {
  let end = url.length
  const q = url.indexOf('?')
  if (q !== -1) end = q
  const h = url.indexOf('#')
  if (h !== -1 && h < end) end = h
  return end === url.length ? url : url.slice(0, end)
}

/**
 * A function giving the `METHOD /route` name adapters attribute figures to,
 * built once per (method, route) pair instead of concatenated per request
 * (a new string per request also costs its hash in every Map it meets).
 * Remembers at most `max` pairs; beyond that it builds the name each time.
 *
 * @example
 * const nameOf = routeNames()
 * nameOf('POST', '/embed/multimodal') // → 'POST /embed/multimodal', the same string every time
 */
export function routeNames(max = 4096): (method: string, route: string) => string {
  const byRoute = new Map<string, Map<string, string>>()
  let size = 0
  return (method, route) => {
    let byMethod = byRoute.get(route)
    const known = byMethod?.get(method)
    if (known !== undefined) return known
    const name = `${method} ${route}`
    if (size < max) {
      size++
      if (byMethod === undefined) {
        byMethod = new Map()
        byRoute.set(route, byMethod)
      }
      byMethod.set(method, name)
    }
    return name
  }
}
