/**
 * Loads an SLO configuration file for the `cortex` command: `.json`,
 * `.js` / `.mjs` / `.cjs` (default export, or a named `slos` / `config`
 * export), or `.ts` / `.mts` / `.cts` through tsx, and validates it with
 * `defineSlos`.
 */
import { readFile } from 'node:fs/promises'
import { extname, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { CortexConfigError } from '@cortex/core'
import { defineSlos, type SloConfig, type SloDefinitions } from '@cortex/slo'

/**
 * Reads and validates the SLO config at `path` (relative to `cwd`).
 *
 * @example
 * const slos = await loadSloConfig('slo.config.ts')
 */
export async function loadSloConfig(path: string, cwd: string = process.cwd()): Promise<SloDefinitions> {
  const file = resolve(cwd, path)
  const ext = extname(file).toLowerCase()
  let raw: unknown
  if (ext === '.json') {
    raw = JSON.parse(await readFile(file, 'utf8'))
  } else if (['.js', '.mjs', '.cjs'].includes(ext)) {
    raw = pick(await import(pathToFileURL(file).href))
  } else if (['.ts', '.mts', '.cts'].includes(ext)) {
    const { tsImport } = await import('tsx/esm/api')
    raw = pick(await tsImport(pathToFileURL(file).href, pathToFileURL(`${cwd}/`).href))
  } else {
    throw new CortexConfigError('config', path, 'a .json, .js, .mjs, .cjs, .ts, .mts or .cts file', 'cortex')
  }
  return defineSlos(raw as SloConfig)
}

function pick(module: Record<string, unknown>): unknown {
  let value = module.default ?? module.slos ?? module.config
  // A CommonJS or transpiled module nests the export once more.
  if (typeof value === 'object' && value !== null && 'default' in value && !('objectives' in value)) {
    value = (value as { default: unknown }).default
  }
  return value
}
