/**
 * Micro-batching driven by the current power mode: calls made within
 * `maxWaitMs` of each other (up to `maxSize`) are handed to one
 * `process(items)` call, amortising per-call overhead (model invocation,
 * kernel launch, network round trip). Without a batch knob each call is
 * processed on its own, at once.
 */
import { CortexConfigError, CortexError, type Timers } from '@cortex/core'

export interface BatchKnob {
  maxSize: number
  maxWaitMs: number
}

/** Submits one item; resolves with its result from the batch. */
export type Batcher<I, R> = (item: I) => Promise<R>

interface Pending<I, R> {
  item: I
  resolve: (r: R) => void
  reject: (e: unknown) => void
}

function validKnob(knob: unknown): BatchKnob | undefined {
  if (typeof knob !== 'object' || knob === null) return undefined
  const { maxSize, maxWaitMs } = knob as Partial<BatchKnob>
  if (typeof maxSize !== 'number' || !(maxSize >= 1) || typeof maxWaitMs !== 'number' || !(maxWaitMs >= 0))
    return undefined
  return { maxSize: Math.floor(maxSize), maxWaitMs }
}

/**
 * @example
 * const embed = createBatcher((texts) => model.embed(texts), () => power.knobs.batch, realTimers)
 * const vector = await embed('hello')
 */
export function createBatcher<I, R>(
  process: (items: I[]) => R[] | Promise<R[]>,
  knob: () => BatchKnob | undefined,
  timers: Pick<Timers, 'setTimeout' | 'clearTimeout'>,
): Batcher<I, R> {
  if (typeof process !== 'function') {
    throw new CortexConfigError(
      'process',
      process,
      'a function taking the batch and returning one result per item',
      'batcher',
    )
  }
  if (typeof knob !== 'function')
    throw new CortexConfigError('knob', knob, 'a function returning the batch knob', 'batcher')
  let pending: Pending<I, R>[] = []
  let timer: unknown

  function flush(): void {
    if (timer !== undefined) {
      timers.clearTimeout(timer)
      timer = undefined
    }
    const batch = pending
    pending = []
    if (batch.length === 0) return
    let results: Promise<R[]>
    try {
      results = Promise.resolve(process(batch.map((p) => p.item)))
    } catch (err) {
      results = Promise.reject(err)
    }
    results.then(
      (out) => {
        if (!Array.isArray(out) || out.length !== batch.length) {
          const err = new CortexError(
            'ERR_CORTEX_BATCH',
            `The batch function returned ${Array.isArray(out) ? out.length : typeof out} result(s) for ${batch.length} item(s); it must return one result per item, in order`,
          )
          for (const p of batch) p.reject(err)
          return
        }
        for (let i = 0; i < batch.length; i++) (batch[i] as Pending<I, R>).resolve(out[i] as R)
      },
      (err) => {
        for (const p of batch) p.reject(err)
      },
    )
  }

  return (item: I) =>
    new Promise<R>((resolve, reject) => {
      const k = validKnob(knob())
      pending.push({ item, resolve, reject })
      if (!k || pending.length >= k.maxSize) {
        flush()
      } else if (timer === undefined) {
        // Not unref'd: a pending batch is real work that callers are awaiting.
        timer = timers.setTimeout(flush, k.maxWaitMs)
      }
    })
}
