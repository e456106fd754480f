import { isCortexError } from '@cortex/core'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ConcurrencyGate } from './concurrency-gate.js'

describe('ConcurrencyGate', () => {
  it('never runs more than the limit at once and never loses a queued task, even while the limit changes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 0, max: 20 }),
        fc.array(
          fc.oneof(
            fc.record({
              kind: fc.constant('task' as const),
              ticks: fc.integer({ min: 0, max: 5 }),
              fail: fc.boolean(),
            }),
            fc.record({ kind: fc.constant('limit' as const), limit: fc.integer({ min: 1, max: 6 }) }),
            fc.record({ kind: fc.constant('tick' as const) }),
          ),
          { maxLength: 80 },
        ),
        async (initialLimit, maxQueue, ops) => {
          const gate = new ConcurrencyGate(initialLimit, maxQueue)
          let limit = initialLimit
          let running = 0
          const outcomes: Promise<string>[] = []
          const waiters: Array<() => void> = []
          let submitted = 0
          let overLimit = 0
          for (const op of ops) {
            if (op.kind === 'limit') {
              limit = op.limit
              gate.setLimits(limit, maxQueue)
            } else if (op.kind === 'tick') {
              for (const w of waiters.splice(0)) w()
              await Promise.resolve()
            } else {
              submitted++
              outcomes.push(
                gate
                  .run(async () => {
                    running++
                    // A task only ever starts when a slot under the current limit is free.
                    if (running > limit) overLimit++
                    for (let i = 0; i < op.ticks; i++) await new Promise<void>((r) => waiters.push(r))
                    running--
                    if (op.fail) throw new Error('task failed')
                    return 'done'
                  })
                  .catch((err) => (isCortexError(err, 'ERR_CORTEX_QUEUE_FULL') ? 'refused' : 'failed')),
              )
            }
          }
          // Let everything finish.
          for (let i = 0; i < 400 && (gate.active > 0 || gate.queued > 0 || waiters.length > 0); i++) {
            for (const w of waiters.splice(0)) w()
            await new Promise((r) => setImmediate(r))
          }
          expect(overLimit).toBe(0)
          // Every submitted task either ran to completion or was refused: none is stuck in the queue.
          const stats = gate.stats()
          expect(stats.active).toBe(0)
          expect(stats.queued).toBe(0)
          expect(stats.completed + stats.rejected).toBe(submitted)
          const results = await Promise.all(outcomes)
          expect(results.length).toBe(submitted)
          expect(results.filter((r) => r === 'refused').length).toBe(stats.rejected)
        },
      ),
      { numRuns: 150 },
    )
  })

  it('starts queued tasks in arrival order', async () => {
    const gate = new ConcurrencyGate(1, 10)
    const order: number[] = []
    let release = () => {}
    const first = gate.run(() => new Promise<void>((r) => (release = r)))
    const rest = [1, 2, 3].map((n) => gate.run(() => order.push(n)))
    release()
    await Promise.all([first, ...rest])
    expect(order).toEqual([1, 2, 3])
  })

  it('raising the limit starts queued tasks at once, without waiting for a running one to finish', async () => {
    const gate = new ConcurrencyGate(1, 10)
    const releases: Array<() => void> = []
    const started: number[] = []
    const tasks = [0, 1, 2].map((n) =>
      gate.run(
        () =>
          new Promise<void>((r) => {
            started.push(n)
            releases.push(r)
          }),
      ),
    )
    expect(gate.stats()).toMatchObject({ active: 1, queued: 2 })
    gate.setLimits(3, 10)
    expect(gate.stats()).toMatchObject({ active: 3, queued: 0 })
    expect(started).toEqual([0, 1, 2])
    for (const release of releases) release()
    await Promise.all(tasks)
    expect(gate.stats()).toMatchObject({ active: 0, queued: 0, completed: 3 })
  })

  it('turns a synchronous throw into a rejection and frees the slot', async () => {
    const gate = new ConcurrencyGate(1, 0)
    await expect(
      gate.run(() => {
        throw new Error('boom')
      }),
    ).rejects.toThrow('boom')
    expect(await gate.run(() => 'next')).toBe('next')
  })
})

describe('ConcurrencyGate options', () => {
  it('rejects a limit below 1 and a negative queue, naming the option', () => {
    expect(() => new ConcurrencyGate(0, 1)).toThrow('`limit` in ConcurrencyGate')
    expect(() => new ConcurrencyGate(2, -1)).toThrow('`maxQueue` in ConcurrencyGate')
    expect(new ConcurrencyGate(Number.POSITIVE_INFINITY, 0).stats().limit).toBe(Number.POSITIVE_INFINITY)
  })
})

describe('ConcurrencyGate.acquire', () => {
  it('holds a slot until released, and a second release does nothing', async () => {
    const gate = new ConcurrencyGate(1, 5)
    const release = await gate.acquire()
    let started = false
    const waiting = gate.acquire().then((r) => {
      started = true
      return r
    })
    await new Promise((r) => setImmediate(r))
    expect(started).toBe(false)
    release()
    release()
    const second = await waiting
    expect(gate.active).toBe(1)
    second()
    expect(gate.stats()).toMatchObject({ active: 0, queued: 0, completed: 2 })
  })
})

describe('ConcurrencyGate.tryAcquire', () => {
  it('takes a free slot synchronously and never jumps the queue', async () => {
    const gate = new ConcurrencyGate(1, 5)
    const first = gate.tryAcquire()
    expect(first).toBeTypeOf('function')
    expect(gate.tryAcquire()).toBeUndefined() // full
    const queued = gate.acquire()
    first?.()
    // The slot went to the queued request, not to a newcomer.
    expect(gate.tryAcquire()).toBeUndefined()
    ;(await queued)()
    expect(gate.stats()).toMatchObject({ active: 0, queued: 0 })
  })
})
