// `pnpm demo`, the README's main command: builds the @cortex packages the
// examples use (turbo caches it after the first run), then runs the demo in
// examples/demo (the Fastify example under load; see its header for options).
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { root } from './workspace.mjs'

const pnpm = process.env.npm_execpath
const pnpmCmd =
  pnpm && !/\.[cm]?js$/.test(pnpm)
    ? [pnpm, []]
    : pnpm
      ? [process.execPath, [pnpm]]
      : ['npx', ['-y', 'pnpm@12.4.2']]

process.stdout.write('Building @cortex/* (cached after the first run)... ')
const built = spawnSync(
  pnpmCmd[0],
  [
    ...pnpmCmd[1],
    'exec',
    'turbo',
    'run',
    'build',
    '--filter=@cortex-examples/demo...',
    '--output-logs=errors-only',
  ],
  {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1' },
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
