import { afterEach, describe, expect, it } from 'vitest'
import { drivers, type RunningServer } from './index.js'

const running: RunningServer[] = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.close()))
})

describe.each(drivers)('request port on $name', (driver) => {
  it('reports method, path without query, route template and client address', async () => {
    const server = await driver.start({
      routes: [
        { method: 'GET', path: '/health/live' },
        { method: 'POST', path: '/users/:id' },
      ],
    })
    running.push(server)
    const health = await fetch(`${server.url}/health/live?verbose=1`)
    expect(health.status).toBe(200)
    expect(await health.json()).toEqual({
      method: 'GET',
      path: '/health/live',
      route: '/health/live',
      clientAddress: '127.0.0.1',
    })
    const user = await fetch(`${server.url}/users/42`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    })
    expect(await user.json()).toMatchObject({ method: 'POST', path: '/users/42', route: '/users/:id' })
  })

  it('ignores X-Forwarded-For unless the framework trusts proxies', async () => {
    const headers = { 'x-forwarded-for': '203.0.113.9' }
    const untrusted = await driver.start({ routes: [{ method: 'GET', path: '/ip' }] })
    running.push(untrusted)
    expect(await (await fetch(`${untrusted.url}/ip`, { headers })).json()).toMatchObject({
      clientAddress: '127.0.0.1',
    })
    const trusted = await driver.start({ routes: [{ method: 'GET', path: '/ip' }], trustProxy: true })
    running.push(trusted)
    expect(await (await fetch(`${trusted.url}/ip`, { headers })).json()).toMatchObject({
      clientAddress: '203.0.113.9',
    })
  })
})
