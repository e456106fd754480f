import { describe, expect, it } from 'vitest'
import { defineSlos } from './define-slos.js'
import { k6Script, k6Thresholds } from './k6.js'

const slos = {
  service: 'cortex-api',
  objectives: [
    { name: 'embed-latency', route: 'POST /embed/multimodal', latency: { percentile: 95, thresholdMs: 200 } },
    { name: 'plan-latency', route: 'POST /agents/plan', threshold: 'p(95)<2000' },
    { name: 'user', route: '/users/:id', threshold: 'p(99)<300' },
    { name: 'availability', route: '*', availability: { errorRate: 0.005 } },
  ],
  requests: { 'POST /embed/multimodal': { body: { text: 'hello' } } },
}

describe('k6', () => {
  it('k6Thresholds keys latency and availability objectives per endpoint tag', () => {
    expect(k6Thresholds(slos)).toEqual({
      'http_req_duration{endpoint:POST /embed/multimodal}': ['p(95)<200'],
      'http_req_duration{endpoint:POST /agents/plan}': ['p(95)<2000'],
      'http_req_duration{endpoint:/users/:id}': ['p(99)<300'],
      http_req_failed: ['rate<0.005'],
    })
  })

  it('k6Script uses the seed load profile, tags requests like the thresholds, sends configured bodies', () => {
    const script = k6Script(slos, { baseUrl: 'http://127.0.0.1:3000' })
    expect(script).toContain(
      '{ duration: "2m", target: 100 },\n    { duration: "5m", target: 100 },\n    { duration: "2m", target: 0 },',
    )
    expect(script).toContain('"http_req_duration{endpoint:POST /embed/multimodal}": [')
    expect(script).toContain('tags: { endpoint: "POST /embed/multimodal" }')
    expect(script).toContain('tags: { endpoint: "/users/:id" }')
    expect(script).toContain('BASE_URL + "/users/1"')
    expect(script).toContain('JSON.stringify({"text":"hello"})')
    expect(script).toContain('http.setResponseCallback(http.expectedStatuses({ min: 100, max: 499 }))')
    // the script is valid JavaScript (k6 globals aside)
    const body = script
      .replace(/^import .*$/m, '')
      .replace(/^export default /m, 'const run = ')
      .replace(/^export /gm, '')
    expect(() => new Function('__ENV', 'http', body)).not.toThrow()
  })
})

describe('loadScripts', () => {
  const config = {
    service: 'api',
    objectives: [
      { name: 'embed', route: 'POST /embed', latency: { percentile: 95, thresholdMs: 200 } },
      { name: 'plan', route: 'POST /plan', latency: { percentile: 95, thresholdMs: 2000 } },
      { name: 'availability', route: '*', availability: { errorRate: 0.005 } },
    ],
    loadScripts: { 'load-embed': ['POST /embed'] },
  }

  it('a per-script endpoint filter keeps only its endpoints, their thresholds and the service-wide ones', () => {
    const script = k6Script(config, { endpoints: defineSlos(config).loadScripts['load-embed'] })
    expect(script).toContain('"/embed"')
    expect(script).not.toContain('"/plan"')
    expect(script).toContain('http_req_duration{endpoint:POST /embed}')
    expect(script).not.toContain('http_req_duration{endpoint:POST /plan}')
    expect(script).toContain('http_req_failed')
  })

  it('rejects a load script naming an endpoint no objective or request names', () => {
    expect(() => defineSlos({ ...config, loadScripts: { x: ['GET /nowhere'] } })).toThrow(
      '`loadScripts["x"][0]`',
    )
    expect(() => defineSlos({ ...config, loadScripts: { 'bad/name': ['POST /embed'] } })).toThrow(
      'loadScripts',
    )
    expect(() => defineSlos({ ...config, loadScripts: { x: [] } })).toThrow('non-empty')
  })
})
