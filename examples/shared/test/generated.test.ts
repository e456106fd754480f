/**
 * The generated observability assets, k6 scripts and rate-limit docs in the
 * repository are current (regenerating gives the same bytes: run
 * `pnpm generate` after changing cortex.config.ts), and the k6 scripts are
 * syntactically valid JavaScript modules (k6 itself cannot run here).
 */
import { spawnSync } from 'node:child_process'
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { generateAssets } from '../src/generate-assets.ts'

const repo = join(import.meta.dirname, '..', '..', '..')
const scratch = await mkdtemp(join(tmpdir(), 'cortex-generated-'))
afterAll(() => rm(scratch, { recursive: true, force: true }))

describe('generated assets', () => {
  it('are current: regenerating from cortex.config.ts changes nothing', async () => {
    const files = await generateAssets(scratch)
    expect(files).toEqual(
      expect.arrayContaining([
        'examples/observability/prometheus-rules.yml',
        'examples/observability/grafana-dashboard.json',
        'examples/observability/energy-dashboard.json',
        'examples/load/k6/load-multimodal.js',
        'examples/load/k6/load-agents.js',
        'examples/load/k6/load-health.js',
        'docs/RATE-LIMITS.md',
      ]),
    )
    for (const file of files) {
      const committed = await readFile(join(repo, file), 'utf8').catch(() => '(missing)')
      expect(committed, `${file} is stale: run pnpm generate`).toBe(
        await readFile(join(scratch, file), 'utf8'),
      )
    }
  })

  it('k6 scripts are valid JavaScript modules with the seed load profile and SLO thresholds', async () => {
    for (const name of ['load-multimodal', 'load-agents', 'load-health']) {
      const source = join(repo, 'examples/load/k6', `${name}.js`)
      const text = await readFile(source, 'utf8')
      expect(text).toContain("{ duration: '2m', target: 100 }".replace(/'/g, '"'))
      expect(text).toContain('"5m"')
      expect(text).toMatch(/http_req_duration\{endpoint:/)
      // `node --check` parses without running or resolving `k6/http`.
      const copy = join(scratch, `${name}.mjs`)
      await copyFile(source, copy)
      const check = spawnSync(process.execPath, ['--check', copy], { encoding: 'utf8' })
      expect(check.status, check.stderr).toBe(0)
    }
  })
})

describe('examples/observability/prometheus.yml', () => {
  const promtool =
    process.env.CORTEX_PROMTOOL ??
    join(process.env.HOME ?? '', '.cache/cortex-ci/prometheus/usr/bin/promtool')
  const available = spawnSync(promtool, ['--version']).status === 0
  if (!available) {
    if (process.env.CORTEX_REQUIRE_PROMETHEUS === '1') throw new Error(`promtool not found at ${promtool}`)
    console.warn(`skipping the prometheus.yml check: no promtool at ${promtool}`)
  }
  it.skipIf(!available)(
    'is a valid configuration that loads the generated rules (promtool check config)',
    () => {
      const r = spawnSync(promtool, ['check', 'config', 'prometheus.yml'], {
        cwd: join(repo, 'examples/observability'),
        encoding: 'utf8',
      })
      expect(r.status, r.stdout + r.stderr).toBe(0)
      expect(r.stdout).toMatch(/SUCCESS: \d+ rules found/)
    },
  )
})
