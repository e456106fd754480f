import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defineSlos, type SloConfig } from './define-slos.js'
import { promtoolPath, skipWithout } from './prometheus-binaries.js'
import { prometheusRuleGroups, prometheusRules } from './prometheus-rules.js'
import { toYaml, type YamlValue } from './yaml.js'

const run = promisify(execFile)

const seed: SloConfig = {
  service: 'cortex-api',
  window: '30d',
  objectives: [
    { name: 'embed-latency', route: 'POST /embed/multimodal', latency: { percentile: 95, thresholdMs: 200 } },
    { name: 'plan-latency', route: 'POST /agents/plan', threshold: 'p(95)<2000' },
    { name: 'availability', route: '*', availability: { errorRate: 0.005 } },
  ],
}

const configs: Record<string, SloConfig> = {
  seed,
  '28d, tickets off, for, labels, runbook': {
    ...seed,
    window: '28d',
    alerting: {
      ticket: false,
      for: '2m',
      labels: { team: 'ml' },
      runbookUrl: 'https://runbooks.example/slo',
    },
  },
  'custom tiers, selector, any-method route, custom error statuses': {
    service: 'api',
    selector: 'job="api"',
    objectives: [
      {
        name: 'health',
        route: '/health/:probe',
        availability: { target: 0.9995, errorStatusCodes: ['5xx', 429] },
        alerting: {
          tiers: [{ severity: 'page', longWindow: '2h', shortWindow: '10m', budgetConsumed: 0.05 }],
        },
      },
      { name: 'whole-second', route: 'GET /slow', threshold: 'p(99.9)<3000' },
    ],
  },
  'no alerts at all': { ...seed, alerting: { page: false, ticket: false } },
}

describe('prometheusRules', () => {
  it('records Sloth-named rules labelled slo, from summed increases, and one alert per severity', () => {
    const groups = prometheusRuleGroups(seed)
    expect(groups.map((g) => g.name)).toEqual([
      'slo-cortex-api-embed-latency-recordings',
      'slo-cortex-api-embed-latency-alerts',
      'slo-cortex-api-plan-latency-recordings',
      'slo-cortex-api-plan-latency-alerts',
      'slo-cortex-api-availability-recordings',
      'slo-cortex-api-availability-alerts',
    ])
    const records = groups[0]!.rules.map((r) => r.record)
    for (const name of [
      'slo:sli_error:ratio_rate5m',
      'slo:sli_error:ratio_rate30m',
      'slo:sli_error:ratio_rate1h',
      'slo:sli_error:ratio_rate2h',
      'slo:sli_error:ratio_rate6h',
      'slo:sli_error:ratio_rate1d',
      'slo:sli_error:ratio_rate3d',
      'slo:sli_error:ratio_rate30d',
      'slo:objective:ratio',
      'slo:error_budget:ratio',
      'slo:current_burn_rate:ratio',
      'slo:period_burn_rate:ratio',
      'slo:period_error_budget_remaining:ratio',
    ]) {
      expect(records).toContain(name)
    }
    const rule = (name: string) => groups[0]!.rules.find((r) => r.record === name)!
    expect(rule('slo:sli_error:ratio_rate3d').expr).toBe(
      'sum_over_time(slo:sli_bad_events:increase5m{slo="embed-latency",service="cortex-api"}[3d]) / sum_over_time(slo:sli_total_events:increase5m{slo="embed-latency",service="cortex-api"}[3d])',
    )
    expect(rule('slo:sli_bad_events:increase5m').expr).toContain('le="0.2"')
    expect(rule('slo:objective:ratio').labels).toEqual({ slo: 'embed-latency', service: 'cortex-api' })
    const alerts = groups[1]!.rules
    expect(alerts.map((a) => [a.alert, (a.labels as Record<string, string>).severity])).toEqual([
      ['SloErrorBudgetBurn', 'page'],
      ['SloErrorBudgetBurn', 'ticket'],
    ])
    expect(alerts[0]!.annotations).toMatchObject({
      runbook_url: expect.stringMatching(/^https:/),
      summary: expect.any(String),
    })
  })

  it('alerts use the burn-rate table and comparison of the in-process evaluation', () => {
    for (const config of Object.values(configs)) {
      const slos = defineSlos(config)
      const groups = prometheusRuleGroups(slos)
      for (const o of slos.objectives) {
        const alerts = groups.find((g) => g.name.endsWith(`-${o.name}-alerts`))?.rules ?? []
        const exprs = alerts.map((a) => String(a.expr)).join(' or ')
        const thresholds = [...exprs.matchAll(/> ([0-9.e-]+)/g)].map((m) => Number(m[1]))
        expect(thresholds).toEqual(
          o.alerting.table.flatMap((t) => [t.factor * (1 - o.target), t.factor * (1 - o.target)]),
        )
        expect(exprs).not.toContain('>=')
      }
    }
  })

  it('matches both spellings of a whole-second le bucket (Prometheus 3 writes 3.0)', () => {
    const text = prometheusRules(configs['custom tiers, selector, any-method route, custom error statuses']!)
    expect(text).toContain('le=~"3(?:[.]0)?"')
    expect(text).toContain('status_code=~"5..|429"')
    expect(text).toContain('job="api",route="/health/:probe"')
  })
})

describe.skipIf(skipWithout(promtoolPath, 'promtool'))('generated rules against promtool', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cortex-slo-rules-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it.each(Object.entries(configs))('`promtool check rules` passes: %s', async (name, config) => {
    const file = join(dir, `${name.replace(/\W+/g, '-')}.yml`)
    await writeFile(file, prometheusRules(config))
    const { stdout } = await run(promtoolPath as string, ['check', 'rules', file])
    expect(stdout).toContain('SUCCESS')
  })

  async function promtoolTest(config: SloConfig, tests: YamlValue[]): Promise<void> {
    const rules = join(dir, `rules-${Math.random().toString(36).slice(2)}.yml`)
    await writeFile(rules, prometheusRules(config))
    const file = `${rules}.test.yml`
    await writeFile(file, toYaml({ rule_files: [rules], evaluation_interval: '1m', tests }))
    try {
      await run(promtoolPath as string, ['test', 'rules', file])
    } catch (err) {
      throw new Error(
        `promtool test rules failed:\n${(err as { stdout?: string }).stdout}\n${(err as { stderr?: string }).stderr}`,
      )
    }
  }

  const availability999: SloConfig = {
    service: 'api',
    objectives: [{ name: 'avail', route: '*', availability: { target: 0.999 } }],
  }
  const annotations = (config: SloConfig, severity: string) =>
    prometheusRuleGroups(config)
      .flatMap((g) => g.rules)
      .find((r) => r.alert && (r.labels as Record<string, string>).severity === severity)!
      .annotations as YamlValue
  const series = (status: string, perMinute: number, minutes: number, extra = '') => ({
    series: `http_request_duration_seconds_count{method="GET",route="/x",status_code="${status}"${extra}}`,
    values: `0+${perMinute}x${minutes}`,
  })

  it('99.9 % availability, 2 % errors: the page (and ticket) fire within five minutes', async () => {
    await promtoolTest(availability999, [
      {
        interval: '1m',
        input_series: [series('200', 980, 120), series('500', 20, 120)],
        alert_rule_test: [
          { eval_time: '0m', alertname: 'SloErrorBudgetBurn', exp_alerts: [] },
          {
            eval_time: '5m',
            alertname: 'SloErrorBudgetBurn',
            exp_alerts: [
              {
                exp_labels: { severity: 'page', slo: 'avail', service: 'api' },
                exp_annotations: annotations(availability999, 'page'),
              },
              {
                exp_labels: { severity: 'ticket', slo: 'avail', service: 'api' },
                exp_annotations: annotations(availability999, 'ticket'),
              },
            ],
          },
        ],
        promql_expr_test: [
          {
            expr: 'round(slo:sli_error:ratio_rate1h{slo="avail"} * 10000)',
            eval_time: '90m',
            exp_samples: [{ labels: '{service="api",slo="avail"}', value: 200 }],
          },
          {
            expr: 'round(slo:current_burn_rate:ratio{slo="avail"})',
            eval_time: '90m',
            exp_samples: [{ labels: '{service="api",slo="avail"}', value: 20 }],
          },
        ],
      },
    ])
  })

  it('99.9 % availability, 0.05 % errors: nothing fires in three hours', async () => {
    await promtoolTest(availability999, [
      {
        interval: '1m',
        input_series: [series('200', 19_990, 200), series('500', 10, 200)],
        alert_rule_test: [
          { eval_time: '10m', alertname: 'SloErrorBudgetBurn', exp_alerts: [] },
          { eval_time: '1h', alertname: 'SloErrorBudgetBurn', exp_alerts: [] },
          { eval_time: '3h', alertname: 'SloErrorBudgetBurn', exp_alerts: [] },
        ],
      },
    ])
  })

  it('a latency SLO alerts when too few requests fall under its bucket', async () => {
    const latency: SloConfig = {
      service: 'api',
      objectives: [{ name: 'fast', route: 'GET /x', threshold: 'p(99)<300' }],
    }
    const bucket = (le: string, perMinute: number) => ({
      series: `http_request_duration_seconds_bucket{method="GET",route="/x",status_code="200",le="${le}"}`,
      values: `0+${perMinute}x120`,
    })
    await promtoolTest(latency, [
      {
        // 50 % within 300 ms: budget 1 %, page threshold 14.4 %
        interval: '1m',
        input_series: [bucket('0.25', 40), bucket('0.3', 50), bucket('+Inf', 100), series('200', 100, 120)],
        alert_rule_test: [
          {
            eval_time: '10m',
            alertname: 'SloErrorBudgetBurn',
            exp_alerts: [
              {
                exp_labels: { severity: 'page', slo: 'fast', service: 'api' },
                exp_annotations: annotations(latency, 'page'),
              },
              {
                exp_labels: { severity: 'ticket', slo: 'fast', service: 'api' },
                exp_annotations: annotations(latency, 'ticket'),
              },
            ],
          },
        ],
      },
      {
        // 99.5 % within 300 ms: no alert
        interval: '1m',
        input_series: [bucket('0.3', 995), bucket('+Inf', 1000), series('200', 1000, 120)],
        alert_rule_test: [{ eval_time: '1h', alertname: 'SloErrorBudgetBurn', exp_alerts: [] }],
      },
    ])
  })
})
