/**
 * Simulated inference: real CPU work whose cost follows the power mode's
 * knobs, standing in for a model runtime. `layers` is model depth (a smaller
 * model has fewer), `maxTokens` caps generation, and batches share the
 * per-invocation overhead. The outputs are deterministic functions of the
 * input, so responses can be checked.
 */

export interface InferenceKnobs {
  model: string
  layers: number
  maxTokens: number
  batch?: { maxSize: number; maxWaitMs: number }
}

const HIDDEN = 96
const WEIGHTS = Float64Array.from({ length: 12 * HIDDEN }, (_, i) => Math.sin(i + 1) * 0.05)

/** A stable small hash of a string, the "prompt" the work depends on. */
function seedOf(text: string): number {
  let h = 2166136261
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619)
  return (h >>> 0) / 4294967296
}

/** The per-call overhead a model runtime pays once per invocation (graph set-up, kernel launch). */
function invocationOverhead(): number {
  let acc = 0
  for (let i = 0; i < 40_000; i++) acc += Math.sqrt(i) * 1e-9
  return acc
}

/** `tokens` decoding steps through `layers` layers: the CPU cost of one request. */
function decode(seed: number, tokens: number, layers: number): Float64Array {
  const state = new Float64Array(8)
  let acc = seed
  for (let t = 0; t < tokens; t++) {
    for (let l = 0; l < layers; l++) {
      const base = l * HIDDEN
      for (let i = 0; i < HIDDEN; i++) acc = acc * 0.999 + (WEIGHTS[base + i] as number) * (t + 1) * 1e-3
    }
    state[t % 8] = acc
  }
  return state
}

export interface EmbedInput {
  text?: string
  imageUrl?: string
}

export interface EmbedOutput {
  model: string
  dimensions: number
  embedding: number[]
}

/** Embeds a batch of inputs: one invocation overhead, then per-input work. */
export function embedBatch(inputs: EmbedInput[], knobs: InferenceKnobs): EmbedOutput[] {
  invocationOverhead()
  return inputs.map((input) => {
    const text = `${input.text ?? ''}|${input.imageUrl ?? ''}`
    const tokens = Math.min(knobs.maxTokens, 32 + (text.length % 32))
    const state = decode(seedOf(text), tokens, knobs.layers)
    return {
      model: knobs.model,
      dimensions: state.length,
      embedding: Array.from(state, (v) => Number(v.toFixed(6))),
    }
  })
}

export interface PlanOutput {
  model: string
  steps: string[]
  tokens: number
}

/** Plans toward a goal: the longest generation of the three endpoints. */
export function plan(goal: string, knobs: InferenceKnobs): PlanOutput {
  invocationOverhead()
  const tokens = Math.min(knobs.maxTokens, 400 + (goal.length % 200))
  const state = decode(seedOf(goal), tokens, knobs.layers)
  const steps = goal
    .split(/\s+/)
    .filter((w) => w.length > 3)
    .slice(0, 4)
    .map((w, i) => `step ${i + 1}: ${w} (${(state[i] ?? 0).toFixed(3)})`)
  return { model: knobs.model, steps, tokens }
}

export interface ReflectOutput {
  model: string
  critique: string
  score: number
  tokens: number
}

/** Reflects on a plan and its outcome. */
export function reflect(steps: string[], outcome: string, knobs: InferenceKnobs): ReflectOutput {
  invocationOverhead()
  const text = `${steps.join(';')}|${outcome}`
  const tokens = Math.min(knobs.maxTokens, 160 + (text.length % 64))
  const state = decode(seedOf(text), tokens, knobs.layers)
  const score = Math.abs(state[0] ?? 0) % 1
  return {
    model: knobs.model,
    critique: `${steps.length} steps, outcome "${outcome}"`,
    score: Number(score.toFixed(3)),
    tokens,
  }
}
