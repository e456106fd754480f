import { describe, expect, it } from 'vitest'
import { CortexConfigError } from './errors.js'
import { checkParts } from './validate.js'

const PARTS = ['a', 'b'] as const

function refusal(options: unknown): CortexConfigError {
  try {
    checkParts(options, PARTS, 'stack')
  } catch (err) {
    expect(err).toBeInstanceOf(CortexConfigError)
    return err as CortexConfigError
  }
  throw new Error('accepted')
}

describe('checkParts', () => {
  it('accepts an object naming one or more parts, each an object', () => {
    expect(() => checkParts({ a: {} }, PARTS, 'stack')).not.toThrow()
    expect(() => checkParts({ a: {}, b: { x: 1 } }, PARTS, 'stack')).not.toThrow()
    expect(() => checkParts({ a: {}, b: undefined }, PARTS, 'stack')).not.toThrow()
  })

  it('refuses, naming the option and where: not an object, no part, an unknown key, a part that is not an object', () => {
    expect(refusal(undefined)).toMatchObject({ option: 'options' })
    expect(refusal(null).message).toMatch(/in stack: expected an object with any of a, b/)
    expect(refusal({}).message).toMatch(/at least one of a, b/)
    expect(refusal({ b: undefined })).toMatchObject({ option: 'options' })
    expect(refusal({ a: {}, c: {} })).toMatchObject({ option: 'c' })
    expect(refusal({ a: null })).toMatchObject({ option: 'a' })
    expect(refusal({ a: {}, b: [] })).toMatchObject({ option: 'b' })
  })
})
