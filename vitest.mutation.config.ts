import base from './vitest.config'

// The root config, narrowed to the tests of the one package Stryker mutates
// (stryker.config.mjs sets CORTEX_MUTATE_PACKAGE). Spread, not mergeConfig:
// mergeConfig would append to `include` instead of replacing it.
const pkg = process.env.CORTEX_MUTATE_PACKAGE ?? 'core'

export default {
  ...base,
  test: {
    ...base.test,
    include: [`packages/${pkg}/src/**/*.test.ts`, `packages/${pkg}/test/**/*.test.ts`],
  },
}
