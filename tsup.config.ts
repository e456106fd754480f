/**
 * The one build configuration every publishable @cortex/* package uses.
 * Run from a package folder as `tsup --config ../../tsup.config.ts`.
 * Output: ESM (`.js`) and CommonJS (`.cjs`) with separate declarations
 * (`.d.ts` for import, `.d.cts` for require), so neither masquerades as the other.
 */
import { defineConfig } from 'tsup'

export default defineConfig({
  entry: ['src/index.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'node20',
  platform: 'node',
  splitting: false,
  treeshake: true,
})
