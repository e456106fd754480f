import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { pathOf, routeNames } from './request-info.js'

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

describe('routeNames', () => {
  it('gives "METHOD /route" for every pair, remembered or not (past its bound)', () => {
    const nameOf = routeNames(3)
    const first = nameOf('POST', '/embed/multimodal')
    expect(first).toBe('POST /embed/multimodal')
    expect(nameOf('POST', `/embed/${'multimodal'}`)).toBe(first)
    expect(nameOf('GET', '/embed/multimodal')).toBe('GET /embed/multimodal')
    for (let i = 0; i < 10; i++) expect(nameOf('GET', `/r/${i}`)).toBe(`GET /r/${i}`)
    expect(nameOf('POST', '/embed/multimodal')).toBe('POST /embed/multimodal')
  })
})
