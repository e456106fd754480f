/**
 * Where low mode's saving comes from: the simulated inference of the three
 * sample requests, run in the demo's own process and timed in CPU time (not
 * wall time, so other load on the machine barely moves it), with the normal
 * mode's knobs changed one at a time toward the low mode's.
 */
import {
  config,
  type EmbedInput,
  embedBatch,
  type InferenceKnobs,
  plan,
  reflect,
} from '@cortex-examples/shared'

export interface KnobStep {
  /** What this step changes. */
  name: string
  knobs: InferenceKnobs
  /** Embeddings per invocation: 1, or full batches of the low mode's `batch.maxSize` (its best case). */
  embedBatch: number
}

/**
 * The cumulative steps from normal to low: smaller model, then token cap,
 * then batching.
 *
 * @example
 * knobSteps().map((s) => s.name) // → ['normal (large: 8 layers, …)', '+ smaller model …', …]
 */
export function knobSteps(): KnobStep[] {
  const normal: InferenceKnobs = config.powerModes.normal.knobs
  const low: InferenceKnobs = config.powerModes.low.knobs
  const smaller = { ...normal, model: low.model, layers: low.layers }
  const capped = { ...smaller, maxTokens: low.maxTokens }
  const steps: KnobStep[] = [
    {
      name: `normal (${normal.model}: ${normal.layers} layers, ${normal.maxTokens} tokens)`,
      knobs: normal,
      embedBatch: 1,
    },
    { name: `+ smaller model (${low.model}: ${low.layers} layers)`, knobs: smaller, embedBatch: 1 },
    { name: `+ token cap ${low.maxTokens}`, knobs: capped, embedBatch: 1 },
  ]
  if (low.batch)
    steps.push({
      name: `+ batching (embeddings in full batches of ${low.batch.maxSize})`,
      knobs: low,
      embedBatch: low.batch.maxSize,
    })
  return steps
}

const samples = config.slos.requests
const embedInput: EmbedInput = samples['POST /embed/multimodal'].body
const goal = samples['POST /agents/plan'].body.goal
const { plan: steps, outcome } = samples['POST /agents/reflect'].body

/** CPU milliseconds of inference per request (the three sample requests in equal numbers) under a step. */
function inferenceCpuMs(step: KnobStep, rounds: number): number {
  const before = process.cpuUsage()
  for (let i = 0; i < rounds; i++) {
    embedBatch(
      Array.from({ length: step.embedBatch }, () => embedInput),
      step.knobs,
    )
    for (let b = 0; b < step.embedBatch; b++) {
      plan(goal, step.knobs)
      reflect(steps, outcome, step.knobs)
    }
  }
  const used = process.cpuUsage(before)
  return (used.user + used.system) / 1000 / (3 * rounds * Math.max(1, step.embedBatch))
}

/**
 * Inference CPU per request for each step: the least of `repeats`
 * interleaved measurements (the least is the one other processes disturbed
 * least).
 */
export function measureKnobSteps(repeats = 3, rounds = 30): { step: KnobStep; cpuMsPerRequest: number }[] {
  const steps = knobSteps()
  const best = steps.map(() => Number.POSITIVE_INFINITY)
  for (let r = 0; r < repeats; r++) {
    steps.forEach((step, i) => {
      best[i] = Math.min(best[i] as number, inferenceCpuMs(step, rounds))
    })
  }
  return steps.map((step, i) => ({ step, cpuMsPerRequest: best[i] as number }))
}
