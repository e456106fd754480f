// `pnpm demo`: the README's main command. The full demo (the Fastify example
// under load, its baseline table, 429s, energy and low-power mode) arrives
// with the examples issue; until then it runs the core benchmark briefly so
// the command shows something real.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { root } from './workspace.mjs'

console.log('@cortex/* demo: the full inference-API demo is coming in a later issue.')
console.log('Meanwhile, a short run of the core benchmark (token bucket and sketch against their peers):\n')
const pnpm = process.env.npm_execpath
const cmd = pnpm && !/\.[cm]?js$/.test(pnpm) ? [pnpm, []] : [process.execPath, pnpm ? [pnpm] : []]
if (!existsSync(join(root, 'packages/core/dist/index.js'))) {
  const built = spawnSync(cmd[0], [...cmd[1], '--filter', '@cortex/core', 'build'], {
    cwd: root,
    stdio: 'inherit',
  })
  if (built.status !== 0) process.exit(built.status ?? 1)
}
const r = spawnSync(cmd[0], [...cmd[1], 'bench'], {
  cwd: join(root, 'benchmarks/core'),
  stdio: 'inherit',
  env: { ...process.env, BENCH_TIME_MS: process.env.BENCH_TIME_MS ?? '300' },
})
process.exit(r.status ?? 1)
