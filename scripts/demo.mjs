// `pnpm demo`, the README's main command: builds the @cortex packages the
// examples use (turbo caches it after the first run), then runs the demo in
// examples/demo (the Fastify example under load; see its header for options).
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { envWithPnpm, root } from './workspace.mjs'

process.stdout.write('Building @cortex/* (cached after the first run)... ')
// turbo runs each package's build through pnpm, so it needs the running pnpm on PATH.
const built = spawnSync(
  join(root, 'node_modules', '.bin', 'turbo'),
  ['run', 'build', '--filter=@cortex-examples/demo...', '--output-logs=errors-only'],
  {
    cwd: root,
    encoding: 'utf8',
    env: { ...envWithPnpm(), TURBO_TELEMETRY_DISABLED: '1' },
    maxBuffer: 64 * 1024 * 1024,
  },
)
if (built.status !== 0) {
  console.log('failed:\n')
  console.log(built.stdout, built.stderr)
  process.exit(built.status ?? 1)
}
console.log('done.')
const demo = spawnSync(
  process.execPath,
  ['--import', 'tsx', join(root, 'examples/demo/src/demo.ts'), ...process.argv.slice(2)],
  {
    cwd: root,
    stdio: 'inherit',
  },
)
process.exit(demo.status ?? 1)
