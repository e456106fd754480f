/** `pnpm generate`: rewrites every file generated from cortex.config.ts (see src/generate-assets.ts). */
import { join } from 'node:path'
import { generateAssets } from '../src/generate-assets.ts'

const root = join(import.meta.dirname, '..', '..', '..')
for (const file of await generateAssets(root)) console.log(`wrote ${file}`)
