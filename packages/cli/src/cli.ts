/**
 * The `cortex` command line: argument parsing and the three commands, as a
 * function returning the exit code (0 ok, 1 regression or failure, 2 usage),
 * so it can be tested in process and reused.
 */
import { readFile, writeFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { isCortexError, parseDuration } from '@cortex/core'
import {
  type BaselineProgress,
  type BaselineResult,
  baselineMarkdown,
  baselineTable,
  runBaseline,
} from './baseline.js'
import { compareBaselines, formatComparison, parseTolerance } from './compare.js'
import { generateArtifacts } from './generate.js'
import { loadSloConfig } from './load-config.js'

export interface CliIo {
  stdout: { write(text: string): unknown; isTTY?: boolean }
  stderr: { write(text: string): unknown; isTTY?: boolean }
  cwd: string
}

export const USAGE = `Usage:
  cortex slo generate <config> --out <dir> [--k6-out <dir>] [--base-url <url>]
      Write prometheus-rules.yml, grafana-dashboard.json, k6-thresholds.json and k6-script.js,
      and one k6 script per entry of the config's loadScripts (into --k6-out, default <out>/k6).
  cortex baseline --url <base> --config <config> [--duration 30s] [--connections 10]
                  [--clients <n> --client-header x-api-key]
                  [--out baseline.json] [--markdown baseline.md] [--quiet]
      Drive load at every endpoint of the config (the duration is split between them)
      and write the JSON result and a Markdown report.
  cortex compare <baseline.json> <current.json> [--tolerance 10%] [--min-delta-ms 0] [--markdown <file>]
      Print a comparison table; exit 1 on a regression (a latency must also grow by more
      than --min-delta-ms, so sub-millisecond noise does not fail CI).

Configs: .json, .js/.mjs/.cjs or .ts/.mts (default export: the defineSlos() input).
`

class UsageError extends Error {}

/**
 * Runs `cortex` with `argv` (without the node and script paths).
 *
 * @example
 * process.exitCode = await runCli(process.argv.slice(2))
 */
export async function runCli(
  argv: readonly string[],
  io: CliIo = { stdout: process.stdout, stderr: process.stderr, cwd: process.cwd() },
): Promise<number> {
  try {
    const [command, ...rest] = argv
    if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
      io.stdout.write(USAGE)
      return command === undefined ? 2 : 0
    }
    if (command === 'slo' && rest[0] === 'generate') return await generate(rest.slice(1), io)
    if (command === 'baseline') return await baseline(rest, io)
    if (command === 'compare') return await compare(rest, io)
    throw new UsageError(`unknown command: ${argv.join(' ')}`)
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      io.stderr.write(`cortex: ${(err as Error).message}\n\n${USAGE}`)
      return 2
    }
    io.stderr.write(
      `cortex: ${isCortexError(err) ? (err as Error).message : ((err as Error)?.stack ?? String(err))}\n`,
    )
    return 1
  }
}

function parse(args: readonly string[], options: Record<string, { type: 'string' | 'boolean' }>) {
  return parseArgs({ args: [...args], options, allowPositionals: true, strict: true })
}

async function generate(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    out: { type: 'string' },
    'k6-out': { type: 'string' },
    'base-url': { type: 'string' },
  })
  if (positionals.length !== 1 || typeof values.out !== 'string') {
    throw new UsageError('slo generate needs a config file and --out <dir>')
  }
  const slos = await loadSloConfig(positionals[0] as string, io.cwd)
  const files = await generateArtifacts(slos, resolve(io.cwd, values.out), {
    baseUrl: values['base-url'] as string | undefined,
    k6OutDir: typeof values['k6-out'] === 'string' ? resolve(io.cwd, values['k6-out']) : undefined,
  })
  io.stdout.write(
    `Wrote ${files.length} files for "${slos.service}":\n${files.map((f) => `  ${f}\n`).join('')}`,
  )
  return 0
}

async function baseline(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    url: { type: 'string' },
    config: { type: 'string' },
    duration: { type: 'string' },
    connections: { type: 'string' },
    clients: { type: 'string' },
    'client-header': { type: 'string' },
    out: { type: 'string' },
    markdown: { type: 'string' },
    quiet: { type: 'boolean' },
  })
  if (positionals.length > 0 || typeof values.url !== 'string' || typeof values.config !== 'string') {
    throw new UsageError('baseline needs --url <base> and --config <config>')
  }
  const slos = await loadSloConfig(values.config, io.cwd)
  const durationSeconds = parseDuration(values.duration ?? '30s', 'duration', 'cortex baseline') / 1000
  const connections = values.connections === undefined ? 10 : Number(values.connections)
  const out = resolve(io.cwd, (values.out as string | undefined) ?? 'baseline.json')
  const markdown = resolve(
    io.cwd,
    (values.markdown as string | undefined) ?? `${out.replace(/\.json$/i, '')}.md`,
  )
  const result = await runBaseline({
    url: values.url,
    slos,
    durationSeconds,
    connections,
    clients:
      values.clients === undefined
        ? undefined
        : {
            header: (values['client-header'] as string | undefined) ?? 'x-api-key',
            count: Number(values.clients),
          },
    onProgress: values.quiet ? undefined : progressPrinter(io.stderr),
  })
  await writeFile(out, `${JSON.stringify(result, null, 2)}\n`)
  await writeFile(markdown, baselineMarkdown(result))
  io.stdout.write(`${baselineTable(result)}\n\n`)
  for (const o of result.objectives) {
    io.stdout.write(
      `${o.met ? 'pass' : 'FAIL'}  ${o.name} (${o.route}, ${o.threshold}): SLI ${+(o.sli * 100).toPrecision(4)}%\n`,
    )
  }
  io.stdout.write(`\nWrote ${out} and ${markdown}\n`)
  return 0
}

/** One status line per endpoint: rewritten in place on a terminal, start/done lines otherwise. */
function progressPrinter(stream: CliIo['stderr']): (p: BaselineProgress) => void {
  return (p) => {
    const head = `[${p.index}/${p.total}] ${p.endpoint}`
    const status = `${Math.min(p.elapsedSeconds, p.durationSeconds).toFixed(1)}/${p.durationSeconds.toFixed(1)} s, ${p.responses} responses`
    if (stream.isTTY) {
      const width = 24
      const filled = Math.round((Math.min(1, p.elapsedSeconds / p.durationSeconds) || 0) * width)
      stream.write(`\r${head} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${status}\u001b[K`)
      if (p.phase === 'done') stream.write('\n')
    } else if (p.phase !== 'tick') {
      stream.write(`${head}: ${p.phase === 'start' ? 'started' : `done, ${status}`}\n`)
    }
  }
}

async function compare(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    tolerance: { type: 'string' },
    'min-delta-ms': { type: 'string' },
    markdown: { type: 'string' },
  })
  if (positionals.length !== 2) throw new UsageError('compare needs <baseline.json> <current.json>')
  const minDelta = values['min-delta-ms'] === undefined ? 0 : Number(values['min-delta-ms'])
  if (!(minDelta >= 0))
    throw new UsageError(`--min-delta-ms takes milliseconds ≥ 0, got ${values['min-delta-ms']}`)
  const [before, after] = await Promise.all(
    positionals.map(async (p) => JSON.parse(await readFile(resolve(io.cwd, p), 'utf8')) as BaselineResult),
  )
  const tolerance = values.tolerance === undefined ? 0.1 : parseTolerance(String(values.tolerance))
  const comparison = compareBaselines(before as BaselineResult, after as BaselineResult, {
    tolerance,
    minLatencyDeltaMs: minDelta,
  })
  const text = formatComparison(comparison)
  io.stdout.write(text)
  if (typeof values.markdown === 'string') await writeFile(resolve(io.cwd, values.markdown), text)
  return comparison.ok ? 0 : 1
}
