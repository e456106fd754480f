import base from './vitest.config'

// The root config, narrowed to the tests of the one package Stryker mutates
// (stryker.config.mjs sets CORTEX_MUTATE_PACKAGE). Spread, not mergeConfig:
// mergeConfig would append to `include` instead of replacing it.
const pkg = process.env.CORTEX_MUTATE_PACKAGE ?? 'core'

// Load tests that take tens of seconds once instrumented: every mutant they
// cover would re-run them. Left out of mutation runs only (they still run in
// `pnpm test`); a mutant only they would kill counts as surviving.
const loadTests = ['a flood of 2 million distinct keys']

export default {
  ...base,
  test: {
    ...base.test,
    include: [`packages/${pkg}/src/**/*.test.ts`, `packages/${pkg}/test/**/*.test.ts`],
    testNamePattern: new RegExp(`^(?!.*(?:${loadTests.join('|')}))`),
    testTimeout: 120_000,
  },
}
