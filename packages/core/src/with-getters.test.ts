import { setFlagsFromString } from 'node:v8'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { withGetters } from './with-getters.js'

setFlagsFromString('--allow-natives-syntax')
const hasFastProperties = new Function('o', 'return %HasFastProperties(o)') as (o: object) => boolean

describe('withGetters', () => {
  it('keeps the object in fast mode, where a literal with a getter is not', () => {
    let n = 0
    const literal = {
      add: () => n++,
      get n() {
        return n
      },
    }
    // The engine behaviour this helper exists for: if this ever turns true, the helper is moot.
    expect(hasFastProperties(literal)).toBe(false)
    expect(hasFastProperties(withGetters({ add: () => n++ }, { n: () => n }))).toBe(true)
  })

  it('reads live values through enumerable, read-only accessors', () => {
    fc.assert(
      fc.property(fc.array(fc.integer(), { minLength: 1, maxLength: 20 }), (values) => {
        let current = 0
        const o = withGetters({ set: (v: number) => (current = v) }, { value: () => current })
        for (const v of values) {
          o.set(v)
          expect(o.value).toBe(v)
        }
        expect(Object.keys(o)).toEqual(['set', 'value'])
        expect({ ...o }.value).toBe(values.at(-1))
        expect(() => {
          ;(o as { value: number }).value = 1
        }).toThrow(TypeError)
      }),
    )
  })

  it('defines configurable accessors, as a getter in an object literal is (a wrapper may redefine them)', () => {
    const o = withGetters({}, { value: () => 1 })
    expect(Object.getOwnPropertyDescriptor(o, 'value')).toMatchObject({
      configurable: true,
      enumerable: true,
    })
    expect(withGetters(o, { value: () => 2 }).value).toBe(2)
  })
})
