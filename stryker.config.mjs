// Mutation testing (Stryker + vitest) for the packages whose logic the rest
// stands on: core, token-bucket and slo. One package per run — the machine
// has two cores — chosen by CORTEX_MUTATE_PACKAGE; `pnpm mutation [pkg...]`
// (scripts/mutation.mjs) sets it and runs them one after another.
// Scores are recorded in benchmarks/README.md ("Mutation testing").
const packages = ['core', 'token-bucket', 'slo']
const pkg = process.env.CORTEX_MUTATE_PACKAGE ?? 'core'
if (!packages.includes(pkg)) {
  throw new Error(`CORTEX_MUTATE_PACKAGE must be one of ${packages.join(', ')}, got ${JSON.stringify(pkg)}`)
}

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts', related: false },
  plugins: ['@stryker-mutator/vitest-runner'],
  // CORTEX_MUTATE_ONLY (globs separated by spaces) narrows a run, e.g. to one file.
  mutate: [
    ...(process.env.CORTEX_MUTATE_ONLY?.trim().split(/\s+/) ?? [`packages/${pkg}/src/**/*.ts`]),
    `!packages/${pkg}/src/**/*.test.ts`,
    // Re-exports only, and test support that ships nowhere.
    `!packages/${pkg}/src/index.ts`,
    '!packages/slo/src/prometheus-binaries.ts',
  ],
  // Only what the tests of this package read; node_modules is linked, not copied.
  ignorePatterns: ['/benchmarks', '/examples', '/docs', '/reports', '/.changeset', '/**/dist'],
  coverageAnalysis: 'perTest',
  concurrency: Number(process.env.CORTEX_MUTATE_CONCURRENCY ?? 2),
  timeoutMS: 5_000,
  reporters: ['clear-text', 'progress-append-only', 'html', 'json'],
  clearTextReporter: { allowColor: false, allowEmojis: false, logTests: false, reportScoreTable: true },
  htmlReporter: { fileName: `reports/mutation/${pkg}.html` },
  jsonReporter: { fileName: `reports/mutation/${pkg}.json` },
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
  // Reuses the result of a mutant whose code and covering tests did not change
  // since the last run (delete the file for a clean run).
  incremental: true,
  incrementalFile: `reports/mutation/${pkg}-incremental.json`,
}
