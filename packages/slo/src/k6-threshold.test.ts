import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  formatK6MetricName,
  formatK6ThresholdExpression,
  type K6Aggregation,
  type K6Operator,
  type K6ThresholdExpression,
  parseK6MetricName,
  parseK6Threshold,
  parseK6ThresholdExpression,
} from './k6-threshold.js'

describe("k6's threshold syntax", () => {
  it('parses and prints back the expressions k6 documents', () => {
    const cases: [string, K6ThresholdExpression][] = [
      ['p(95)<200', { aggregation: 'p', percentile: 95, operator: '<', value: 200 }],
      ['p(99.9)<=1500', { aggregation: 'p', percentile: 99.9, operator: '<=', value: 1500 }],
      ['rate<0.005', { aggregation: 'rate', operator: '<', value: 0.005 }],
      ['count>10', { aggregation: 'count', operator: '>', value: 10 }],
      ['avg<100', { aggregation: 'avg', operator: '<', value: 100 }],
      ['med>=3', { aggregation: 'med', operator: '>=', value: 3 }],
      ['max!=0', { aggregation: 'max', operator: '!=', value: 0 }],
      ['min===2', { aggregation: 'min', operator: '===', value: 2 }],
      ['value==1', { aggregation: 'value', operator: '==', value: 1 }],
    ]
    for (const [text, parsed] of cases) {
      expect(parseK6ThresholdExpression(text), text).toEqual(parsed)
      expect(formatK6ThresholdExpression(parsed)).toBe(text)
    }
    // k6 trims around the operator, so do we; the canonical form has no spaces
    expect(formatK6ThresholdExpression(parseK6ThresholdExpression(' p(95) < 200 ')!)).toBe('p(95)<200')
  })

  it('refuses what k6 refuses', () => {
    for (const text of [
      'p(101)<200', // percentile outside [0, 100]
      'p(-1)<200',
      'p( 95 )<200', // k6 parses the inside of p() as a bare float
      'p95<200',
      'p(x)<200',
      'rate<',
      'rate<abc',
      'rate 0.005',
      'mean<1', // not an aggregation k6 knows
      '<5',
      '',
    ]) {
      expect(parseK6ThresholdExpression(text), text).toBeUndefined()
    }
  })

  it('round-trips every expression: parse(format(e)) is e', () => {
    const aggregation = fc.constantFrom<K6Aggregation>(
      'value',
      'count',
      'rate',
      'avg',
      'min',
      'med',
      'max',
      'p',
    )
    const operator = fc.constantFrom<K6Operator>('<', '<=', '>', '>=', '==', '===', '!=')
    const value = fc.double({ noNaN: true, noDefaultInfinity: true }).map((v) => (Object.is(v, -0) ? 0 : v))
    fc.assert(
      fc.property(
        aggregation,
        fc.double({ min: 0, max: 100, noNaN: true }),
        operator,
        value,
        (agg, percentile, op, v) => {
          const e: K6ThresholdExpression =
            agg === 'p'
              ? {
                  aggregation: 'p',
                  percentile: Object.is(percentile, -0) ? 0 : percentile,
                  operator: op,
                  value: v,
                }
              : { aggregation: agg, operator: op, value: v }
          expect(parseK6ThresholdExpression(formatK6ThresholdExpression(e))).toEqual(e)
        },
      ),
    )
  })

  it('parses and prints back metric names with submetric selectors', () => {
    const cases: [string, { metric: string; tags: [string, string][] }][] = [
      ['http_req_duration', { metric: 'http_req_duration', tags: [] }],
      [
        'http_req_duration{expected_response:true}',
        { metric: 'http_req_duration', tags: [['expected_response', 'true']] },
      ],
      [
        'http_req_duration{endpoint:GET /users/:id}',
        { metric: 'http_req_duration', tags: [['endpoint', 'GET /users/:id']] },
      ],
      [
        'http_reqs{scenario:smoke,status:200}',
        {
          metric: 'http_reqs',
          tags: [
            ['scenario', 'smoke'],
            ['status', '200'],
          ],
        },
      ],
    ]
    for (const [text, parsed] of cases) {
      expect(parseK6MetricName(text), text).toEqual(parsed)
      expect(formatK6MetricName(parsed)).toBe(text)
    }
    // as k6: spaces around tags and quotes around keys and values are dropped
    expect(parseK6MetricName(`checks{ "name": 'login' }`)).toEqual({
      metric: 'checks',
      tags: [['name', 'login']],
    })
    for (const bad of [
      'http_req_duration{',
      'http_req_duration}',
      'm}{a:b',
      'm{a:b}x',
      'm{a}',
      'm{a:}',
      '{a:b}',
      '',
    ]) {
      expect(parseK6MetricName(bad), bad).toBeUndefined()
    }
  })

  it('reads objectives from p(N)<T and rate<R only', () => {
    expect(parseK6Threshold('p(95)<200')).toEqual({ kind: 'latency', percentile: 95, thresholdMs: 200 })
    expect(parseK6Threshold('rate<=0.01')).toEqual({ kind: 'availability', errorRate: 0.01 })
    expect(parseK6Threshold('p(95)>200')).toBeUndefined()
    expect(parseK6Threshold('count<10')).toBeUndefined()
  })
})
