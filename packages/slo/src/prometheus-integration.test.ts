/**
 * The generated rules and dashboard against a real Prometheus: it scrapes a
 * loopback server instrumented by the tracker, evaluates the generated
 * rules, and the recording rules must agree with the tracker's own report;
 * every dashboard query must evaluate.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defineSlos } from './define-slos.js'
import { dashboardQueries, grafanaDashboard } from './grafana-dashboard.js'
import { prometheusPath, skipWithout } from './prometheus-binaries.js'
import { prometheusRules } from './prometheus-rules.js'
import { createSloTracker, type SloReport } from './slo-tracker.js'

const slos = defineSlos({
  service: 'cortex-api',
  window: '30d',
  objectives: [
    { name: 'embed-latency', route: 'POST /embed/multimodal', latency: { percentile: 95, thresholdMs: 200 } },
    { name: 'plan-latency', route: 'POST /agents/plan', threshold: 'p(95)<2000' },
    { name: 'availability', route: '*', availability: { errorRate: 0.005 } },
  ],
})

// One round of traffic: [method, path, simulated duration ms, status].
const ROUND: [string, string, number, number][] = [
  ...Array.from(
    { length: 34 },
    () => ['POST', '/embed/multimodal', 50, 200] as [string, string, number, number],
  ),
  ...Array.from(
    { length: 4 },
    () => ['POST', '/embed/multimodal', 350, 200] as [string, string, number, number],
  ),
  ['POST', '/embed/multimodal', 120, 500],
  ['POST', '/embed/multimodal', 900, 503],
  ...Array.from({ length: 19 }, () => ['POST', '/agents/plan', 500, 200] as [string, string, number, number]),
  ['POST', '/agents/plan', 2500, 200],
  ...Array.from(
    { length: 10 },
    (_, i) => ['GET', `/no/such/page/${i}`, 1, 404] as [string, string, number, number],
  ),
]
const ROUTES = new Set(['POST /embed/multimodal', 'POST /agents/plan'])

async function freePort(): Promise<number> {
  const s = createServer()
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r))
  const { port } = s.address() as AddressInfo
  await new Promise((r) => s.close(r))
  return port
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe.skipIf(skipWithout(prometheusPath, 'prometheus'))(
  'a real Prometheus scraping a tracked server',
  () => {
    const registry = new Registry()
    const tracker = createSloTracker(slos, { registry })
    let server: Server
    let serverUrl: string
    let prometheus: ChildProcess
    let promUrl: string
    let dir: string
    let promLog = ''
    // While closed, /metrics waits: a scrape never sees half a round of traffic.
    let gate: Promise<void> = Promise.resolve()

    async function query(expr: string): Promise<{
      status: string
      data: { result: { metric: Record<string, string>; value: [number, string] }[] }
      error?: string
    }> {
      const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`)
      return (await res.json()) as never
    }

    async function value(expr: string): Promise<number> {
      const body = await query(expr)
      expect(body.status, `${expr}: ${body.error}`).toBe('success')
      expect(body.data.result, expr).toHaveLength(1)
      return Number(body.data.result[0]!.value[1])
    }

    async function sendRound(): Promise<void> {
      for (const [method, path, ms, status] of ROUND) {
        const res = await fetch(`${serverUrl}${path}?ms=${ms}&status=${status}`, { method })
        await res.arrayBuffer()
      }
    }

    async function until(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
      const deadline = Date.now() + timeoutMs
      while (Date.now() < deadline) {
        if (await check().catch(() => false)) return
        await sleep(200)
      }
      throw new Error(`timed out waiting for ${what}\n${promLog.slice(-2000)}`)
    }

    beforeAll(async () => {
      server = createServer((req, res) => {
        const url = new URL(req.url ?? '/', 'http://x')
        if (url.pathname === '/metrics') {
          void gate.then(async () => {
            res.setHeader('content-type', registry.contentType)
            res.end(await registry.metrics())
          })
          return
        }
        const key = `${req.method} ${url.pathname}`
        const status = Number(url.searchParams.get('status'))
        tracker.record({
          method: req.method ?? 'GET',
          route: ROUTES.has(key) ? url.pathname : undefined,
          statusCode: status,
          durationMs: Number(url.searchParams.get('ms')),
        })
        req.resume()
        res.statusCode = status
        res.end()
      })
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
      serverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

      // Round one creates every series before Prometheus first scrapes (increase() cannot see a series' first value).
      await sendRound()

      dir = await mkdtemp(join(tmpdir(), 'cortex-slo-prom-'))
      await writeFile(join(dir, 'rules.yml'), prometheusRules(slos))
      await writeFile(
        join(dir, 'prometheus.yml'),
        [
          'global:',
          '  scrape_interval: 1s',
          '  scrape_timeout: 1s',
          '  evaluation_interval: 1s',
          'rule_files:',
          `  - ${JSON.stringify(join(dir, 'rules.yml'))}`,
          'scrape_configs:',
          '  - job_name: cortex',
          '    static_configs:',
          `      - targets: ['${serverUrl.slice('http://'.length)}']`,
          '',
        ].join('\n'),
      )
      const port = await freePort()
      promUrl = `http://127.0.0.1:${port}`
      prometheus = spawn(
        prometheusPath as string,
        [
          `--config.file=${join(dir, 'prometheus.yml')}`,
          `--storage.tsdb.path=${join(dir, 'data')}`,
          `--web.listen-address=127.0.0.1:${port}`,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      )
      prometheus.stdout?.on('data', (d) => (promLog += d))
      prometheus.stderr?.on('data', (d) => (promLog += d))
      await until(async () => (await fetch(`${promUrl}/-/ready`)).ok, 'Prometheus to start')
      // Two scrapes of round one: every series has a baseline sample.
      await until(
        async () => (await value('count_over_time(up{job="cortex"}[1m])')) >= 2,
        'two scrapes of the first round',
      )
      gate = new Promise<void>((release) => {
        void sendRound().then(release)
      })
      await gate
      // Two more scrapes and rule evaluations after the second round.
      const after = Date.now() / 1000
      await until(async () => {
        const body = await query('timestamp(slo:sli_error:ratio_rate5m{slo="availability"})')
        return Number(body.data.result[0]?.value[1] ?? 0) > after + 2
      }, 'rules evaluated after the second round')
    }, 30_000)

    afterAll(async () => {
      prometheus?.kill('SIGKILL')
      await new Promise((r) => server?.close(r))
      server?.closeAllConnections?.()
      tracker.close()
      if (dir) await rm(dir, { recursive: true, force: true })
    })

    it('recording rules match the tracker’s own report', async () => {
      const report: SloReport = tracker.report()
      const close = (a: number, b: number) =>
        expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(b)))
      for (const o of report.objectives) {
        const sel = `{slo="${o.name}",service="cortex-api"}`
        // 1 − 0.95 and friends are not exact in binary floating point: compare with a tolerance.
        close(await value(`slo:objective:ratio${sel}`), o.target)
        close(await value(`1 - slo:sli_error:ratio_rate5m${sel}`), o.sli)
        close(await value(`1 - slo:sli_error:ratio_rate30d${sel}`), o.sli)
        close(await value(`slo:current_burn_rate:ratio${sel}`), o.burnRates['5m'])
        for (const w of ['30m', '1h', '6h'] as const) {
          close(
            await value(`slo:sli_error:ratio_rate${w}${sel} / slo:error_budget:ratio${sel}`),
            o.burnRates[w],
          )
        }
        close(await value(`slo:period_error_budget_remaining:ratio${sel}`), o.errorBudgetRemaining)
        // and the in-process gauges scraped from the same server
        close(await value(`slo_error_budget_remaining_ratio{slo="${o.name}"}`), o.errorBudgetRemaining)
      }
      const embed = report.objectives.find((o) => o.name === 'embed-latency')!
      expect(embed.sli).toBeCloseTo(35 / 40, 12)
      expect(report.objectives.find((o) => o.name === 'availability')!.sli).toBeCloseTo(68 / 70, 12)
      // a flood of distinct 404 URLs is one series per status code, not one per URL
      const unmatched = await query('http_request_duration_seconds_count{route="__unmatched__"}')
      expect(unmatched.data.result).toHaveLength(1)
    })

    it('every Grafana panel query evaluates without error', async () => {
      const queries = dashboardQueries(grafanaDashboard(slos), '1m')
      expect(queries.length).toBeGreaterThan(10)
      for (const q of queries) {
        const body = await query(q)
        expect(body.status, `${q}: ${body.error}`).toBe('success')
        expect(body.data.result.length, `no data for ${q}`).toBeGreaterThan(0)
      }
    })
  },
)
