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
  ])('%s %j → %s', (address, options, key) => {
    expect(clientAddressKey(address, options)).toBe(key)
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
