import { describe, expect, it } from 'vitest'
import { CortexConfigError } from './errors.js'
import {
  checkKnownKeys,
  checkMethods,
  checkNumber,
  checkObject,
  checkOneOf,
  checkParts,
  parseDuration,
  parseOptionalDuration,
} from './validate.js'

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

/** The CortexConfigError `fn` throws (fails the test when it throws nothing else). */
function thrown(fn: () => unknown): CortexConfigError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(CortexConfigError)
    return err as CortexConfigError
  }
  throw new Error('accepted')
}

describe('checkNumber', () => {
  it('accepts finite numbers within the bounds, inclusive unless exclusiveMin, and returns them', () => {
    expect(checkNumber(0, 'n', { min: 0 })).toBe(0)
    expect(checkNumber(5, 'n', { max: 5 })).toBe(5)
    expect(checkNumber(1e-9, 'n', { min: 0, exclusiveMin: true })).toBe(1e-9)
    expect(checkNumber(-3.5, 'n')).toBe(-3.5)
    expect(checkNumber(4, 'n', { integer: true, min: 1, max: 4 })).toBe(4)
  })

  it('refuses what is out of bounds, not finite, not a number or not an integer, saying what is allowed', () => {
    expect(thrown(() => checkNumber(0, 'n', { min: 0, exclusiveMin: true })).message).toBe(
      'Invalid `n`: expected a finite number > 0, got 0',
    )
    expect(thrown(() => checkNumber(-1, 'n', { min: 0 })).expected).toBe('a finite number >= 0')
    expect(thrown(() => checkNumber(6, 'n', { max: 5 })).expected).toBe('a finite number <= 5')
    expect(thrown(() => checkNumber(6, 'n', { min: 1, max: 5 })).expected).toBe('a finite number in [1, 5]')
    expect(thrown(() => checkNumber(1, 'n', { min: 1, max: 5, exclusiveMin: true })).expected).toBe(
      'a finite number in (1, 5]',
    )
    expect(thrown(() => checkNumber(1.5, 'n', { integer: true, where: 'w' })).message).toBe(
      'Invalid `n` in w: expected an integer, got 1.5',
    )
    expect(thrown(() => checkNumber(Number.NaN, 'n')).expected).toBe('a finite number')
    expect(thrown(() => checkNumber(Number.POSITIVE_INFINITY, 'n')).option).toBe('n')
    expect(thrown(() => checkNumber('1', 'n')).received).toBe('1')
  })
})

describe('checkOneOf, checkKnownKeys, checkObject, checkMethods', () => {
  it('checkOneOf accepts a listed string only', () => {
    expect(checkOneOf('b', 'mode', ['a', 'b'])).toBe('b')
    expect(thrown(() => checkOneOf('c', 'mode', ['a', 'b'], 'w')).message).toBe(
      'Invalid `mode` in w: expected one of "a", "b", got "c"',
    )
    expect(thrown(() => checkOneOf(1, 'mode', ['1'])).option).toBe('mode')
  })

  it('checkKnownKeys names the first unknown key, its value and the known ones', () => {
    expect(() => checkKnownKeys({ a: 1, b: 2 }, ['a', 'b', 'c'])).not.toThrow()
    const err = thrown(() => checkKnownKeys({ a: 1, burts: 3 }, ['a', 'burst'], 'policy'))
    expect(err.message).toBe(
      'Invalid `burts` in policy: expected no such option (known options: a, burst), got 3',
    )
  })

  it('checkObject accepts plain objects only', () => {
    const o = { x: 1 }
    expect(checkObject(o, 'o')).toBe(o)
    for (const bad of [null, undefined, [], 'x', 1])
      expect(thrown(() => checkObject(bad, 'o')).expected).toBe('an object')
  })

  it('checkMethods needs every named method to be a function', () => {
    const meter = { start: () => {}, stop: () => {} }
    expect(checkMethods(meter, 'meter', ['start', 'stop'], 'a meter')).toBe(meter)
    expect(
      thrown(() => checkMethods({ start: () => {}, stop: 1 }, 'meter', ['start', 'stop'], 'a meter', 'w'))
        .message,
    ).toBe('Invalid `meter` in w: expected a meter, got {"stop":1}')
    expect(thrown(() => checkMethods(null, 'meter', ['start'], 'a meter')).expected).toBe('a meter')
    expect(thrown(() => checkMethods(() => {}, 'meter', [], 'a meter')).expected).toBe('a meter')
  })
})

describe('parseDuration and parseOptionalDuration', () => {
  it('reads milliseconds or a number with a unit', () => {
    expect(parseDuration(250, 'd')).toBe(250)
    expect(parseDuration('500ms', 'd')).toBe(500)
    expect(parseDuration('1.5s', 'd')).toBe(1500)
    expect(parseDuration(' 2m ', 'd')).toBe(120_000)
    expect(parseDuration('1h', 'd')).toBe(3_600_000)
    expect(parseDuration('30d', 'd')).toBe(30 * 86_400_000)
  })

  it('refuses zero, negatives, unknown units and other types, naming the option', () => {
    for (const bad of [
      '0s',
      '-1s',
      '1w',
      '1 s',
      's',
      '1.s',
      'x1s',
      '1sx',
      `${'9'.repeat(400)}d`,
      null,
      {},
      true,
    ]) {
      const err = thrown(() => parseDuration(bad, 'window', 'policy'))
      expect(err.option).toBe('window')
      expect(err.message).toMatch(/^Invalid `window` in policy: expected a positive number of milliseconds/)
    }
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY])
      expect(thrown(() => parseDuration(bad, 'window')).expected).toBe('a finite number > 0')
  })

  it('parseOptionalDuration: the fallback when undefined, zero allowed, else as parseDuration', () => {
    expect(parseOptionalDuration(undefined, 'd', 7)).toBe(7)
    expect(parseOptionalDuration(0, 'd', 7)).toBe(0)
    expect(parseOptionalDuration('2s', 'd', 7)).toBe(2000)
    expect(thrown(() => parseOptionalDuration(-1, 'd', 7, 'w')).message).toBe(
      'Invalid `d` in w: expected a finite number >= 0, got -1',
    )
    expect(thrown(() => parseOptionalDuration('0s', 'd', 7)).option).toBe('d')
  })
})
