// The shared build, plus the `cortex` executable (ESM only, with a shebang).
import { defineConfig } from 'tsup'
import shared from '../../tsup.config.js'

export default defineConfig([
  shared as Exclude<typeof shared, unknown[] | ((...args: never[]) => unknown)>,
  {
    entry: { bin: 'src/bin.ts' },
    format: ['esm'],
    target: 'node20',
    platform: 'node',
    dts: false,
    clean: false,
    banner: { js: '#!/usr/bin/env node' },
  },
])
