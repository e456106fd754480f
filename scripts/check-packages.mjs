// Checks every publishable package the way a registry user would meet it:
// `publint --strict` (package.json and files) and `attw --pack` (types
// resolve for import and require, none masquerading as the other).
import { join } from 'node:path'
import { envWithPnpm, publishablePackages, root, run, tally } from './workspace.mjs'

const env = envWithPnpm()
const bin = (name) => join(root, 'node_modules', '.bin', name)
const t = tally('package checks')
for (const pkg of publishablePackages()) {
  t.check(`${pkg.name} publint --strict`, run(bin('publint'), ['--strict'], { cwd: pkg.dir, env }))
  t.check(
    `${pkg.name} attw --pack`,
    run(bin('attw'), ['--pack', '.', '--format', 'table-flipped', '--no-emoji'], { cwd: pkg.dir, env }),
  )
}
t.finish()
