/**
 * Test support (not exported): synthetic request traffic for `promtool test
 * rules`, and a runner that writes rule files and a test file to a temporary
 * folder and reports promtool's failures as an error with its output.
 * Traffic is a list of phases (minutes, requests and bad requests per
 * minute); it becomes cumulative counters sampled once a minute, so the
 * windows of the rules see traffic that differs between them.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { toYaml, type YamlValue } from './yaml.js'

const run = promisify(execFile)

/** `minutes` minutes of `perMinute` requests, of which `badPerMinute` fail (5xx). */
export interface Phase {
  minutes: number
  perMinute: number
  badPerMinute: number
}

/** A phase whose bad share moves linearly from `fromBad` to `toBad` per minute. */
export interface Ramp {
  minutes: number
  perMinute: number
  fromBad: number
  toBad: number
}

/** Labels of the synthetic series: Sloth's example selects `job` and `code`, ours `status_code`. */
const BASE_LABELS = 'job="myservice",method="GET",route="/x"'

/**
 * Cumulative request and bad-request counts at every minute from t = 0 (index
 * = minute). A ramp's bad requests per minute are rounded so the counters
 * stay whole numbers.
 */
export function counters(phases: (Phase | Ramp)[]): { total: number[]; bad: number[] } {
  const total: number[] = [0]
  const bad: number[] = [0]
  for (const p of phases) {
    for (let i = 0; i < p.minutes; i++) {
      const b =
        'badPerMinute' in p
          ? p.badPerMinute
          : Math.round(p.fromBad + ((p.toBad - p.fromBad) * (i + 1)) / p.minutes)
      total.push((total.at(-1) as number) + p.perMinute)
      bad.push((bad.at(-1) as number) + b)
    }
  }
  return { total, bad }
}

/** The true error ratio of the requests in the `minutes` before minute `at` (what a window's rule should say). */
export function windowErrorRatio(phases: (Phase | Ramp)[], at: number, minutes: number): number {
  const { total, bad } = counters(phases)
  const from = Math.max(0, at - minutes)
  return ((bad[at] as number) - (bad[from] as number)) / ((total[at] as number) - (total[from] as number))
}

/**
 * `http_request_duration_seconds_count` series (one 200, one 500) for the
 * phases, sampled every minute from t = 0.
 */
export function trafficSeries(phases: (Phase | Ramp)[]): { series: string; values: string }[] {
  const { total, bad } = counters(phases)
  const series = (code: string, values: number[]) => ({
    series: `http_request_duration_seconds_count{${BASE_LABELS},status_code="${code}",code="${code}"}`,
    values: values.join(' '),
  })
  return [
    series(
      '200',
      total.map((t, i) => t - (bad[i] as number)),
    ),
    series('500', bad),
  ]
}

/** Total minutes the phases last. */
export function phaseMinutes(phases: (Phase | Ramp)[]): number {
  return phases.reduce((sum, p) => sum + p.minutes, 0)
}

/**
 * Runs `promtool test rules` over `ruleFiles` (name → YAML text) and the
 * given tests; rejects with promtool's output when a test fails.
 */
export async function promtoolTest(
  promtool: string,
  ruleFiles: Record<string, string>,
  tests: YamlValue[],
): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'cortex-slo-promtool-'))
  try {
    const names: string[] = []
    for (const [name, text] of Object.entries(ruleFiles)) {
      await writeFile(join(dir, name), text)
      names.push(join(dir, name))
    }
    const file = join(dir, 'test.yml')
    // promtool evaluates groups in no fixed order unless told: recordings first, then alerts, so an
    // alert always reads the records of the same evaluation (not a minute-old value, at random).
    const groups = Object.values(ruleFiles).flatMap((text) =>
      [...text.matchAll(/^ *- name: '?([^'\n]+?)'?$/gm)].map((m) => m[1] as string),
    )
    const order = [...groups.filter((g) => !/alert/.test(g)), ...groups.filter((g) => /alert/.test(g))]
    await writeFile(
      file,
      toYaml({ rule_files: names, evaluation_interval: '1m', group_eval_order: order, tests }),
    )
    try {
      await run(promtool, ['test', 'rules', file], { maxBuffer: 64 * 1024 * 1024 })
    } catch (err) {
      const { stdout, stderr } = err as { stdout?: string; stderr?: string }
      throw new Error(`promtool test rules failed:\n${stdout ?? ''}\n${stderr ?? ''}`)
    }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}
