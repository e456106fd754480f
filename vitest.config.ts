import { readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

// Tests run against the TypeScript sources of every workspace package, so
// `pnpm test` needs no build; the packed output is checked separately by
// scripts/consumer-test.mjs.
const packagesDir = fileURLToPath(new URL('./packages/', import.meta.url))
const alias = readdirSync(packagesDir).map((name) => ({
  find: new RegExp(`^@cortex/${name}$`),
  replacement: `${packagesDir}${name}/src/index.ts`,
}))

export default defineConfig({
  resolve: { alias },
  test: {
    include: [
      'packages/*/src/**/*.test.ts',
      'packages/*/test/**/*.test.ts',
      'examples/*/src/**/*.test.ts',
      'examples/*/test/**/*.test.ts',
    ],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // CI asks for a JSON report beside the usual output to total the run.
    reporters: process.env.CORTEX_VITEST_JSON
      ? ['default', ['json', { outputFile: process.env.CORTEX_VITEST_JSON }]]
      : ['default'],
  },
})
