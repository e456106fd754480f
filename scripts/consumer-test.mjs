// Installs every packed @cortex/* tarball into a fresh consumer project with
// npm (as a user would) and imports each one from ESM, CommonJS and
// TypeScript (module node16, both .mts and .cts). Run after `pnpm build`.
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { capture, envWithPnpm, publishablePackages, run, tally } from './workspace.mjs'

const env = envWithPnpm()
const t = tally('consumer tests')
const work = mkdtempSync(join(tmpdir(), 'cortex-consumer-'))
const tarballs = join(work, 'tarballs')
mkdirSync(tarballs)

const packages = publishablePackages()
for (const pkg of packages) {
  // pnpm pack rewrites workspace: ranges to real versions, as publishing does.
  t.check(
    `${pkg.name} packs`,
    run('pnpm', ['pack', '--pack-destination', tarballs], { cwd: pkg.dir, env, stdio: 'ignore' }),
  )
}
const files = readdirSync(tarballs).filter((f) => f.endsWith('.tgz'))
const app = join(work, 'app')
mkdirSync(app)
const overrides = Object.fromEntries(
  packages.map((p) => {
    const file = files.find((f) => f.startsWith(`${p.name.replace('@', '').replace('/', '-')}-`))
    return [p.name, `file:${join(tarballs, file ?? 'missing.tgz')}`]
  }),
)
writeFileSync(
  join(app, 'package.json'),
  JSON.stringify({ name: 'consumer', private: true, dependencies: overrides, overrides }, null, 2),
)
const installed = run(
  'npm',
  [
    'install',
    '--no-audit',
    '--no-fund',
    '--loglevel=error',
    'typescript@5.9.3',
    '@types/node@20',
    '@types/express@5',
    '@types/koa@3',
  ],
  {
    cwd: app,
    env,
  },
)
t.check('npm installs every tarball', installed)

if (installed) {
  const names = packages.map((p) => p.name)
  writeFileSync(
    join(app, 'esm.mjs'),
    `${names.map((n, i) => `import * as m${i} from '${n}'`).join('\n')}
const keys = [${names.map((_, i) => `Object.keys(m${i}).filter((k) => k !== 'default' && k !== 'module.exports').sort()`).join(', ')}]
process.stdout.write(JSON.stringify(keys))
`,
  )
  writeFileSync(
    join(app, 'cjs.cjs'),
    `const keys = [${names.map((n) => `Object.keys(require('${n}')).sort()`).join(', ')}]
process.stdout.write(JSON.stringify(keys))
`,
  )
  let esmKeys = []
  let cjsKeys = []
  try {
    esmKeys = JSON.parse(capture('node', ['esm.mjs'], { cwd: app }))
    t.check('every package imports from ESM', true)
  } catch (err) {
    t.check(`every package imports from ESM (${err.message})`, false)
  }
  try {
    cjsKeys = JSON.parse(capture('node', ['cjs.cjs'], { cwd: app }))
    t.check('every package requires from CommonJS', true)
  } catch (err) {
    t.check(`every package requires from CommonJS (${err.message})`, false)
  }
  names.forEach((name, i) => {
    t.check(
      `${name} exposes the same names to ESM and CommonJS`,
      JSON.stringify(esmKeys[i]) === JSON.stringify(cjsKeys[i]),
    )
  })

  // A behavioural smoke test through both module systems: errors keep their code.
  writeFileSync(
    join(app, 'core-smoke.mjs'),
    `import { createRequire } from 'node:module'
import * as esm from '@cortex/core'
const cjs = createRequire(import.meta.url)('@cortex/core')
for (const core of [esm, cjs]) {
  const bucket = core.createTokenBucket({ burst: 1, refillTokens: 1, refillMs: 1000 })
  const first = bucket.take(core.FULL_BUCKET_STATE, 0, 1)
  const second = bucket.take(first.state, 0, 1)
  if (!first.allowed || second.allowed || second.retryAfterMs !== 1000) throw new Error('token bucket misbehaves')
  try { core.createTokenBucket({ burst: -1, refillTokens: 1, refillMs: 1 }); throw new Error('no error') }
  catch (err) { if (!esm.isCortexError(err, 'ERR_CORTEX_CONFIG')) throw err }
}
`,
  )
  t.check(
    '@cortex/core behaves the same from ESM and CommonJS',
    run('node', ['core-smoke.mjs'], { cwd: app }),
  )

  const tsImports = names.map((n, i) => `import * as m${i} from '${n}'`).join('\n')
  // skipLibCheck hides third-party .d.ts quarrels (e.g. @types/koa vs its deps);
  // the IsAny checks make sure every package's types still resolve for real.
  const tsUse = `type IsAny<T> = 0 extends 1 & T ? true : false
${names.map((_, i) => `export const typed${i}: IsAny<typeof m${i}> = false`).join('\n')}
import { createTokenBucket, type TokenBucketDecision, CortexConfigError } from '@cortex/core'
const decision: TokenBucketDecision = createTokenBucket({ burst: 1, refillTokens: 1, refillMs: 1 }).take(0, 0)
export const allowed: boolean = decision.allowed
export const err: CortexConfigError = new CortexConfigError('x', 1, 'y')
`
  writeFileSync(join(app, 'esm-consumer.mts'), `${tsImports}\n${tsUse}`)
  writeFileSync(join(app, 'cjs-consumer.cts'), `${tsImports}\n${tsUse}`)
  writeFileSync(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'node16',
        moduleResolution: 'node16',
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: ['node'],
      },
      files: ['esm-consumer.mts', 'cjs-consumer.cts'],
    }),
  )
  t.check(
    'TypeScript (node16, .mts and .cts) compiles against every package',
    run(join(app, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], { cwd: app }),
  )
}
console.log(`consumer project: ${work}`)
t.finish()
