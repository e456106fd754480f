/**
 * The concrete requests that exercise an SLO definition's endpoints, for
 * load generators (`cortex baseline`, the k6 script): one per route named
 * by an objective or by `requests`, with its configured body and headers
 * and its `:params` filled in.
 */
import { defineSlos, fillParams, type SloConfig, type SloDefinitions } from './define-slos.js'

export interface EndpointRequest {
  /** `'POST /embed/multimodal'`: method and route template. */
  endpoint: string
  method: string
  /** Route template, the tracker's `route` label. */
  route: string
  /** Concrete path to request, params filled, e.g. `/users/1`. */
  path: string
  headers: Readonly<Record<string, string>>
  /** JSON-serialisable body, a string, or undefined. */
  body: unknown
}

/**
 * One request per endpoint: routes of objectives (any-method routes as
 * `GET`; `'*'` names no endpoint) and every key of `requests`.
 *
 * @example
 * sampleRequests(slos)
 * // → [{ endpoint: 'POST /embed/multimodal', method: 'POST', route: '/embed/multimodal', path: '/embed/multimodal', body: { text: 'hi' }, … }]
 */
export function sampleRequests(input: SloConfig | SloDefinitions): EndpointRequest[] {
  const slos = defineSlos(input)
  const out = new Map<string, EndpointRequest>()
  const add = (method: string, route: string) => {
    const endpoint = `${method} ${route}`
    if (out.has(endpoint)) return
    const sample = slos.requests[endpoint]
    out.set(endpoint, {
      endpoint,
      method,
      route,
      path: sample?.path ?? fillParams(route),
      headers: sample?.headers ?? {},
      body: sample?.body,
    })
  }
  for (const o of slos.objectives) if (o.path !== undefined) add(o.method ?? 'GET', o.path)
  for (const sample of Object.values(slos.requests)) add(sample.method, sample.route)
  return [...out.values()]
}
