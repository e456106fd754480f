/**
 * A Node cluster serving Express with the whole @cortex stack, wired as the
 * root README's cluster recipe says: the primary serves the workers' metrics
 * through prom-client's AggregatorRegistry and decides the power mode once
 * (`clusterPowerMode`); each worker registers its metrics and follows. The
 * primary also answers the controls `cluster.test.ts` drives:
 * `POST /mode/<mode|clear>` (what its one trigger asks) and `POST /fork`.
 *
 * Worker 1 answers `/work` with 500, the others with 200, so the workers'
 * SLIs differ whatever the balancing. Every response names its worker
 * (`X-Worker`). Prints one JSON line when every worker listens.
 */
import cluster from 'node:cluster'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { cpuModelSource, createEnergyMeter } from '@cortex/energy'
import { cortex } from '@cortex/express'
import { clusterPowerMode, type PowerModeTrigger } from '@cortex/low-power'
import { createSloTracker, defineSlos } from '@cortex/slo'
import { createRateLimiter } from '@cortex/token-bucket'
import express from 'express'
import { AggregatorRegistry, Registry } from 'prom-client'

const modes = { normal: { concurrency: 8 }, low: { concurrency: 2, rateLimitScale: 0.5 } }
// In both: prom-client's worker answers the primary's requests only once an AggregatorRegistry exists.
const aggregator = new AggregatorRegistry()

if (cluster.isPrimary) {
  const asked: PowerModeTrigger & { verdict: string | undefined } = {
    name: 'test',
    verdict: undefined,
    evaluate() {
      return this.verdict
    },
  }
  // Evaluated on request only: the test decides when the mode changes.
  const power = clusterPowerMode({ modes, initial: 'normal', triggers: [asked], evaluateEveryMs: '1h' })
  let appUrl = ''
  const fork = () =>
    new Promise<void>((resolve) => {
      cluster.fork().once('listening', (address) => {
        appUrl = `http://127.0.0.1:${address.port}`
        resolve()
      })
    })
  const primary = createServer((req, res) => {
    const answer = (status: number, body: string, type = 'text/plain') => {
      res.writeHead(status, { 'Content-Type': type }).end(body)
    }
    if (req.method === 'GET' && req.url === '/metrics') {
      aggregator.clusterMetrics().then(
        (text) => answer(200, text, aggregator.contentType),
        (err: unknown) => answer(500, String(err)),
      )
    } else if (req.method === 'POST' && req.url?.startsWith('/mode/')) {
      const want = req.url.slice('/mode/'.length)
      asked.verdict = want === 'clear' ? undefined : want
      power.evaluate().then((mode) => answer(200, mode))
    } else if (req.method === 'POST' && req.url === '/fork') {
      fork().then(() => answer(200, 'forked'))
    } else {
      answer(404, 'not found')
    }
  })
  // The test holds stdin open: if it goes away without ending the cluster, the cluster ends itself.
  process.stdin.resume()
  process.stdin.on('end', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill()
    process.exit(0)
  })
  primary.listen(0, '127.0.0.1', async () => {
    await Promise.all([fork(), fork()])
    const { port } = primary.address() as AddressInfo
    console.log(JSON.stringify({ metricsUrl: `http://127.0.0.1:${port}`, appUrl }))
  })
} else {
  const id = cluster.worker?.id ?? 0
  const registry = new Registry()
  AggregatorRegistry.setRegistries(registry)
  const limiter = createRateLimiter({
    policies: { 'GET /limited': { limit: 1, window: '1h' }, 'GET /work': 'unlimited' },
    registry,
  })
  const tracker = createSloTracker(
    defineSlos({
      service: 'cluster',
      objectives: [{ name: 'availability', route: 'GET /work', availability: { errorRate: 0.05 } }],
    }),
    { registry },
  )
  // Modelled on every machine (no sensor is read), so energy_estimated is 1 wherever the test runs.
  const meter = createEnergyMeter({
    sources: [cpuModelSource({ tdpWatts: 65 })],
    powerBudgetWatts: 100,
    carbonIntensity: 300,
  })
  meter.registerMetrics(registry)
  meter.start()
  const power = clusterPowerMode({ modes, initial: 'normal', rateLimiters: [limiter], registry })

  const app = express()
  app.use((_req, res, next) => {
    res.setHeader('X-Worker', String(id))
    next()
  })
  app.use(
    cortex({ slo: { tracker }, energy: { meter }, rateLimit: { limiter }, powerMode: { controller: power } }),
  )
  app.get('/work', (_req, res) => {
    res.status(id === 1 ? 500 : 200).json({ worker: id })
  })
  app.get('/limited', (_req, res) => {
    res.json({ worker: id })
  })
  app.listen(0, '127.0.0.1')
}
