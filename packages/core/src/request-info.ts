/**
 * The port every adapter implements: the few facts about an HTTP request that
 * the @cortex/* packages need, in a framework-free shape. Adapters translate
 * their framework's request into it; packages never see a framework object.
 */
import { parse as parseLegacyUrl } from 'node:url'

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
 * The path a Node router routes a request target on: the `pathname` that
 * `parseurl` gives (Express's and Koa's routers both route on it), so a
 * limiter matching its policies on this path sees exactly the path the
 * handler is chosen by. In particular:
 *
 * - the query string and fragment are dropped;
 * - an absolute-form target (`POST http://x/embed/multimodal HTTP/1.1`) is
 *   reduced to its path (`/embed/multimodal`);
 * - a target with a `#` or white space goes through Node's legacy URL
 *   parser as `parseurl` does, which turns `\` before the query into `/`
 *   (`/embed\multimodal#x` is routed as `/embed/multimodal`).
 *
 * Nothing is percent-decoded and no dot segment or doubled slash is
 * resolved: Express and @koa/router match the raw path, so `/%65mbed/x`
 * and `//embed/x` reach no handler of `/embed/x` and must not match its
 * policy either. The common target (starting with `/`, no `#`) costs one
 * pass over its characters and allocates at most the sliced path.
 *
 * @example
 * pathOf('/embed/multimodal?debug=1')          // → '/embed/multimodal'
 * pathOf('http://127.0.0.1/embed/multimodal')  // → '/embed/multimodal'
 */
export function pathOf(url: string): string {
  if (url.charCodeAt(0) !== 47 /* / */) return legacyPathname(url)
  let end = -1
  for (let i = 1; i < url.length; i++) {
    switch (url.charCodeAt(i)) {
      case 0x3f /* ? */:
        if (end === -1) end = i
        break
      // parseurl leaves these to Node's legacy parser (which trims and converts backslashes).
      case 0x09:
      case 0x0a:
      case 0x0c:
      case 0x0d:
      case 0x20:
      case 0x23 /* # */:
      case 0xa0:
      case 0xfeff:
        return legacyPathname(url)
    }
  }
  return end === -1 ? url : url.slice(0, end)
}

/**
 * Node's legacy `url.parse(target).pathname`, as `parseurl` falls back to;
 * the raw target when it has no pathname (no router matches it either).
 */
function legacyPathname(url: string): string {
  let pathname: string | null
  try {
    pathname = parseLegacyUrl(url).pathname
  } catch {
    return url
  }
  return pathname ?? url
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
