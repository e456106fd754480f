import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { pathOf, routeNames, UNMATCHED_ROUTE } from './request-info.js'

describe('pathOf', () => {
  it('drops the query string and fragment', () => {
    expect(pathOf('/a/b?x=1#f')).toBe('/a/b')
    expect(pathOf('/a#f?x')).toBe('/a')
    expect(pathOf('/plain')).toBe('/plain')
  })

  it('reduces an absolute-form target to its path, as the router does', () => {
    expect(pathOf('http://x/embed/multimodal')).toBe('/embed/multimodal')
    expect(pathOf('HTTP://127.0.0.1:8080/embed/multimodal?q=1')).toBe('/embed/multimodal')
    expect(pathOf('http://u@h/a/b#f')).toBe('/a/b')
    expect(pathOf('http://x')).toBe('/')
  })

  it("turns a backslash into a slash only where Node's legacy parser does (a target with #)", () => {
    expect(pathOf('/embed\\multimodal#x')).toBe('/embed/multimodal')
    expect(pathOf('/embed\\multimodal')).toBe('/embed\\multimodal')
  })

  it('decodes nothing and resolves no dot segment or doubled slash (Express and Koa route the raw path)', () => {
    for (const raw of ['/%65mbed/x', '//embed/x', '/./embed/x', '/a/../embed/x', '/embed;p=1'])
      expect(pathOf(raw)).toBe(raw)
  })

  it('keeps a path that starts with / and has neither ? nor # nor white space as it is (no allocation)', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^\/[^?#\s\u00a0\ufeff]*$/), (url) => {
        expect(pathOf(url)).toBe(url)
      }),
    )
  })

  it('drops everything from the first ? of a plain path', () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^\/[^?#\s\u00a0\ufeff]*$/),
        fc.stringMatching(/^[^#\s\u00a0\ufeff]*$/),
        (path, query) => {
          expect(pathOf(`${path}?${query}`)).toBe(path)
        },
      ),
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

describe('UNMATCHED_ROUTE', () => {
  it('is the one label every unmatched request shares (dashboards and rules select it by name)', () => {
    expect(UNMATCHED_ROUTE).toBe('__unmatched__')
  })
})
