import { describe, expect, it } from 'vitest'
import { createBatcher } from './batcher.js'

const timers = {
  setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms),
  clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout),
}

describe('createBatcher', () => {
  it('groups calls up to maxSize and returns each caller its own result', async () => {
    const batches: number[][] = []
    const double = createBatcher(
      (xs: number[]) => {
        batches.push(xs)
        return xs.map((x) => x * 2)
      },
      () => ({ maxSize: 3, maxWaitMs: 1000 }),
      timers,
    )
    const results = await Promise.all([1, 2, 3, 4, 5, 6].map(double))
    expect(results).toEqual([2, 4, 6, 8, 10, 12])
    expect(batches).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ])
  })

  it('flushes a partial batch after maxWaitMs', async () => {
    const batches: number[][] = []
    const echo = createBatcher(
      (xs: number[]) => {
        batches.push(xs)
        return xs
      },
      () => ({ maxSize: 8, maxWaitMs: 5 }),
      timers,
    )
    expect(await Promise.all([echo(1), echo(2)])).toEqual([1, 2])
    expect(batches).toEqual([[1, 2]])
  })

  it('processes each call alone when the mode has no batch knob', async () => {
    const batches: number[][] = []
    const echo = createBatcher(
      (xs: number[]) => {
        batches.push(xs)
        return xs
      },
      () => undefined,
      timers,
    )
    await Promise.all([echo(1), echo(2)])
    expect(batches).toEqual([[1], [2]])
  })

  it('rejects every caller when the batch fails or returns the wrong number of results', async () => {
    const failing = createBatcher(
      () => {
        throw new Error('model crashed')
      },
      () => ({ maxSize: 2, maxWaitMs: 1000 }),
      timers,
    )
    await expect(Promise.all([failing(1), failing(2)])).rejects.toThrow('model crashed')
    const short = createBatcher(
      () => [1],
      () => ({ maxSize: 2, maxWaitMs: 1000 }),
      timers,
    )
    await expect(Promise.all([short(1), short(2)])).rejects.toThrow('one result per item')
  })

  it('rejects a batch function that is not a function, when created', () => {
    expect(() => createBatcher(42 as never, () => undefined, timers)).toThrow('`process` in batcher')
  })
})
