/**
 * The generated rules' behaviour under traffic that differs between windows,
 * evaluated by `promtool test rules`: which severity fires and when it
 * clears for a burst that ends, a slow burn and a ramp, what the recording
 * rules say meanwhile, and that `for:` delays the alerts. Each expectation
 * leaves minutes of margin around the moment it asserts, so it states the
 * behaviour, not an evaluation step.
 */
import { describe, it } from 'vitest'
import type { SloConfig } from './define-slos.js'
import { promtoolPath, skipWithout } from './prometheus-binaries.js'
import { prometheusRuleGroups, prometheusRules } from './prometheus-rules.js'
import { type Phase, promtoolTest, type Ramp, trafficSeries, windowErrorRatio } from './promtool-scenarios.js'
import type { YamlValue } from './yaml.js'

// 99.9 %: budget 0.001; page at 14.4× (1h/5m) or 6× (6h/30m), ticket at 3× (1d/2h) or 1× (3d/6h).
const slo: SloConfig = {
  service: 'api',
  objectives: [{ name: 'avail', route: '*', availability: { target: 0.999 } }],
}
const BUDGET = 0.001
const SEL = '{slo="avail",service="api"}'
const LABELS = '{service="api",slo="avail"}'

type Severity = 'page' | 'ticket'

function firing(config: SloConfig, at: number, severities: Severity[]): YamlValue {
  const alerts = prometheusRuleGroups(config)
    .flatMap((g) => g.rules)
    .filter((r) => r.alert !== undefined)
  return {
    eval_time: `${at}m`,
    alertname: 'SloErrorBudgetBurn',
    exp_alerts: severities.map((severity) => {
      const rule = alerts.find((r) => (r.labels as Record<string, string>).severity === severity)!
      return { exp_labels: rule.labels as YamlValue, exp_annotations: rule.annotations as YamlValue }
    }),
  }
}

/** `expr` is within `tolerance` of `expected` at minute `at`. */
function near(expr: string, at: number, expected: number, tolerance: number): YamlValue {
  return {
    expr: `abs((${expr}) - ${expected}) < bool ${tolerance}`,
    eval_time: `${at}m`,
    exp_samples: [{ labels: LABELS, value: 1 }],
  }
}

/** `expr` (a comparison with `bool`) holds at minute `at`. */
function holds(expr: string, at: number): YamlValue {
  return { expr, eval_time: `${at}m`, exp_samples: [{ labels: LABELS, value: 1 }] }
}

async function scenario(
  config: SloConfig,
  phases: (Phase | Ramp)[],
  alerts: YamlValue[],
  exprs: YamlValue[] = [],
): Promise<void> {
  await promtoolTest(promtoolPath as string, { 'rules.yml': prometheusRules(config) }, [
    { interval: '1m', input_series: trafficSeries(phases), alert_rule_test: alerts, promql_expr_test: exprs },
  ])
}

const clean = (minutes: number): Phase => ({ minutes, perMinute: 1000, badPerMinute: 0 })

describe.skipIf(skipWithout(promtoolPath, 'promtool'))(
  'generated rules under changing traffic (promtool)',
  { timeout: 120_000 },
  () => {
    // Six clean hours, ten minutes at 15 % errors (minutes 360–370), then clean again.
    const burst = [clean(360), { minutes: 10, perMinute: 1000, badPerMinute: 150 }, clean(400)]

    it('a burst that ends: the page fires within minutes and clears once the 5m window is clean, though the 1h window still burns', async () => {
      await scenario(
        slo,
        burst,
        [
          firing(slo, 359, []),
          firing(slo, 372, ['page', 'ticket']),
          // 10 minutes after the burst: the 1h ratio is still above 14.4 × budget, the 5m ratio is 0.
          firing(slo, 380, ['ticket']),
          // Six hours after it, the 6h window no longer holds the burst: the ticket has cleared too.
          firing(slo, 760, []),
        ],
        [
          near(`slo:sli_error:ratio_rate5m${SEL}`, 368, windowErrorRatio(burst, 368, 5), 1e-9),
          near(`slo:current_burn_rate:ratio${SEL}`, 368, windowErrorRatio(burst, 368, 5) / BUDGET, 1e-6),
          near(`slo:sli_error:ratio_rate5m${SEL}`, 380, 0, 1e-12),
          near(`slo:current_burn_rate:ratio${SEL}`, 380, 0, 1e-9),
          holds(`slo:sli_error:ratio_rate1h${SEL} > bool ${14.4 * BUDGET}`, 380),
          near(`slo:sli_error:ratio_rate1h${SEL}`, 380, windowErrorRatio(burst, 380, 60), 1e-3),
          near(`slo:sli_error:ratio_rate30m${SEL}`, 380, windowErrorRatio(burst, 380, 30), 2e-3),
          // The period's ratio and remaining budget count every request since the start.
          near(
            `slo:period_burn_rate:ratio${SEL}`,
            760,
            windowErrorRatio(burst, 760, 30 * 1440) / BUDGET,
            0.02,
          ),
          near(
            `slo:period_error_budget_remaining:ratio${SEL}`,
            760,
            1 - windowErrorRatio(burst, 760, 30 * 1440) / BUDGET,
            0.02,
          ),
        ],
      )
    })

    it('a slow burn at 2 × budget: no page ever; the ticket fires only once the 3d window crosses 1 × too', async () => {
      // Six clean hours, then 0.2 % errors for nine hours: the 6h window crosses 0.1 % after three
      // hours (minute 540), the 3d window (all the data) after six (minute 720).
      const slow = [clean(360), { minutes: 540, perMinute: 1000, badPerMinute: 2 }]
      await scenario(
        slo,
        slow,
        [
          firing(slo, 600, []),
          firing(slo, 700, []),
          firing(slo, 740, ['ticket']),
          firing(slo, 900, ['ticket']),
        ],
        [
          holds(`slo:sli_error:ratio_rate6h${SEL} > bool ${BUDGET}`, 600),
          holds(`slo:sli_error:ratio_rate3d${SEL} < bool ${BUDGET}`, 600),
          near(
            `slo:period_burn_rate:ratio${SEL}`,
            900,
            windowErrorRatio(slow, 900, 30 * 1440) / BUDGET,
            0.02,
          ),
        ],
      )
    })

    it('a ramp from 0 to 5 % errors: the page waits for the 1h window, then clears after the ramp stops', async () => {
      // Two clean hours, two hours ramping to 50 bad per minute, one clean hour.
      const ramp = [clean(120), { minutes: 120, perMinute: 1000, fromBad: 0, toBad: 50 }, clean(60)]
      await scenario(
        slo,
        ramp,
        [
          firing(slo, 140, []),
          // The 5m ratio passed 14.4 × budget near minute 155; the 1h ratio has not yet.
          firing(slo, 175, ['ticket']),
          firing(slo, 200, ['page', 'ticket']),
          firing(slo, 280, ['ticket']),
        ],
        [
          holds(`slo:sli_error:ratio_rate5m${SEL} > bool ${14.4 * BUDGET}`, 175),
          holds(`slo:sli_error:ratio_rate1h${SEL} < bool ${14.4 * BUDGET}`, 175),
          near(`slo:sli_error:ratio_rate5m${SEL}`, 240, windowErrorRatio(ramp, 240, 5), 1e-9),
          near(`slo:current_burn_rate:ratio${SEL}`, 240, windowErrorRatio(ramp, 240, 5) / BUDGET, 1e-6),
          near(`slo:sli_error:ratio_rate6h${SEL}`, 240, windowErrorRatio(ramp, 240, 360), 1e-3),
        ],
      )
    })

    it('`for:` holds an alert back: a burst shorter than it never pages; the ticket fires late', async () => {
      const held: SloConfig = { ...slo, alerting: { for: '10m' } }
      await scenario(held, burst, [
        // Both conditions hold from about minute 365 (ticket) and 368 (page, for seven minutes).
        firing(held, 372, []),
        firing(held, 374, []),
        firing(held, 380, ['ticket']),
      ])
    })

    it('the dashboard-facing records are constant series per objective', async () => {
      await scenario(
        slo,
        [clean(30)],
        [],
        [
          near(`slo:objective:ratio${SEL}`, 20, 0.999, 1e-12),
          near(`slo:error_budget:ratio${SEL}`, 20, BUDGET, 1e-12),
          near(`slo:time_period:days${SEL}`, 20, 30, 1e-12),
        ],
      )
    })
  },
)
