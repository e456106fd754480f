/**
 * Our rules against Sloth's, in `promtool test rules`, on identical
 * synthetic traffic: Sloth's generated rules for its getting-started example
 * (test/fixtures, unchanged) beside ours for the same SLO. Our burn-rate
 * alerts fire with Sloth's severities, 0–3 minutes after Sloth's (our long
 * windows sum 5-minute increases; Sloth takes rate() over the window);
 * `compatibility: 'sloth'` gives the series and labels Sloth's "SLO / Detail"
 * Grafana dashboard queries; and zero traffic leaves our period figures
 * intact where Sloth's 30-day ratio turns NaN.
 */
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { isCortexError } from '@cortex/core'
import { describe, expect, it } from 'vitest'
import type { SloConfig } from './define-slos.js'
import { promtoolPath, skipWithout } from './prometheus-binaries.js'
import { prometheusRuleGroups, prometheusRules } from './prometheus-rules.js'
import { type Phase, phaseMinutes, promtoolTest, type Ramp, trafficSeries } from './promtool-scenarios.js'
import type { YamlValue } from './yaml.js'

const run = promisify(execFile)

const SLOTH_RULES = readFileSync(
  join(import.meta.dirname, '..', 'test', 'fixtures', 'sloth-getting-started.rules.yml'),
  'utf8',
)

/** Sloth's getting-started SLO, as ours: 99.9 % of `job="myservice"` requests without 5xx or 429. */
const gettingStarted: SloConfig = {
  service: 'myservice',
  selector: 'job="myservice"',
  objectives: [
    {
      name: 'requests-availability',
      route: '*',
      availability: { target: 0.999, errorStatusCodes: ['5xx', 429] },
    },
  ],
}

type Severity = 'page' | 'ticket'
const SEVERITIES: Severity[] = ['page', 'ticket']

const clean = (minutes: number, perMinute = 1000): Phase => ({ minutes, perMinute, badPerMinute: 0 })

const scenarios: { name: string; phases: (Phase | Ramp)[]; fires: Severity[] }[] = [
  {
    name: 'a 10-minute burst at 15 % that ends',
    phases: [clean(360), { minutes: 10, perMinute: 1000, badPerMinute: 150 }, clean(120)],
    fires: ['page', 'ticket'],
  },
  {
    name: 'a 3-minute total outage',
    phases: [clean(360), { minutes: 3, perMinute: 1000, badPerMinute: 1000 }, clean(120)],
    fires: ['page', 'ticket'],
  },
  {
    name: 'a 30-minute outage at low traffic',
    phases: [clean(360, 100), { minutes: 30, perMinute: 100, badPerMinute: 100 }, clean(60, 100)],
    fires: ['page', 'ticket'],
  },
  {
    name: 'a ramp from 0 to 5 % errors',
    phases: [clean(120), { minutes: 120, perMinute: 1000, fromBad: 0, toBad: 50 }, clean(60)],
    fires: ['page', 'ticket'],
  },
  {
    name: 'a step to 0.8 % errors that stays',
    phases: [clean(360), { minutes: 300, perMinute: 1000, badPerMinute: 8 }],
    fires: ['page', 'ticket'],
  },
  {
    name: 'a slow burn at 2 × budget',
    phases: [clean(360), { minutes: 540, perMinute: 1000, badPerMinute: 2 }],
    fires: ['ticket'],
  },
  {
    name: 'steady 0.05 % errors',
    phases: [{ minutes: 240, perMinute: 2000, badPerMinute: 1 }],
    fires: [],
  },
]

const OURS = (severity: Severity) =>
  `ALERTS{alertname="SloErrorBudgetBurn",alertstate="firing",severity="${severity}"}`
const SLOTHS = (severity: Severity) =>
  `ALERTS{alertname="MyServiceHighErrorRate",alertstate="firing",sloth_severity="${severity}"}`

// promtool evaluates hours of rules per scenario: seconds each, more on a loaded machine.
const SLOW = { timeout: 120_000 }

describe.skipIf(skipWithout(promtoolPath, 'promtool'))(
  'parity with Sloth (promtool, same traffic)',
  SLOW,
  () => {
    it.each(scenarios)(
      '$name: the same severities fire, ours 0–3 minutes after Sloth’s',
      async ({ phases, fires }) => {
        const end = phaseMinutes(phases)
        const first = (alerts: string) => `min_over_time(timestamp(${alerts})[${end}m:1m])`
        const exprs = SEVERITIES.map((severity) => {
          if (fires.includes(severity)) {
            const delay = `(${first(OURS(severity))} - on() ${first(SLOTHS(severity))})`
            return {
              expr: `(${delay} >= bool 0) * (${delay} <= bool 180)`,
              eval_time: `${end}m`,
              exp_samples: [{ labels: '{}', value: 1 }],
            }
          }
          const ever = (alerts: string) =>
            `(count(count_over_time(${alerts.replace('alertstate="firing",', '')}[${end}m])) or vector(0))`
          return {
            expr: `${ever(OURS(severity))} + ${ever(SLOTHS(severity))}`,
            eval_time: `${end}m`,
            exp_samples: [{ labels: '{}', value: 0 }],
          }
        })
        await promtoolTest(
          promtoolPath as string,
          { 'ours.yml': prometheusRules(gettingStarted), 'sloth.yml': SLOTH_RULES },
          [{ interval: '1m', input_series: trafficSeries(phases), promql_expr_test: exprs }],
        )
      },
    )
  },
)

// Sloth's "SLO / Detail" dashboard (grafana.com/grafana/dashboards/14348) with its variables set:
// service "myservice", slo "requests-availability", min_burning_rate 1, and each sli_window.
const D = 'sloth_service="myservice", sloth_slo="requests-availability"'
const SLI_WINDOWS = ['5m', '30m', '1h', '2h', '6h', '1d', '3d', '30d']
const ID = { sloth_id: 'myservice-requests-availability' }
const IDS = { ...ID, sloth_service: 'myservice', sloth_slo: 'requests-availability' }

/** A dashboard query, and the labels its panel reads (legend, table columns, `on(...)`). */
const dashboardQueries: { expr: string; by: string[]; labels: Record<string, string>; burning?: true }[] = [
  // variables
  { expr: 'slo:objective:ratio', by: ['sloth_service'], labels: { sloth_service: 'myservice' } },
  {
    expr: 'slo:objective:ratio{sloth_service="myservice"}',
    by: ['sloth_slo'],
    labels: { sloth_slo: 'requests-availability' },
  },
  // "Exceeded burning rate SLOs" table and "All burning rate" graph
  {
    expr: 'slo:current_burn_rate:ratio > 1',
    by: ['sloth_id', 'sloth_service', 'sloth_slo'],
    labels: IDS,
    burning: true,
  },
  { expr: `slo:objective:ratio{${D}}`, by: ['sloth_id'], labels: ID },
  // "SLI" graph, for every choice of its window (the `OR on() vector(0)` fallback left out: it hides a missing series)
  ...SLI_WINDOWS.map((w) => ({
    expr: `slo:sli_error:ratio_rate${w}{${D}}`,
    by: ['sloth_id', 'sloth_window'],
    labels: { ...ID, sloth_window: w },
  })),
  { expr: `sloth_slo_info{${D}}`, by: ['sloth_objective'], labels: { sloth_objective: '99.9' } },
  { expr: `slo:current_burn_rate:ratio{${D}}`, by: ['sloth_id'], labels: ID },
  // "Remaining error budget (month)": one series per sloth_id on each side of `/ on(sloth_id)`
  {
    expr: `1-(sum_over_time((slo:sli_error:ratio_rate1h{${D}} * on() group_left() (month() == bool vector(1)))[32d:1h]) / on(sloth_id) (slo:error_budget:ratio{${D}} *on() group_left() (24 * days_in_month())))`,
    by: ['sloth_id'],
    labels: ID,
  },
  { expr: `slo:period_error_budget_remaining:ratio{${D}}`, by: ['sloth_id'], labels: ID },
  // "Burn rate (speed) magnitude" heatmap
  { expr: `slo:current_burn_rate:ratio{${D}} > 0`, by: ['sloth_id'], labels: ID, burning: true },
  // every Sloth-named record, with the Sloth labels Sloth gives it
  ...(
    [
      ['slo:error_budget:ratio', {}],
      ['slo:time_period:days', {}],
      ['slo:current_burn_rate:ratio', { sloth_window: '5m' }],
      ['slo:period_burn_rate:ratio', { sloth_window: '30d' }],
      ['slo:period_error_budget_remaining:ratio', { sloth_window: '30d' }],
    ] as [string, Record<string, string>][]
  ).map(([name, extra]) => ({
    expr: `${name}{${D}}`,
    by: ['sloth_id', 'sloth_service', 'sloth_slo', 'sloth_window'],
    labels: { ...IDS, ...extra },
  })),
]

/** The dashboard's two alert panels: 1 while firing, 0 otherwise. */
const alertPanels = (page: number, ticket: number) => [
  { expr: `max(ALERTS{${D}, sloth_severity="ticket"}) OR on() vector(0)`, value: ticket },
  { expr: `max(ALERTS{${D}, sloth_severity="page"}) or on() vector(0)`, value: page },
]

function dashboardTests(at: number, page: number, ticket: number): YamlValue[] {
  const promLabels = (labels: Record<string, string>) =>
    `{${Object.entries(labels)
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(',')}}`
  return [
    ...dashboardQueries.map(({ expr, by, labels, burning }) => ({
      expr: `count by (${by.join(', ')}) (${expr})`,
      eval_time: `${at}m`,
      // The burning panels list the SLO only while its 5m ratio burns budget.
      exp_samples: burning && page === 0 ? [] : [{ labels: promLabels(labels), value: 1 }],
    })),
    ...alertPanels(page, ticket).map(({ expr, value }) => ({
      expr,
      eval_time: `${at}m`,
      exp_samples: [{ labels: '{}', value }],
    })),
  ]
}

describe("prometheusRules(slos, { compatibility: 'sloth' })", () => {
  it('adds Sloth’s labels and info series; the default output has none of them', () => {
    const sloth = prometheusRules(gettingStarted, { compatibility: 'sloth' })
    const plain = prometheusRules(gettingStarted)
    for (const name of [
      'sloth_id',
      'sloth_service',
      'sloth_slo',
      'sloth_window',
      'sloth_severity',
      'sloth_slo_info',
    ]) {
      expect(sloth).toContain(name)
      expect(plain).not.toContain(name)
    }
    expect(prometheusRules(gettingStarted, {})).toBe(plain)
  })

  it('refuses an unknown compatibility, naming the option and what is allowed', () => {
    const attempt = () => prometheusRuleGroups(gettingStarted, { compatibility: 'pyrra' as 'sloth' })
    expect(attempt).toThrow(/`compatibility`.*'sloth'.*"pyrra"/)
    try {
      attempt()
    } catch (err) {
      expect(isCortexError(err, 'ERR_CORTEX_CONFIG')).toBe(true)
    }
  })

  describe.skipIf(skipWithout(promtoolPath, 'promtool'))('Sloth’s dashboard queries (promtool)', SLOW, () => {
    // Ten minutes at 15 % errors from minute 360: both page and ticket fire by 372; at 380 only the ticket.
    const burst = [clean(360), { minutes: 10, perMinute: 1000, badPerMinute: 150 }, clean(120)]
    const tests = [
      {
        interval: '1m',
        input_series: trafficSeries(burst),
        promql_expr_test: [...dashboardTests(372, 1, 1), ...dashboardTests(380, 0, 1)],
      },
    ]

    it('Sloth’s own rules give what the dashboard reads (the test checks itself)', async () => {
      await promtoolTest(promtoolPath as string, { 'sloth.yml': SLOTH_RULES }, tests)
    })

    it('`promtool check rules` accepts Sloth mode for several objectives, latency ones and custom tiers included', async () => {
      const config: SloConfig = {
        service: 'cortex-api',
        window: '28d',
        alerting: { for: '2m', labels: { team: 'ml' } },
        objectives: [
          { name: 'embed-latency', route: 'POST /embed', latency: { percentile: 95, thresholdMs: 200 } },
          { name: 'whole-second', route: 'GET /slow', threshold: 'p(99.9)<3000' },
          {
            name: 'availability',
            route: '*',
            availability: { errorRate: 0.005 },
            alerting: {
              tiers: [{ severity: 'page', longWindow: '2h', shortWindow: '10m', budgetConsumed: 0.05 }],
            },
          },
        ],
      }
      const dir = await mkdtemp(join(tmpdir(), 'cortex-slo-sloth-'))
      try {
        const file = join(dir, 'rules.yml')
        await writeFile(file, prometheusRules(config, { compatibility: 'sloth' }))
        const { stdout } = await run(promtoolPath as string, ['check', 'rules', file])
        expect(stdout).toContain('SUCCESS')
      } finally {
        await rm(dir, { recursive: true, force: true })
      }
    })

    it('ours in Sloth mode give the same series, labels and alert panels', async () => {
      const ours = prometheusRules(gettingStarted, { compatibility: 'sloth' })
      await promtoolTest(promtoolPath as string, { 'ours.yml': ours }, tests)
    })
  })
})

type State = 'number' | 'NaN' | 'absent'
const WINDOWS = ['5m', '30m', '1h', '2h', '6h', '1d', '3d', '30d'] as const

/** Promtool checks that `expr` holds a number, NaN, or nothing at minute `at`. */
function stateIs(expr: string, at: number, state: State): YamlValue[] {
  const count = (cmp: string) => `count((${expr}) ${cmp} (${expr})) or vector(0)`
  return [
    {
      expr: count('=='),
      eval_time: `${at}m`,
      exp_samples: [{ labels: '{}', value: state === 'number' ? 1 : 0 }],
    },
    {
      expr: count('!='),
      eval_time: `${at}m`,
      exp_samples: [{ labels: '{}', value: state === 'NaN' ? 1 : 0 }],
    },
  ]
}

/**
 * What every record says at minute `at`: the SLI windows listed in `nan` are
 * NaN (0 / 0: no request in the window), every other record is a number;
 * `absent` lists records with no series at all.
 */
function records(sel: string, at: number, nan: string[], absent: string[] = []): YamlValue[] {
  const names = [
    ...WINDOWS.map((w) => `slo:sli_error:ratio_rate${w}`),
    'slo:objective:ratio',
    'slo:error_budget:ratio',
    'slo:time_period:days',
    'slo:current_burn_rate:ratio',
    'slo:period_burn_rate:ratio',
    'slo:period_error_budget_remaining:ratio',
  ]
  return names.flatMap((name) =>
    stateIs(`${name}${sel}`, at, absent.includes(name) ? 'absent' : nan.includes(name) ? 'NaN' : 'number'),
  )
}

const OUR_SEL = '{slo="requests-availability",service="myservice"}'
const SLOTH_SEL = `{${D}}`
const noAlertsEver = (end: number): YamlValue => ({
  expr: `count(count_over_time(ALERTS[${end}m])) or vector(0)`,
  eval_time: `${end}m`,
  exp_samples: [{ labels: '{}', value: 0 }],
})

describe.skipIf(skipWithout(promtoolPath, 'promtool'))('zero traffic (promtool)', SLOW, () => {
  // Six hours at 0.05 % errors, two idle hours (counters flat), one more hour of traffic.
  const idle = [
    { minutes: 360, perMinute: 2000, badPerMinute: 1 },
    { minutes: 120, perMinute: 0, badPerMinute: 0 },
    { minutes: 60, perMinute: 2000, badPerMinute: 1 },
  ]
  const idleWindows = ['5m', '30m', '1h'].map((w) => `slo:sli_error:ratio_rate${w}`)
  const run = (rules: Record<string, string>, exprs: YamlValue[]) =>
    promtoolTest(promtoolPath as string, rules, [
      { interval: '1m', input_series: trafficSeries(idle), promql_expr_test: exprs },
    ])

  it('ours: windows without requests are NaN while idle; the period’s ratio, burn rate and budget stay numbers; no alert', async () => {
    await run({ 'ours.yml': prometheusRules(gettingStarted) }, [
      // 110 minutes idle: the 5m, 30m and 1h windows (and the current burn rate) hold no request.
      ...records(OUR_SEL, 470, [...idleWindows, 'slo:current_burn_rate:ratio']),
      // An hour after traffic resumed: every record is a number again.
      ...records(OUR_SEL, 540, []),
      noAlertsEver(540),
    ])
  })

  it('Sloth’s: the same idle windows are NaN, and so are its 30d ratio, period burn rate and remaining budget, after traffic resumes', async () => {
    const poisoned = [
      'slo:sli_error:ratio_rate30d',
      'slo:period_burn_rate:ratio',
      'slo:period_error_budget_remaining:ratio',
    ]
    await run({ 'sloth.yml': SLOTH_RULES }, [
      ...records(SLOTH_SEL, 470, [...idleWindows, 'slo:current_burn_rate:ratio', ...poisoned]),
      ...records(SLOTH_SEL, 540, poisoned),
      noAlertsEver(540),
    ])
  })

  it('ours: a page firing when traffic stops resolves once its windows hold no request', async () => {
    // Ten minutes at 15 % errors, then no requests at all.
    const stops = [clean(360), { minutes: 10, perMinute: 1000, badPerMinute: 150 }, idle[1] as Phase]
    const pages = `count(ALERTS{alertname="SloErrorBudgetBurn",alertstate="firing",severity="page"}) or vector(0)`
    await promtoolTest(promtoolPath as string, { 'ours.yml': prometheusRules(gettingStarted) }, [
      {
        interval: '1m',
        input_series: trafficSeries(stops),
        promql_expr_test: [
          { expr: pages, eval_time: '372m', exp_samples: [{ labels: '{}', value: 1 }] },
          ...stateIs(`slo:sli_error:ratio_rate5m${OUR_SEL}`, 385, 'NaN'),
          { expr: pages, eval_time: '385m', exp_samples: [{ labels: '{}', value: 0 }] },
        ],
      },
    ])
  })

  it('ours with no request series at all: no SLI, burn-rate or budget series (not NaN), the constants, no alert', async () => {
    const sliAndBudget = [
      ...WINDOWS.map((w) => `slo:sli_error:ratio_rate${w}`),
      'slo:current_burn_rate:ratio',
      'slo:period_burn_rate:ratio',
      'slo:period_error_budget_remaining:ratio',
    ]
    await promtoolTest(promtoolPath as string, { 'ours.yml': prometheusRules(gettingStarted) }, [
      {
        interval: '1m',
        input_series: [{ series: 'up{job="myservice"}', values: '1x120' }],
        promql_expr_test: [...records(OUR_SEL, 120, [], sliAndBudget), noAlertsEver(120)],
      },
    ])
  })
})
