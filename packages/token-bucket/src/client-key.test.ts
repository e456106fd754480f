import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { apiKeyFromHeaders, clientAddressKey } from './client-key.js'

describe('clientAddressKey', () => {
  it.each([
    ['203.0.113.9', {}, '203.0.113.9'],
    ['::ffff:203.0.113.9', {}, '203.0.113.9'],
    ['::FFFF:cb00:7109', {}, '203.0.113.9'],
    ['2001:db8:1:2:aaaa:bbbb:cccc:dddd', {}, '2001:db8:1:2::/64'],
    ['2001:DB8:1:2::1', {}, '2001:db8:1:2::/64'],
    ['2001:db8:1:2::1', { ipv6Subnet: 56 }, '2001:db8:1::/56'],
    ['2001:db8::1', { ipv6Subnet: 128 }, '2001:db8::1'],
    ['[2001:db8:0:0:1:0:0:1]', { ipv6Subnet: 128 }, '2001:db8::1:0:0:1'],
    ['fe80::1%eth0', {}, 'fe80::/64'],
    ['::1', { ipv6Subnet: 128 }, '::1'],
    ['203.0.113.9', { ipv4Subnet: 24 }, '203.0.113.0/24'],
    ['::ffff:203.0.113.9', { ipv4Subnet: 24 }, '203.0.113.0/24'],
    [undefined, {}, 'unknown'],
    ['', {}, 'unknown'],
    ['not:an:address', {}, 'not:an:address'],
    // Only ::ffff:0:0/96 is IPv4-mapped: a 1 in the fifth group makes it a plain IPv6 address.
    ['::1:ffff:cb00:7109', {}, '::/64'],
    ['::1:ffff:cb00:7109', { ipv6Subnet: 128 }, '::1:ffff:cb00:7109'],
    ['1::ffff:cb00:7109', {}, '1::/64'],
  ])('%s %j → %s', (address, options, key) => {
    expect(clientAddressKey(address, options)).toBe(key)
  })

  it('keys an address as IPv4 exactly when it lies in ::ffff:0:0/96, and every other IPv6 address by its /64', () => {
    const group = fc.oneof(fc.constant(0), fc.constant(0xffff), fc.integer({ min: 0, max: 0xffff }))
    fc.assert(
      fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), (groups) => {
        const address = groups.map((g) => g.toString(16)).join(':')
        const key = clientAddressKey(address)
        const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff
        if (mapped) {
          const [a, b] = [groups[6] as number, groups[7] as number]
          expect(key).toBe(`${a >> 8}.${a & 0xff}.${b >> 8}.${b & 0xff}`)
        } else {
          expect(key).toMatch(/\/64$/)
          // Addresses that differ only in their last 64 bits share one key.
          const sibling = [...groups.slice(0, 4), 1, 2, 3, 4].map((g) => g.toString(16)).join(':')
          expect(clientAddressKey(sibling)).toBe(key)
        }
      }),
      { numRuns: 300 },
    )
  })

  it('keeps odd input bounded', () => {
    expect(clientAddressKey(`x:${'a'.repeat(10_000)}`)).toMatch(/^sha256:[0-9a-f]{64}$/)
  })
})

describe('apiKeyFromHeaders', () => {
  it('reads the header, ignores empty values and bounds long keys', () => {
    expect(apiKeyFromHeaders({ 'x-api-key': ' abc ' }, 'X-API-Key')).toBe('apikey:abc')
    expect(apiKeyFromHeaders({ 'x-api-key': ['a', 'b'] }, 'x-api-key')).toBe('apikey:a')
    expect(apiKeyFromHeaders({ 'x-api-key': '' }, 'x-api-key')).toBeUndefined()
    expect(apiKeyFromHeaders(undefined, 'x-api-key')).toBeUndefined()
    expect(apiKeyFromHeaders({ 'x-api-key': 'k'.repeat(500) }, 'x-api-key')).toMatch(/^sha256:/)
  })
})
