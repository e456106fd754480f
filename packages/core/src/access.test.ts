import { describe, expect, it, vi } from 'vitest'
import { accessGuard, checkAccess, checkAccessRule, isInternalAddress, isLoopbackAddress } from './access.js'
import { isCortexError } from './errors.js'

describe('isInternalAddress', () => {
  it.each([
    '127.0.0.1',
    '127.255.0.9',
    '10.1.2.3',
    '172.16.0.1',
    '172.31.255.255',
    '192.168.1.1',
    '169.254.10.1',
    '::1',
    '0:0:0:0:0:0:0:1',
    '[::1]',
    '::ffff:127.0.0.1',
    '::FFFF:10.0.0.7',
    '::ffff:7f00:1',
    '::ffff:c0a8:101',
    'fc00::1',
    'fd12:3456::1',
    'fe80::1%eth0',
  ])('%s is internal', (address) => {
    expect(isInternalAddress(address)).toBe(true)
  })

  it.each([
    '8.8.8.8',
    '172.15.0.1',
    '172.32.0.1',
    '192.169.0.1',
    '11.0.0.1',
    '2001:db8::1',
    '::ffff:8.8.8.8',
    '::2',
    '::',
    'fec0::1',
    '',
    'localhost',
    '127.0.0',
    '127.0.0.256',
    '1::2::3',
    '12345::1',
    '::ffff:999.0.0.1',
    undefined,
  ])('%s is not internal', (address) => {
    expect(isInternalAddress(address)).toBe(false)
  })

  it('link-local can be excluded', () => {
    expect(isInternalAddress('169.254.1.1', { linkLocal: false })).toBe(false)
    expect(isInternalAddress('fe80::1', { linkLocal: false })).toBe(false)
    expect(isInternalAddress('10.0.0.1', { linkLocal: false })).toBe(true)
  })
})

describe('checkAccess', () => {
  it('defaults to loopback only: a private peer (a reverse proxy on 10/8) is refused with 403', () => {
    for (const clientAddress of ['127.0.0.1', '127.8.9.10', '::1', '[::1]', '::ffff:127.0.0.1'])
      expect(checkAccess(undefined, { clientAddress }).allowed, clientAddress).toBe(true)
    for (const clientAddress of [
      '::ffff:192.168.0.4',
      '10.0.0.7',
      '172.16.0.1',
      'fd00::1',
      '203.0.113.9',
      undefined,
    ]) {
      expect(checkAccess(undefined, { clientAddress }), String(clientAddress)).toMatchObject({
        allowed: false,
        status: 403,
        body: { error: 'forbidden' },
      })
      expect(checkAccess('internal', { clientAddress }).allowed).toBe(false)
    }
  })

  it("'private' admits loopback and private networks, as an explicit choice", () => {
    for (const clientAddress of ['127.0.0.1', '::ffff:192.168.0.4', '10.0.0.7', '172.31.0.1', 'fd00::1'])
      expect(checkAccess('private', { clientAddress }).allowed, clientAddress).toBe(true)
    expect(checkAccess('private', { clientAddress: '203.0.113.9' }).allowed).toBe(false)
  })

  it('refuses a request that carries a forwarding header the framework does not trust, from any peer', () => {
    for (const header of ['forwarded', 'x-forwarded-for', 'x-real-ip']) {
      for (const allow of ['internal', 'private'] as const) {
        const d = checkAccess(allow, {
          clientAddress: '127.0.0.1',
          headers: { [header]: '203.0.113.9' },
          trustProxy: false,
        })
        expect(d, `${allow} ${header}`).toMatchObject({ allowed: false, status: 403, forwardedBy: header })
      }
    }
    // Trusted: the framework already resolved the real client from the header.
    const trusted = {
      clientAddress: '127.0.0.1',
      headers: { 'x-forwarded-for': '127.0.0.1' },
      trustProxy: true,
    }
    expect(checkAccess('internal', trusted).allowed).toBe(true)
    expect(checkAccess('internal', { ...trusted, clientAddress: '203.0.113.9' }).allowed).toBe(false)
    // A bearer token or 'any' does not depend on the address.
    const proxied = {
      clientAddress: '10.0.0.1',
      headers: { 'x-forwarded-for': '1.2.3.4' },
      authorization: 'Bearer t',
    }
    expect(checkAccess({ bearerToken: 't' }, proxied).allowed).toBe(true)
    expect(checkAccess('any', proxied).allowed).toBe(true)
  })

  it('accessGuard warns once, on the first refusal for an untrusted forwarding header', () => {
    const warn = vi.fn()
    const guard = accessGuard(undefined, 'metricsHandler', warn)
    expect(guard({ clientAddress: '203.0.113.9' }).allowed).toBe(false)
    expect(guard({ clientAddress: '127.0.0.1' }).allowed).toBe(true)
    expect(warn).not.toHaveBeenCalled()
    for (let i = 0; i < 3; i++)
      expect(guard({ clientAddress: '10.0.0.2', headers: { 'x-real-ip': '8.8.8.8' } }).allowed).toBe(false)
    expect(warn).toHaveBeenCalledTimes(1)
    expect(warn.mock.calls[0]?.[0]).toMatch(/metricsHandler.*x-real-ip.*trust/)
    expect(() => accessGuard('public', 'metricsHandler')).toThrow(/`allow`/)
  })

  it('uses an address predicate and refuses when it throws', () => {
    expect(checkAccess((a) => a === '203.0.113.9', { clientAddress: '203.0.113.9' }).allowed).toBe(true)
    expect(checkAccess(() => false, { clientAddress: '127.0.0.1' }).allowed).toBe(false)
    const throwing = () => {
      throw new Error('boom')
    }
    expect(checkAccess(throwing, { clientAddress: '127.0.0.1' }).allowed).toBe(false)
  })

  it('accepts only the right bearer token, from any address, with 401 otherwise', () => {
    const rule = { bearerToken: 's3cret' }
    expect(checkAccess(rule, { clientAddress: '8.8.8.8', authorization: 'Bearer s3cret' }).allowed).toBe(true)
    expect(checkAccess(rule, { clientAddress: '8.8.8.8', authorization: 'bearer  s3cret ' }).allowed).toBe(
      true,
    )
    for (const authorization of [undefined, 'Bearer s3cre', 'Bearer s3cret2', 'Basic s3cret', 'Bearer']) {
      const d = checkAccess(rule, { clientAddress: '127.0.0.1', authorization })
      expect(d).toMatchObject({ allowed: false, status: 401, headers: { 'www-authenticate': 'Bearer' } })
    }
  })

  it("'any' allows everyone", () => {
    expect(checkAccess('any', { clientAddress: undefined }).allowed).toBe(true)
  })
})

describe('checkAccessRule', () => {
  it('normalises and validates', () => {
    expect(checkAccessRule(undefined)).toBe('internal')
    expect(checkAccessRule({ bearerToken: 't' })).toEqual({ bearerToken: 't' })
    for (const bad of [{ bearerToken: '' }, { token: 'x' }, 'public', 42, null]) {
      try {
        checkAccessRule(bad, 'allow')
        expect.unreachable()
      } catch (err) {
        expect(isCortexError(err, 'ERR_CORTEX_CONFIG')).toBe(true)
        expect((err as Error).message).toContain('`allow`')
      }
    }
  })
})

describe('address parsing is strict (a lax parser would call these internal)', () => {
  it.each([
    '10.0.0.1x',
    'x10.0.0.1',
    '10.0.0.1.5',
    '10.0.0',
    'fc00::1:',
    'fc00:1:2:3:4:5:6:7:8',
    'fc00::g',
    'fc00::12345',
    'fc00:1:2:3:4:5:6',
    'fc00::1:2:3:4:5:6:7',
    'fc00::1::2',
    // Not IPv4-mapped: only ::ffff:0:0/96 is.
    '0:0:0:0:1:ffff:a00:1',
    '0:0:0:1:0:ffff:a00:1',
    '0:0:1:0:0:ffff:a00:1',
    '0:1:0:0:0:ffff:a00:1',
    '1:0:0:0:0:ffff:a00:1',
    '::fffe:a00:1',
  ])('%s is not internal', (address) => {
    expect(isInternalAddress(address)).toBe(false)
  })

  it('keeps a zone and brackets apart from the address', () => {
    expect(isInternalAddress('[fe80::1%eth0]')).toBe(true)
    expect(isInternalAddress('[10.0.0.1]')).toBe(true)
    expect(isInternalAddress('::ffff:10.0.0.1')).toBe(true)
  })

  it('isLoopbackAddress: 127/8, ::1 and ::ffff:127.x only', () => {
    for (const a of ['127.0.0.1', '127.9.9.9', '::1', '[::1]', '::ffff:127.0.0.1', '::1%lo'])
      expect(isLoopbackAddress(a)).toBe(true)
    for (const a of ['10.0.0.1', '::ffff:10.0.0.1', '::2', 'fe80::1', '', undefined, '127.0.0.1x', '1::1'])
      expect(isLoopbackAddress(a)).toBe(false)
  })
})

describe('bearer tokens', () => {
  it('compare every character, and the header must be exactly "Bearer <token>"', () => {
    const rule = { bearerToken: 's3cret' }
    for (const authorization of [
      'Bearer s3creX',
      'Bearer S3CRET',
      'xBearer s3cret',
      'Bearer s3cret extra',
      'Token Bearer s3cret',
    ]) {
      expect(checkAccess(rule, { clientAddress: '127.0.0.1', authorization }).allowed).toBe(false)
    }
    expect(checkAccess(rule, { clientAddress: '127.0.0.1', authorization: ' BEARER s3cret' }).allowed).toBe(
      true,
    )
  })

  it('refusals carry a JSON body and content type', () => {
    const unauthorized = checkAccess({ bearerToken: 't' }, { clientAddress: '127.0.0.1' })
    expect(unauthorized).toEqual({
      allowed: false,
      status: 401,
      headers: { 'content-type': 'application/json; charset=utf-8', 'www-authenticate': 'Bearer' },
      body: { error: 'unauthorized', message: 'A valid bearer token is required.' },
    })
    const forbidden = checkAccess('private', { clientAddress: '8.8.8.8' })
    expect(forbidden).toEqual({
      allowed: false,
      status: 403,
      headers: { 'content-type': 'application/json; charset=utf-8' },
      body: {
        error: 'forbidden',
        message: 'This endpoint is internal: only loopback and private addresses may read it.',
      },
    })
  })
})

describe('checkAccessRule values', () => {
  it('returns each named rule and the predicate itself; refuses an object with other keys, saying what is allowed', () => {
    expect(checkAccessRule('internal')).toBe('internal')
    expect(checkAccessRule('private')).toBe('private')
    expect(checkAccessRule('any')).toBe('any')
    const predicate = () => true
    expect(checkAccessRule(predicate)).toBe(predicate)
    expect(() => checkAccessRule({ bearerToken: 't', extra: 1 }, 'allow', 'energyHandler')).toThrow(
      'Invalid `allow` in energyHandler: expected "internal" (loopback only), "private", "any", a function (clientAddress) => boolean, or { bearerToken: "<non-empty string>" }',
    )
    expect(() => checkAccessRule(7)).toThrow('Invalid `allow`')
  })
})
