// Helpers shared by the repository scripts: the publishable packages, a way
// to run the same pnpm that runs us, and a tiny pass/fail tally whose totals
// .ci/run adds to vitest's.
import { execFileSync, spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const root = fileURLToPath(new URL('..', import.meta.url))

/** Publishable packages: packages/* that are not private. */
export function publishablePackages() {
  const dir = join(root, 'packages')
  return readdirSync(dir)
    .map((name) => {
      const path = join(dir, name)
      try {
        const manifest = JSON.parse(readFileSync(join(path, 'package.json'), 'utf8'))
        return { name: manifest.name, dir: path, manifest }
      } catch {
        return undefined
      }
    })
    .filter((p) => p && !p.manifest.private)
}

/**
 * An environment whose PATH has a `pnpm` that is the pnpm running this script
 * (tools such as publint spawn `pnpm pack`; `npx pnpm@…` is not on PATH).
 */
export function envWithPnpm() {
  const execPath = process.env.npm_execpath
  const shimDir = mkdtempSync(join(tmpdir(), 'cortex-pnpm-'))
  const shim = join(shimDir, 'pnpm')
  // pnpm 12 ships as a native executable; older ones as a .cjs script.
  let target = 'exec npx -y pnpm@12.4.2 "$@"'
  if (execPath?.includes('pnpm')) {
    target = /\.[cm]?js$/.test(execPath)
      ? `exec "${process.execPath}" "${execPath}" "$@"`
      : `exec "${execPath}" "$@"`
  }
  writeFileSync(shim, `#!/bin/sh\n${target}\n`)
  chmodSync(shim, 0o755)
  return { ...process.env, PATH: `${shimDir}${delimiter}${process.env.PATH}` }
}

/** Runs a command, streaming its output; returns true when it exits 0. */
export function run(cmd, args, options = {}) {
  console.log(`$ ${cmd} ${args.join(' ')}${options.cwd ? `   (in ${options.cwd.replace(root, '')})` : ''}`)
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...options })
  return r.status === 0
}

export function capture(cmd, args, options = {}) {
  return execFileSync(cmd, args, { encoding: 'utf8', ...options })
}

/** Counts named checks and writes `{ passed, failed }` to the file named by CORTEX_RESULTS, if any. */
export function tally(label) {
  const results = []
  return {
    check(name, ok) {
      results.push({ name, ok })
      console.log(`${ok ? '✓' : '✗'} ${label}: ${name}`)
    },
    finish() {
      const passed = results.filter((r) => r.ok).length
      const failed = results.length - passed
      console.log(`${label}: ${passed} passed, ${failed} failed`)
      if (process.env.CORTEX_RESULTS) {
        writeFileSync(process.env.CORTEX_RESULTS, JSON.stringify({ passed, failed, results }))
      }
      process.exitCode = failed > 0 ? 1 : 0
    },
  }
}
