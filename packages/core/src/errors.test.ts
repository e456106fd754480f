import { describe, expect, it } from 'vitest'
import { CortexConfigError, CortexError, describeValue, isCortexError } from './errors.js'
import {
  checkKnownKeys,
  checkMethods,
  checkNumber,
  checkOneOf,
  parseDuration,
  parseOptionalDuration,
} from './validate.js'

function messageOf(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    expect(isCortexError(err, 'ERR_CORTEX_CONFIG')).toBe(true)
    expect(err).toBeInstanceOf(CortexConfigError)
    return (err as Error).message
  }
  throw new Error('expected a CortexConfigError')
}

describe('errors', () => {
  it('names the option, the value received and what is allowed', () => {
    const err = new CortexConfigError('limit', -1, 'a positive finite number', 'policy "POST /agents/plan"')
    expect(err.message).toBe(
      'Invalid `limit` in policy "POST /agents/plan": expected a positive finite number, got -1',
    )
    expect(err.code).toBe('ERR_CORTEX_CONFIG')
    expect(err).toBeInstanceOf(CortexError)
  })

  it('matches errors by code even across copies of the package', () => {
    const foreign = Object.assign(new Error('x'), { code: 'ERR_CORTEX_STORE' })
    expect(isCortexError(foreign)).toBe(true)
    expect(isCortexError(foreign, 'ERR_CORTEX_STORE')).toBe(true)
    expect(isCortexError(foreign, 'ERR_CORTEX_CONFIG')).toBe(false)
    expect(isCortexError(new Error('x'))).toBe(false)
    expect(isCortexError(null)).toBe(false)
  })
})

describe('validators', () => {
  it('checkNumber states the allowed range', () => {
    expect(messageOf(() => checkNumber(-1, 'limit', { min: 0, exclusiveMin: true }))).toContain(
      'expected a finite number > 0, got -1',
    )
    expect(messageOf(() => checkNumber(1.5, 'cores', { min: 1, integer: true }))).toContain('an integer >= 1')
    expect(messageOf(() => checkNumber('3', 'x'))).toContain('got "3"')
    expect(checkNumber(5, 'x', { min: 0, max: 10 })).toBe(5)
  })

  it('checkOneOf lists the allowed values', () => {
    expect(messageOf(() => checkOneOf('cubicle', 'curve', ['teads', 'linear', 'cubic']))).toBe(
      'Invalid `curve`: expected one of "teads", "linear", "cubic", got "cubicle"',
    )
  })

  it('checkKnownKeys catches typos', () => {
    expect(messageOf(() => checkKnownKeys({ limit: 1, burts: 2 }, ['limit', 'burst']))).toContain('`burts`')
  })

  it('parseDuration reads milliseconds and unit strings', () => {
    expect(parseDuration(250, 'window')).toBe(250)
    expect(parseDuration('500ms', 'window')).toBe(500)
    expect(parseDuration('30s', 'window')).toBe(30_000)
    expect(parseDuration('1m', 'window')).toBe(60_000)
    expect(parseDuration('1h', 'window')).toBe(3_600_000)
    expect(parseDuration('30d', 'window')).toBe(2_592_000_000)
    expect(messageOf(() => parseDuration('soon', 'window'))).toContain('got "soon"')
    expect(messageOf(() => parseDuration(0, 'window'))).toContain('`window`')
  })
})

describe('checkMethods', () => {
  it('accepts an object with the methods and names the option otherwise', () => {
    const meter = { startRequest() {}, snapshot() {} }
    expect(checkMethods(meter, 'meter', ['startRequest'], 'a meter')).toBe(meter)
    expect(
      messageOf(() =>
        checkMethods({}, 'meter', ['startRequest'], 'a meter from createEnergyMeter()', 'energyTracking'),
      ),
    ).toBe('Invalid `meter` in energyTracking: expected a meter from createEnergyMeter(), got {}')
    expect(messageOf(() => checkMethods(undefined, 'controller', ['acquire'], 'a controller'))).toContain(
      'got undefined',
    )
  })
})

describe('parseOptionalDuration', () => {
  it('gives the fallback when absent, accepts zero and unit strings, and names the option otherwise', () => {
    expect(parseOptionalDuration(undefined, 'forMs', 7)).toBe(7)
    expect(parseOptionalDuration(0, 'forMs', 7)).toBe(0)
    expect(parseOptionalDuration('30s', 'forMs', 7)).toBe(30_000)
    expect(messageOf(() => parseOptionalDuration(-1, 'forMs', 0))).toContain('`forMs`')
    expect(messageOf(() => parseOptionalDuration('soon', 'forMs', 0))).toContain('got "soon"')
  })
})

describe('describeValue and error names', () => {
  it('renders each kind of received value readably', () => {
    expect(describeValue('x')).toBe('"x"')
    expect(describeValue(-1.5)).toBe('-1.5')
    expect(describeValue(false)).toBe('false')
    expect(describeValue(10n)).toBe('10')
    expect(describeValue(undefined)).toBe('undefined')
    expect(describeValue(null)).toBe('null')
    expect(describeValue(() => 1)).toBe('a function')
    expect(describeValue({ a: [1, 'b'] })).toBe('{"a":[1,"b"]}')
    const circular: Record<string, unknown> = {}
    circular.self = circular
    expect(describeValue(circular)).toBe('[object Object]')
  })

  it('cuts JSON longer than 80 characters to 77 and an ellipsis', () => {
    const exactly80 = ['x'.repeat(76)] // ["xxx…"] is 80 characters
    expect(JSON.stringify(exactly80)).toHaveLength(80)
    expect(describeValue(exactly80)).toBe(JSON.stringify(exactly80))
    const longer = ['x'.repeat(77)]
    expect(describeValue(longer)).toBe(`${JSON.stringify(longer).slice(0, 77)}...`)
    expect(describeValue(longer)).toHaveLength(80)
  })

  it('names the classes and refuses look-alikes without an ERR_CORTEX_ code', () => {
    expect(new CortexError('ERR_CORTEX_STORE', 'down').name).toBe('CortexError')
    expect(new CortexConfigError('x', 1, 'y').name).toBe('CortexConfigError')
    expect(isCortexError(undefined)).toBe(false)
    expect(isCortexError('ERR_CORTEX_CONFIG')).toBe(false)
    expect(isCortexError({ code: 'ENOENT' })).toBe(false)
    expect(isCortexError({ code: 42 })).toBe(false)
  })
})
