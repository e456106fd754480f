// Runs Stryker for each named package (default: core, token-bucket, slo), one
// after another, and prints each package's score per file and its duration.
//   pnpm mutation            all three
//   pnpm mutation core slo   those only
//
// Stryker 10's command line refuses Node < 22 (its package says so), while this
// repo runs on Node 20; its API works here, so this script calls the API.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

// The package's export map offers only the entry that also loads the CLI (and
// its Node version check), so import the Stryker class from its own module.

const strykerDir = createRequire(import.meta.url)
  .resolve('@stryker-mutator/core/package.json')
  .replace(/package\.json$/, '')
const { Stryker } = await import(`${strykerDir}dist/src/stryker.js`)

const known = ['core', 'token-bucket', 'slo']
const asked = process.argv.slice(2)
const unknown = asked.filter((name) => !known.includes(name))
if (unknown.length > 0) {
  console.error(`Unknown package ${unknown.join(', ')}: expected any of ${known.join(', ')}`)
  process.exit(2)
}
const selected = asked.length > 0 ? asked : known
const summary = []
let failed = false
for (const pkg of selected) {
  const started = Date.now()
  process.env.CORTEX_MUTATE_PACKAGE = pkg
  try {
    await new Stryker({ configFile: 'stryker.config.mjs' }).runMutationTest()
  } catch (error) {
    failed = true
    summary.push(`${pkg}: Stryker failed: ${error instanceof Error ? error.message : error}`)
    continue
  }
  const minutes = (Date.now() - started) / 60_000
  const report = JSON.parse(readFileSync(`reports/mutation/${pkg}.json`, 'utf8'))
  let killed = 0
  let total = 0
  for (const file of Object.values(report.files)) {
    for (const mutant of file.mutants) {
      if (mutant.status === 'CompileError' || mutant.status === 'RuntimeError') continue
      if (mutant.status === 'Ignored') continue
      total += 1
      if (mutant.status === 'Killed' || mutant.status === 'Timeout') killed += 1
    }
  }
  const score = total === 0 ? 0 : (100 * killed) / total
  const narrowed = process.env.CORTEX_MUTATE_ONLY ? ` (only ${process.env.CORTEX_MUTATE_ONLY})` : ''
  summary.push(
    `${pkg}${narrowed}: ${score.toFixed(2)}% killed (${killed}/${total}) in ${minutes.toFixed(1)} min`,
  )
}
console.log(`\nMutation score per package\n${summary.map((line) => `  ${line}`).join('\n')}`)
process.exit(failed ? 1 : 0)
