/**
 * Test support (not exported): finds the `promtool` and `prometheus`
 * binaries the rule tests run — `CORTEX_PROMTOOL` / `CORTEX_PROMETHEUS`,
 * else the CI cache (`~/.cache/cortex-ci/prometheus/usr/bin`), else PATH —
 * and decides whether their absence skips the tests or fails them
 * (`CORTEX_REQUIRE_PROMETHEUS=1`).
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'

function find(name: 'promtool' | 'prometheus', envVar: string): string | undefined {
  const fromEnv = process.env[envVar]
  if (fromEnv && existsSync(fromEnv)) return fromEnv
  const cached = join(homedir(), '.cache', 'cortex-ci', 'prometheus', 'usr', 'bin', name)
  if (existsSync(cached)) return cached
  try {
    execFileSync(name, ['--version'], { stdio: 'ignore' })
    return name
  } catch {
    return undefined
  }
}

export const promtoolPath = find('promtool', 'CORTEX_PROMTOOL')
export const prometheusPath = find('prometheus', 'CORTEX_PROMETHEUS')
export const requirePrometheus = process.env.CORTEX_REQUIRE_PROMETHEUS === '1'

/** True when the tests must skip; warns visibly. Throws when the binary is required but missing. */
export function skipWithout(binary: string | undefined, name: string): boolean {
  if (binary !== undefined) return false
  if (requirePrometheus) {
    throw new Error(
      `CORTEX_REQUIRE_PROMETHEUS=1 but no ${name} binary was found (set CORTEX_${name.toUpperCase()})`,
    )
  }
  console.warn(
    `⚠ skipping ${name} tests: no ${name} binary (set CORTEX_${name.toUpperCase()} or install Debian's prometheus package)`,
  )
  return true
}
