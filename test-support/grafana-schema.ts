/**
 * Test support shared by @cortex/slo's and @cortex/energy's dashboard tests:
 * Grafana's own schema as the judge of a generated dashboard. Each dashboard
 * is written into a TypeScript file as a value of `@grafana/schema`'s
 * `Dashboard` type and `tsc --noEmit` must accept it. Not published.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { afterAll } from 'vitest'

const run = promisify(execFile)
const root = fileURLToPath(new URL('../', import.meta.url))
const tsc = join(root, 'node_modules', '.bin', 'tsc')
const schemaTypes = join(
  dirname(createRequire(import.meta.url).resolve('@grafana/schema/package.json')),
  'dist/types/index.d.ts',
)

const dirs: string[] = []
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })))
})

/**
 * Type-checks each dashboard as a `Dashboard` of `@grafana/schema`; returns
 * tsc's output, '' when it accepts them all.
 *
 * `Loose` turns string enums (`ThresholdsMode.Absolute`, …) into their
 * literal values: JSON holds `"absolute"`, which TypeScript does not accept
 * where a string enum is expected, although Grafana does. Nothing else is
 * loosened: required fields, property names (excess properties are errors in
 * an object literal), numeric enums and value types are checked as declared.
 */
export async function grafanaSchemaErrors(dashboards: Record<string, unknown>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'cortex-grafana-schema-'))
  dirs.push(dir)
  const source = [
    `import type { Dashboard } from ${JSON.stringify(schemaTypes.replace(/\.d\.ts$/, '.js'))}`,
    'type Loose<T> = T extends string',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: TypeScript source, not a JS template
    '  ? string extends T ? T : `${T}`',
    '  : T extends number | boolean | null | undefined',
    '    ? T',
    '    : T extends ReadonlyArray<infer U>',
    '      ? Array<Loose<U>>',
    '      : T extends object',
    '        ? { [K in keyof T]: Loose<T[K]> }',
    '        : T',
    ...Object.entries(dashboards).map(
      ([name, d]) => `export const ${name}: Loose<Dashboard> = ${JSON.stringify(d, null, 2)}`,
    ),
    '',
  ].join('\n')
  await writeFile(join(dir, 'dashboards.ts'), source)
  await writeFile(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        noEmit: true,
        target: 'ES2022',
        module: 'ESNext',
        moduleResolution: 'Bundler',
        skipLibCheck: true,
        types: [],
      },
      files: ['dashboards.ts'],
    }),
  )
  try {
    await run(tsc, ['--noEmit', '-p', join(dir, 'tsconfig.json')], { cwd: dir })
    return ''
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string }
    return `${stdout}${stderr}` || String(error)
  }
}
