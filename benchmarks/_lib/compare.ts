/**
 * The one way every benchmark here measures and prints: contenders run in
 * the same process, each call of `fn` does `opsPerCall` operations (so
 * nanosecond-scale operations are not drowned by the timer), and the table
 * shows medians and each of ours against the best peer measured in the
 * same run.
 */
import { spawnSync } from 'node:child_process'
import { arch, cpus, platform } from 'node:os'
import { Bench } from 'tinybench'

export interface Contender {
  name: string
  /** True for @cortex/* rows; the rest are peers. */
  ours?: boolean
  /** The harness alone (loop, value reads): neither ours nor a peer; printed for reference. */
  baseline?: boolean
  /** One call performs `opsPerCall` operations. */
  fn: () => unknown
  opsPerCall?: number
}

export interface Row {
  name: string
  ours: boolean
  baseline: boolean
  nsPerOp: number
  opsPerSec: number
  /** For ours: best peer's ns/op ÷ ours (above 1 means faster). For peers: ours-best ÷ this. */
  ratio: number | undefined
}

export interface CompareOptions {
  /** Milliseconds each contender runs (default 1000, or BENCH_TIME_MS). */
  timeMs?: number
  /**
   * Rounds, each running every contender for `timeMs / rounds` in turn; a
   * contender's figure is the median of its rounds (default 1). On a VM whose
   * speed drifts over seconds, one long sample per contender puts each in a
   * different period; short interleaved rounds put them all in the same ones.
   */
  rounds?: number
}

export async function compare(
  title: string,
  contenders: Contender[],
  options: CompareOptions = {},
): Promise<Row[]> {
  const time = options.timeMs ?? Number(process.env.BENCH_TIME_MS ?? 1000)
  const rounds = options.rounds ?? 1
  const slice = time / rounds
  const perRound: number[][] = contenders.map(() => [])
  for (let round = 0; round < rounds; round++) {
    const bench = new Bench({ time: slice, warmupTime: round === 0 ? Math.min(200, slice / 2) : 0 })
    for (const c of contenders) bench.add(c.name, c.fn)
    await bench.run()
    contenders.forEach((c, i) => {
      const task = bench.tasks[i]
      const result = task?.result as { latency?: { p50: number } } | undefined
      const p50Ms = result?.latency?.p50
      if (p50Ms === undefined)
        throw new Error(`benchmark "${c.name}" did not complete: ${JSON.stringify(task?.result)}`)
      perRound[i]?.push(p50Ms)
    })
  }
  const rows: Row[] = contenders.map((c, i) => {
    const p50Ms = median(perRound[i] as number[])
    const nsPerOp = (p50Ms * 1e6) / (c.opsPerCall ?? 1)
    return {
      name: c.name,
      ours: c.ours ?? false,
      baseline: c.baseline ?? false,
      nsPerOp,
      opsPerSec: 1e9 / nsPerOp,
      ratio: undefined,
    }
  })
  const peers = rows.filter((r) => !r.ours && !r.baseline)
  const bestPeer = peers.length ? Math.min(...peers.map((r) => r.nsPerOp)) : undefined
  for (const r of rows) if (r.ours && bestPeer !== undefined) r.ratio = bestPeer / r.nsPerOp
  print(title, rows, time, rounds)
  return rows
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

export function formatRate(opsPerSec: number): string {
  if (opsPerSec >= 1e6) return `${(opsPerSec / 1e6).toFixed(1)}M`
  if (opsPerSec >= 1e3) return `${(opsPerSec / 1e3).toFixed(1)}k`
  return opsPerSec.toFixed(0)
}

function print(title: string, rows: Row[], time: number, rounds: number): void {
  const how =
    rounds === 1
      ? `median of samples over ${time} ms each`
      : `median of ${rounds} interleaved rounds, ${time / rounds} ms each per contender`
  console.log(`\n## ${title}  (${how}, same process)\n`)
  console.log('| contender | ns/op (median) | ops/s | vs best peer |')
  console.log('|---|---:|---:|---:|')
  for (const r of rows) {
    const ratio = r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}×`
    console.log(
      `| ${r.ours ? '**' : ''}${r.name}${r.ours ? '**' : ''} | ${r.nsPerOp.toFixed(1)} | ${formatRate(r.opsPerSec)} | ${ratio} |`,
    )
  }
}

/** Prints where and when a run happened, so a table can be quoted with its context. */
/**
 * Pins this process to `cpu` with `taskset`, on Linux with two or more CPUs,
 * unless the environment variable `optOut` is '0'. True when it is pinned.
 */
export function pinThisProcess(cpu: number, optOut: string): boolean {
  if (process.platform !== 'linux' || cpus().length < 2 || process.env[optOut] === '0') return false
  return (
    spawnSync('taskset', ['-p', '-c', String(cpu), String(process.pid)], { stdio: 'ignore' }).status === 0
  )
}

/**
 * Prints the date, Node and machine, and pins this process to the last CPU
 * (`BENCH_PIN=0` to skip): every contender then runs on the same core, away
 * from whatever else the machine is doing, and repeated runs agree far better.
 */
export async function printEnvironment(): Promise<void> {
  const count = cpus().length
  const pinned = pinThisProcess(count - 1, 'BENCH_PIN') ? ` · pinned to CPU ${count - 1}` : ''
  const cpu = cpus()[0]?.model ?? 'unknown CPU'
  console.log(
    `# ${new Date().toISOString().slice(0, 10)} · Node ${process.version} · ${count} × ${cpu} · ${platform()} ${arch()}${pinned}`,
  )
}
