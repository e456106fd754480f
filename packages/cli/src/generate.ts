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
  /** Where the config's `loadScripts` go, one `<name>.js` each. Default `<outDir>/k6`. */
  k6OutDir?: string
  /** `'sloth'`: the rules also carry Sloth's labels and series, so Sloth's Grafana dashboards show the SLOs. */
  compatibility?: 'sloth'
}

/**
 * Writes `prometheus-rules.yml`, `grafana-dashboard.json`,
 * `k6-thresholds.json` and `k6-script.js` into `outDir`, and one k6 script per
 * entry of the config's `loadScripts` into `k6OutDir`; returns their paths.
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
    ['prometheus-rules.yml', prometheusRules(slos, { compatibility: options.compatibility })],
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
  const scripts = Object.entries(slos.loadScripts)
  if (scripts.length > 0) {
    const k6Dir = options.k6OutDir ?? join(outDir, 'k6')
    await mkdir(k6Dir, { recursive: true })
    for (const [name, endpoints] of scripts) {
      const path = join(k6Dir, `${name}.js`)
      await writeFile(path, k6Script(slos, { baseUrl: options.baseUrl, endpoints }))
      written.push(path)
    }
  }
  return written
}
