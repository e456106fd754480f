/**
 * Adds read-only accessor properties to an object built as a literal.
 *
 * V8 creates an object literal that contains a getter in dictionary mode: each
 * property read on it is a hash lookup through the generic inline-cache
 * handler, not a fixed-offset load. For objects whose methods sit on a hot
 * path (a limiter's `consume`, a store's `take`, a controller's `knobs`),
 * that lookup costs more than some of the calls themselves. Building the
 * literal without its getters and defining them afterwards keeps the object
 * in fast mode (V8 adds accessor properties as ordinary map transitions).
 *
 * @example
 * let count = 0
 * const counter = withGetters({ add: () => count++ }, { count: () => count })
 * counter.add()
 * counter.count // 1
 */
export function withGetters<T extends object, G extends Record<string, () => unknown>>(
  target: T,
  getters: G,
): NoInfer<T> & { readonly [K in keyof G]: ReturnType<G[K]> } {
  for (const name of Object.keys(getters)) {
    Object.defineProperty(target, name, {
      get: getters[name],
      enumerable: true,
      configurable: true,
    })
  }
  return target as T & { readonly [K in keyof G]: ReturnType<G[K]> }
}
