import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { pathOf } from './request-info.js'

describe('pathOf', () => {
  it('drops the query string and fragment', () => {
    expect(pathOf('/a/b?x=1#f')).toBe('/a/b')
    expect(pathOf('/a#f?x')).toBe('/a')
    expect(pathOf('/plain')).toBe('/plain')
  })

  it('returns a prefix of the URL that contains neither ? nor #', () => {
    fc.assert(
      fc.property(fc.string(), (url) => {
        const path = pathOf(url)
        expect(url.startsWith(path)).toBe(true)
        expect(path.includes('?') || path.includes('#')).toBe(false)
      }),
    )
  })
})
