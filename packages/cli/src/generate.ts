/**
 * `cortex slo generate`: writes every artefact an SLO definition drives —
 * Prometheus rules, the Grafana dashboard, k6 thresholds and a k6 script.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import {
  defineSlos,
  grafanaDashboard,
  k6Script,
  k6Thresholds,
  prometheusRules,
  type SloConfig,
  type SloDefinitions,
} from '@cortex/slo'

export interface GenerateOptions {
  /** Default base URL written into the k6 script (it reads `BASE_URL` first). */
  baseUrl?: string
}

/**
 * Writes `prometheus-rules.yml`, `grafana-dashboard.json`,
 * `k6-thresholds.json` and `k6-script.js` into `outDir`; returns their paths.
 *
 * @example
 * await generateArtifacts(slos, 'observability/')
 */
export async function generateArtifacts(
  input: SloConfig | SloDefinitions,
  outDir: string,
  options: GenerateOptions = {},
): Promise<string[]> {
  const slos = defineSlos(input)
  await mkdir(outDir, { recursive: true })
  const files: [string, string][] = [
    ['prometheus-rules.yml', prometheusRules(slos)],
    ['grafana-dashboard.json', `${JSON.stringify(grafanaDashboard(slos), null, 2)}\n`],
    ['k6-thresholds.json', `${JSON.stringify(k6Thresholds(slos), null, 2)}\n`],
    ['k6-script.js', k6Script(slos, { baseUrl: options.baseUrl })],
  ]
  const written: string[] = []
  for (const [name, text] of files) {
    const path = join(outDir, name)
    await writeFile(path, text)
    written.push(path)
  }
  return written
}
