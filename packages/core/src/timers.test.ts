import { describe, expect, it } from 'vitest'
import { isCortexError } from './errors.js'
import { realTimers, resolveTimers, type Timers, unrefTimer } from './timers.js'

describe('realTimers', () => {
  it('runs a timeout once and an interval until cleared, through the host globals', async () => {
    const fired: string[] = []
    await new Promise<void>((done) => {
      const cancelled = realTimers.setTimeout(() => fired.push('cancelled'), 0)
      realTimers.clearTimeout(cancelled)
      let ticks = 0
      const interval = realTimers.setInterval(() => {
        ticks++
        fired.push(`tick ${ticks}`)
        if (ticks === 2) {
          realTimers.clearInterval(interval)
          realTimers.setTimeout(done, 5)
        }
      }, 1)
    })
    expect(fired).toEqual(['tick 1', 'tick 2'])
  })

  it('looks the globals up at call time, so fakes installed later apply', () => {
    const original = globalThis.setTimeout
    const calls: number[] = []
    globalThis.setTimeout = ((_fn: () => void, ms: number) => {
      calls.push(ms)
      return 0
    }) as unknown as typeof globalThis.setTimeout
    try {
      realTimers.setTimeout(() => {}, 42)
    } finally {
      globalThis.setTimeout = original
    }
    expect(calls).toEqual([42])
  })
})

describe('resolveTimers', () => {
  it('uses each injected function and the real one for each missing function', () => {
    const fake: Partial<Timers> = { setTimeout: () => 'fake', clearTimeout: () => {} }
    const timers = resolveTimers(fake)
    expect(timers.setTimeout).toBe(fake.setTimeout)
    expect(timers.clearTimeout).toBe(fake.clearTimeout)
    expect(timers.setInterval).toBe(realTimers.setInterval)
    expect(timers.clearInterval).toBe(realTimers.clearInterval)
    expect(resolveTimers(undefined)).toBe(realTimers)
  })

  it('rejects a non-object and a member that is not a function, naming it', () => {
    for (const [timers, option] of [
      [42, '`timers`'],
      [null, '`timers`'],
      [{ setInterval: 'soon' }, '`timers.setInterval` in where'],
    ] as const) {
      let err: unknown
      try {
        resolveTimers(timers as never, 'where')
      } catch (e) {
        err = e
      }
      expect(isCortexError(err, 'ERR_CORTEX_CONFIG')).toBe(true)
      expect((err as Error).message).toContain(option)
    }
  })
})

describe('unrefTimer', () => {
  it("calls a handle's unref and ignores handles without one", () => {
    let unrefs = 0
    unrefTimer({
      unref() {
        unrefs++
      },
    })
    unrefTimer(7)
    unrefTimer(undefined)
    unrefTimer({ unref: 'no' })
    expect(unrefs).toBe(1)
  })
})
