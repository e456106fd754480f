/**
 * The `cortex` command line: argument parsing and the three commands, as a
 * function returning the exit code (0 ok, 1 regression or failure, 2 usage),
 * so it can be tested in process and reused. `--help` on any command prints
 * that command's usage (exit 0), `--quiet` leaves only errors, `--version`
 * prints the package version.
 */
import { readFileSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { isCortexError, parseDuration } from '@cortex/core'
import {
  type BaselineProgress,
  type BaselineResult,
  baselineMarkdown,
  baselineTable,
  refusalsDominate,
  refusalWarning,
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

const GENERATE_USAGE = `  cortex slo generate <config> --out <dir> [--k6-out <dir>] [--base-url <url>] [--compatibility sloth] [--quiet]
      Write prometheus-rules.yml, grafana-dashboard.json, k6-thresholds.json and k6-script.js,
      and one k6 script per entry of the config's loadScripts (into --k6-out, default <out>/k6).
      --base-url is the script's default target (k6 run -e BASE_URL=... overrides it).
`
const BASELINE_USAGE = `  cortex baseline --url <base> --config <config> [--duration 30s] [--connections 10]
                  [--clients <n> --client-header x-api-key]
                  [--out baseline.json] [--markdown baseline.md] [--allow-refusals] [--quiet]
      Drive load at every endpoint of the config (the duration is split between them)
      and write the JSON result and a Markdown report. 429s are counted, never timed;
      exits 1 when they are most of an endpoint's responses, unless --allow-refusals.
`
const COMPARE_USAGE = `  cortex compare <baseline.json> <current.json> [--tolerance 10%] [--min-delta-ms 0]
                 [--markdown <file>] [--quiet]
      Print a comparison table; exit 1 on a regression (a latency must also grow by more
      than --min-delta-ms, so sub-millisecond noise does not fail CI).
`
const CONFIGS = `Configs: .json, .js/.mjs/.cjs or .ts/.mts (default export: the defineSlos() input).
`
const COMMON = `Every command takes --help (its usage) and --quiet (no output but errors; the exit code
and the files written carry the result). cortex --version prints the version.
`

export const USAGE = `Usage:
${GENERATE_USAGE}${BASELINE_USAGE}${COMPARE_USAGE}
${CONFIGS}${COMMON}`

/** Each command's own usage, printed by `cortex <command> --help` and with its usage errors. */
const COMMAND_USAGE = {
  slo: `Usage:\n${GENERATE_USAGE}\n${CONFIGS}`,
  'slo generate': `Usage:\n${GENERATE_USAGE}\n${CONFIGS}`,
  baseline: `Usage:\n${BASELINE_USAGE}\n${CONFIGS}`,
  compare: `Usage:\n${COMPARE_USAGE}`,
} as const
type Command = keyof typeof COMMAND_USAGE

class UsageError extends Error {
  constructor(
    message: string,
    readonly usage: string = USAGE,
  ) {
    super(message)
  }
}

const HELP = new Set(['--help', '-h', 'help'])

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
    if (command === undefined) {
      io.stderr.write(USAGE)
      return 2
    }
    if (command === '--version' || command === '-v' || command === 'version') {
      io.stdout.write(`${packageVersion()}\n`)
      return 0
    }
    if (HELP.has(command)) {
      // `cortex help`, `cortex --help`, `cortex help slo generate`
      const topic = rest.join(' ')
      io.stdout.write(topic in COMMAND_USAGE ? COMMAND_USAGE[topic as Command] : USAGE)
      return 0
    }
    if (command === 'slo') {
      const [sub, ...subRest] = rest
      if (sub !== undefined && HELP.has(sub)) {
        io.stdout.write(COMMAND_USAGE.slo)
        return 0
      }
      if (sub === 'generate') return await generate(subRest, io)
      throw new UsageError(
        sub === undefined ? 'slo needs a subcommand: generate' : `unknown slo subcommand: ${sub}`,
        COMMAND_USAGE.slo,
      )
    }
    if (command === 'baseline') return await baseline(rest, io)
    if (command === 'compare') return await compare(rest, io)
    throw new UsageError(`unknown command: ${command}`)
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`cortex: ${err.message}\n\n${err.usage}`)
      return 2
    }
    io.stderr.write(
      `cortex: ${isCortexError(err) ? (err as Error).message : ((err as Error)?.stack ?? String(err))}\n`,
    )
    return 1
  }
}

/** This package's version, from its package.json (one level above src/ and dist/). */
function packageVersion(): string {
  const here = typeof __dirname === 'string' ? __dirname : dirname(fileURLToPath(import.meta.url))
  return (JSON.parse(readFileSync(join(here, '..', 'package.json'), 'utf8')) as { version: string }).version
}

/** Output that `--quiet` silences. */
function say(io: CliIo, quiet: boolean | undefined): (text: string) => void {
  return quiet ? () => {} : (text) => io.stdout.write(text)
}

/**
 * Parses a command's arguments; `--help`/`-h` and `--quiet` are understood by
 * every command. Unknown options are usage errors carrying that command's usage.
 */
function parse<O extends Record<string, { type: 'string' | 'boolean' }>>(
  command: Command,
  args: readonly string[],
  options: O,
) {
  try {
    return parseArgs({
      args: [...args],
      options: { ...options, help: { type: 'boolean', short: 'h' }, quiet: { type: 'boolean', short: 'q' } },
      allowPositionals: true,
      strict: true,
    })
  } catch (err) {
    throw new UsageError((err as Error).message, COMMAND_USAGE[command])
  }
}

/** Prints the command's usage when `--help` was given; true when it did. */
function helped(command: Command, values: { help?: boolean | string }, io: CliIo): boolean {
  if (values.help !== true) return false
  io.stdout.write(COMMAND_USAGE[command])
  return true
}

async function generate(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse('slo generate', args, {
    out: { type: 'string' },
    'k6-out': { type: 'string' },
    'base-url': { type: 'string' },
    compatibility: { type: 'string' },
  })
  if (helped('slo generate', values, io)) return 0
  const compatibility = values.compatibility
  if (compatibility !== undefined && compatibility !== 'sloth') {
    throw new UsageError(
      `--compatibility takes "sloth", got ${JSON.stringify(compatibility)}`,
      COMMAND_USAGE['slo generate'],
    )
  }
  if (positionals.length !== 1 || typeof values.out !== 'string') {
    throw new UsageError('slo generate needs a config file and --out <dir>', COMMAND_USAGE['slo generate'])
  }
  const slos = await loadSloConfig(positionals[0] as string, io.cwd)
  const files = await generateArtifacts(slos, resolve(io.cwd, values.out), {
    baseUrl: values['base-url'] as string | undefined,
    k6OutDir: typeof values['k6-out'] === 'string' ? resolve(io.cwd, values['k6-out']) : undefined,
    compatibility,
  })
  say(
    io,
    values.quiet,
  )(`Wrote ${files.length} files for "${slos.service}":\n${files.map((f) => `  ${f}\n`).join('')}`)
  return 0
}

async function baseline(args: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse('baseline', args, {
    url: { type: 'string' },
    config: { type: 'string' },
    duration: { type: 'string' },
    connections: { type: 'string' },
    clients: { type: 'string' },
    'client-header': { type: 'string' },
    out: { type: 'string' },
    markdown: { type: 'string' },
    'allow-refusals': { type: 'boolean' },
  })
  if (helped('baseline', values, io)) return 0
  if (positionals.length > 0 || typeof values.url !== 'string' || typeof values.config !== 'string') {
    throw new UsageError('baseline needs --url <base> and --config <config>', COMMAND_USAGE.baseline)
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
  const print = say(io, values.quiet)
  print(`${baselineTable(result)}\n\n`)
  for (const o of result.objectives) {
    print(
      `${o.met ? 'pass' : 'FAIL'}  ${o.name} (${o.route}, ${o.threshold}): SLI ${+(o.sli * 100).toPrecision(4)}%\n`,
    )
  }
  print(`\nWrote ${out} and ${markdown}\n`)
  const dominated = result.endpoints.filter(refusalsDominate)
  if (dominated.length > 0) {
    // Loud even with --quiet: the result is not what it claims to measure.
    io.stderr.write(`\n${refusalWarning(dominated)}\n`)
    if (values['allow-refusals'] !== true) return 1
  }
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
  const { values, positionals } = parse('compare', args, {
    tolerance: { type: 'string' },
    'min-delta-ms': { type: 'string' },
    markdown: { type: 'string' },
  })
  if (helped('compare', values, io)) return 0
  if (positionals.length !== 2) {
    throw new UsageError('compare needs <baseline.json> <current.json>', COMMAND_USAGE.compare)
  }
  const minDelta = values['min-delta-ms'] === undefined ? 0 : Number(values['min-delta-ms'])
  if (!(minDelta >= 0)) {
    throw new UsageError(
      `--min-delta-ms takes milliseconds ≥ 0, got ${values['min-delta-ms']}`,
      COMMAND_USAGE.compare,
    )
  }
  const [before, after] = await Promise.all(
    positionals.map(async (p) => JSON.parse(await readFile(resolve(io.cwd, p), 'utf8')) as BaselineResult),
  )
  const tolerance = values.tolerance === undefined ? 0.1 : parseTolerance(String(values.tolerance))
  const comparison = compareBaselines(before as BaselineResult, after as BaselineResult, {
    tolerance,
    minLatencyDeltaMs: minDelta,
  })
  const text = formatComparison(comparison)
  say(io, values.quiet)(text)
  if (typeof values.markdown === 'string') await writeFile(resolve(io.cwd, values.markdown), text)
  return comparison.ok ? 0 : 1
}
