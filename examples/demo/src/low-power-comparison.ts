/**
 * How the demo measures low-power mode: the method of benchmarks/low-power,
 * applied to the example server over HTTP.
 *
 * - The server is kept busy: closed-loop clients (each sends its next request
 *   when the last one is answered), so both modes run at the most the server
 *   can serve. A power budget is only exceeded under load; at a fixed low
 *   rate the idle power of the models dominates every request and hides what
 *   the mode saves.
 * - Runs alternate normal, low, low, normal, twice (ABBA ABBA), and each
 *   adjacent normal/low pair is compared on its own: a machine whose other
 *   load drifts biases neither mode, and one pair disturbed by a sudden change
 *   cannot move the median.
 * - Energy comes from the server process's CPU time over each run's wall time
 *   under the Teads, linear and cubic CPU power models (idle power included),
 *   with the cores and TDP the server's own meter uses, and is divided by the
 *   requests answered 2xx.
 */
import { CPU_POWER_MODELS, type CpuPowerModel, cpuEnergyJoules } from '@cortex-examples/shared'

export type Mode = 'normal' | 'low'

/** The models the saving is judged under: every one that charges idle power. */
export const COMPARISON_MODELS: readonly CpuPowerModel[] = CPU_POWER_MODELS.filter(
  (m) => m !== 'process-linear',
)

/** Closed-loop clients (autocannon connections, no rate): as in benchmarks/low-power. */
export const CLOSED_LOOP_CLIENTS = 16

/** The seed's criterion: at least this much less energy per request under every model. */
export const TARGET_SAVING = 0.3

/** The shortest run worth measuring: shorter ones are mostly start-up and scheduling noise. */
const MIN_RUN_SECONDS = 2

/** An unmeasured run per mode first, low then normal, so neither mode's first measured run pays for compiling its code paths. */
export const WARM_UP: { mode: Mode; load: ClosedLoopLoad }[] = [
  { mode: 'low', load: { connections: CLOSED_LOOP_CLIENTS, duration: 2 } },
  { mode: 'normal', load: { connections: CLOSED_LOOP_CLIENTS, duration: 2 } },
]

/** One measured run. */
export interface Run {
  mode: Mode
  /** Requests answered 2xx. */
  answered: number
  /** Every other response (429, 503, 5xx): energy is divided by answered requests only. */
  refused: number
  /** CPU time of the server process during the run. */
  cpuSeconds: number
  wallSeconds: number
  /** What the server's own meter (`/metrics/energy`, sensors or its models) attributed to the inference routes. */
  meterJoules: number
  /** The server meter's average power over the run (the machine's where it reports it), to set against the power budget. */
  meterWatts: number
  p50Ms: number
  p97_5Ms: number
}

/** Cores and TDP the models use: the server's meter's own. */
export interface ModelMachine {
  cores: number
  tdpWatts: number
}

/** autocannon options of a run: a number of clients and a duration, nothing that paces them. */
export interface ClosedLoopLoad {
  connections: number
  duration: number
}

/**
 * The runs of a comparison of about `seconds` in total: normal, low, low,
 * normal, twice, each closed loop with the same clients.
 *
 * @example
 * comparisonSchedule(27) // → eight closed-loop runs of 3 s: normal, low, low, normal, normal, low, low, normal
 * comparisonSchedule(5) // → eight runs of 2 s (the shortest)
 */
export function comparisonSchedule(seconds: number): { mode: Mode; load: ClosedLoopLoad }[] {
  const order: Mode[] = ['normal', 'low', 'low', 'normal', 'normal', 'low', 'low', 'normal']
  // Whole seconds: autocannon runs whole seconds.
  const each = Math.max(MIN_RUN_SECONDS, Math.round(seconds / order.length))
  return order.map((mode) => ({ mode, load: { connections: CLOSED_LOOP_CLIENTS, duration: each } }))
}

/** Joules of a run under a CPU power model. */
export function runJoules(run: Run, model: CpuPowerModel, machine: ModelMachine): number {
  return cpuEnergyJoules(model, run.cpuSeconds, run.wallSeconds, machine.cores, machine.tdpWatts)
}

export interface ModeFigures {
  answered: number
  refused: number
  /** Server CPU cores kept busy (CPU seconds per wall second). */
  coresBusy: number
  /** Answered requests per second. */
  throughput: number
  /** Server CPU milliseconds per answered request: the work a request costs, whatever the CPU share the machine gave. */
  cpuMsPerRequest: number
  joulesPerRequest: Record<CpuPowerModel, number>
  /** Watts under each model at this load. */
  watts: Record<CpuPowerModel, number>
  meterJoulesPerRequest: number
  meterWatts: number
}

export interface Comparison {
  /** Each mode's runs taken together. */
  normal: ModeFigures
  low: ModeFigures
  /** Per adjacent normal/low pair (runs 1–2, 3–4, …): 1 − low/normal energy per request, per model. */
  pairs: { saving: Record<CpuPowerModel, number>; cpuSaving: number }[]
  /** The median pair's saving, per model: the figure the demo states. */
  saving: Record<CpuPowerModel, number>
  /** The smallest pair saving, per model. */
  worstPair: Record<CpuPowerModel, number>
  /** The median pair's saving of CPU time per request (no idle power: what `process-linear` would say). */
  cpuSaving: number
  /** 1 − low/normal of what the server's own meter attributed per request, all runs together. */
  meterSaving: number
  /** The smallest pair saving of CPU time per request. */
  worstPairCpuSaving: number
  /**
   * Every model saves at least TARGET_SAVING on the median pair, and every
   * pair saves at least TARGET_SAVING of CPU time per request. The worst pair
   * is judged on CPU time, not on the models: on a shared machine the CPU
   * share the OS gives the server moves between runs, and with it the idle
   * power the models charge per request, which is the machine's doing, not
   * the mode's. (benchmarks/low-power, in one process, judges the worst pair
   * under the models.)
   */
  met: boolean
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2
}

function modeFigures(runs: Run[], machine: ModelMachine): ModeFigures {
  const sum = (f: (r: Run) => number) => runs.reduce((a, r) => a + f(r), 0)
  const answered = sum((r) => r.answered)
  const wall = sum((r) => r.wallSeconds)
  const perModel = (f: (joules: number) => number) =>
    Object.fromEntries(COMPARISON_MODELS.map((m) => [m, f(sum((r) => runJoules(r, m, machine)))])) as Record<
      CpuPowerModel,
      number
    >
  return {
    answered,
    refused: sum((r) => r.refused),
    coresBusy: sum((r) => r.cpuSeconds) / wall,
    throughput: answered / wall,
    cpuMsPerRequest: (sum((r) => r.cpuSeconds) * 1000) / answered,
    joulesPerRequest: perModel((j) => j / answered),
    watts: perModel((j) => j / wall),
    meterJoulesPerRequest: sum((r) => r.meterJoules) / answered,
    meterWatts: sum((r) => r.meterWatts * r.wallSeconds) / wall,
  }
}

const joulesPerRequest = (run: Run, model: CpuPowerModel, machine: ModelMachine) =>
  runJoules(run, model, machine) / run.answered

/**
 * The saving of low mode from the runs of `comparisonSchedule`, in its order
 * (pairs are runs 1–2, 3–4, …).
 */
export function compareModes(runs: Run[], machine: ModelMachine): Comparison {
  const perModel = (f: (m: CpuPowerModel) => number) =>
    Object.fromEntries(COMPARISON_MODELS.map((m) => [m, f(m)])) as Record<CpuPowerModel, number>
  const pairs: Comparison['pairs'] = []
  for (let i = 0; i + 1 < runs.length; i += 2) {
    const pair = [runs[i], runs[i + 1]] as Run[]
    const n = pair.find((r) => r.mode === 'normal')
    const l = pair.find((r) => r.mode === 'low')
    if (!n || !l) continue
    pairs.push({
      saving: perModel((m) => 1 - joulesPerRequest(l, m, machine) / joulesPerRequest(n, m, machine)),
      cpuSaving: 1 - l.cpuSeconds / l.answered / (n.cpuSeconds / n.answered),
    })
  }
  const saving = perModel((m) => median(pairs.map((p) => p.saving[m])))
  const worstPair = perModel((m) => Math.min(...pairs.map((p) => p.saving[m])))
  const worstPairCpuSaving = Math.min(...pairs.map((p) => p.cpuSaving))
  const normal = modeFigures(
    runs.filter((r) => r.mode === 'normal'),
    machine,
  )
  const low = modeFigures(
    runs.filter((r) => r.mode === 'low'),
    machine,
  )
  return {
    normal,
    low,
    pairs,
    saving,
    worstPair,
    cpuSaving: median(pairs.map((p) => p.cpuSaving)),
    meterSaving: 1 - low.meterJoulesPerRequest / normal.meterJoulesPerRequest,
    worstPairCpuSaving,
    met:
      pairs.length > 0 &&
      COMPARISON_MODELS.every((m) => saving[m] >= TARGET_SAVING) &&
      worstPairCpuSaving >= TARGET_SAVING,
  }
}
