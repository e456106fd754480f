/**
 * The stack under node:cluster, with real forked workers (`cluster-server.ts`):
 * the primary's `AggregatorRegistry.clusterMetrics()` gives every cortex gauge
 * its true value (each declares how it aggregates; summing doubles them), the
 * memory store gives each worker its own budget, and the power mode is decided
 * once, in the primary, and followed by every worker.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { request } from 'node:http'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const here = dirname(fileURLToPath(import.meta.url))
let child: ChildProcess | undefined
let urls: { metricsUrl: string; appUrl: string }

beforeAll(async () => {
  // Its own process group: afterAll ends the primary and its workers together.
  child = spawn(process.execPath, ['--import', 'tsx', join(here, 'cluster-server.ts')], {
    cwd: join(here, '..'),
    env: { ...process.env, TSX_TSCONFIG_PATH: join(here, '../../../tsconfig.sources.json') },
    stdio: ['pipe', 'pipe', 'inherit'],
    detached: true,
  })
  urls = await new Promise((resolve, reject) => {
    child?.once('exit', (code) => reject(new Error(`the cluster exited early (${code})`)))
    createInterface({ input: child?.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      if (line.startsWith('{')) resolve(JSON.parse(line))
    })
  })
}, 120_000)

afterAll(() => {
  if (child?.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGKILL')
})

/** One request on its own connection (so the cluster balances it like any new client). */
function send(
  method: string,
  url: string,
): Promise<{ status: number; worker: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        body += chunk
      })
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, worker: res.headers['x-worker'] as string | undefined, body }),
      )
    })
    req.on('error', reject)
    req.end()
  })
}

/** Sends `path` until every one of `workers` has answered it with `status`; returns how many were sent. */
async function untilEachWorker(path: string, workers: number, status?: number): Promise<number> {
  const seen = new Set<string>()
  let sent = 0
  while (seen.size < workers && sent < 500) {
    const r = await send('GET', `${urls.appUrl}${path}`)
    sent++
    if (r.worker !== undefined && (status === undefined || r.status === status)) seen.add(r.worker)
  }
  expect(seen.size).toBe(workers)
  return sent
}

/** The primary's aggregated metrics as `series → value`. */
async function scrape(): Promise<Map<string, number>> {
  let { status, body } = await send('GET', `${urls.metricsUrl}/metrics`)
  // prom-client gives workers 5 s to answer; a loaded machine may take longer: ask again.
  for (let retry = 0; retry < 3 && status === 500 && /timed out/.test(body); retry++) {
    ;({ status, body } = await send('GET', `${urls.metricsUrl}/metrics`))
  }
  expect(status).toBe(200)
  const series = new Map<string, number>()
  for (const line of body.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const at = line.lastIndexOf(' ')
    series.set(line.slice(0, at), Number(line.slice(at + 1)))
  }
  return series
}

describe('node:cluster: two forked workers behind the primary’s AggregatorRegistry', () => {
  it('every cortex gauge aggregates to its true value, and counters add up', {
    timeout: 120_000,
  }, async () => {
    const sent = await untilEachWorker('/work', 2)
    // Each worker's memory store holds its own budget (1 per hour): refused only once each worker spent its own.
    await untilEachWorker('/limited', 2, 429)
    const m = await scrape()

    // Configuration: the same in every worker, given once.
    expect(m.get('slo_objective_ratio{slo="availability"}')).toBe(0.95)
    expect(m.get('power_budget_watts')).toBe(100)
    expect(m.get('carbon_intensity_grams_per_kwh')).toBe(300)
    // Flags: modelled anywhere → modelled; the store is up only if it is up in every worker.
    expect(m.get('energy_estimated')).toBe(1)
    expect(m.get('cortex_rate_limit_store_up')).toBe(1)
    // One mode per machine: 1 for it, 0 for the others.
    expect(m.get('power_mode{mode="normal"}')).toBe(1)
    expect(m.get('power_mode{mode="low"}')).toBe(0)
    // Per-worker ratios: the worst worker (worker 1 fails every /work); the host's own ratio lies between.
    const good = m.get('http_request_duration_seconds_count{method="GET",route="/work",status_code="200"}')
    const bad = m.get('http_request_duration_seconds_count{method="GET",route="/work",status_code="500"}')
    expect((good ?? 0) + (bad ?? 0)).toBe(sent)
    expect(m.get('slo_sli_ratio{slo="availability"}')).toBe(0)
    expect(m.get('slo_error_budget_remaining_ratio{slo="availability"}')).toBeCloseTo(1 - 1 / 0.05, 9)
    expect(m.get('slo_burn_rate{slo="availability",window="5m"}')).toBeCloseTo(1 / 0.05, 9)
    // Amounts held by each worker add up: one client key per worker, nothing waiting.
    expect(m.get('cortex_rate_limit_keys{store="primary"}')).toBe(2)
    expect(m.get('cortex_rate_limit_pending_waits')).toBe(0)
    expect(m.get('cortex_rate_limit_decisions_total{policy="GET /limited",outcome="allowed"}')).toBe(2)
  })

  it('the power mode is decided once, in the primary: a scrape after its change finds every worker in it', {
    timeout: 120_000,
  }, async () => {
    expect((await send('POST', `${urls.metricsUrl}/mode/low`)).body).toBe('low')
    let m = await scrape()
    expect(m.get('power_mode{mode="low"}')).toBe(1)
    expect(m.get('power_mode{mode="normal"}')).toBe(0)

    // A worker started while the host is low starts low.
    expect((await send('POST', `${urls.metricsUrl}/fork`)).body).toBe('forked')
    m = await scrape()
    expect(m.get('power_mode{mode="low"}')).toBe(1)

    expect((await send('POST', `${urls.metricsUrl}/mode/clear`)).body).toBe('normal')
    m = await scrape()
    expect(m.get('power_mode{mode="normal"}')).toBe(1)
    // With the primary's reason; the counter adds up each worker's change.
    expect(m.get('power_mode_changes_total{from="low",to="normal",reason="clear"}')).toBe(3)
  })
})
