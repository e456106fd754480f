import { isCortexError } from '@cortex/core'
import fc from 'fast-check'
import { Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { createPowerModeController, type PowerModeChange } from './controller.js'
import type { PowerModeTrigger } from './trigger.js'

const MODES = {
  normal: { concurrency: 8, rateLimitScale: 1, knobs: { model: 'large', maxTokens: 1024 } },
  low: { concurrency: 2, rateLimitScale: 0.5, knobs: { model: 'small', maxTokens: 256 } },
}

/** A trigger whose verdict the test sets. */
function scripted(name = 'scripted'): PowerModeTrigger & { verdict: string | undefined } {
  return {
    name,
    verdict: undefined,
    evaluate() {
      return this.verdict
    },
  }
}

const silent = { warn() {} }

/**
 * A virtual clock with the controller's timer port: `advance(ms)` moves time
 * and fires due timers in order, so TTL tests never wait or race.
 */
function virtualTime(start = 0) {
  let now = start
  let nextId = 1
  const pending = new Map<number, { at: number; fn: () => void; every?: number; unrefed: boolean }>()
  const handle = (id: number) => ({
    id,
    unref() {
      const t = pending.get(id)
      if (t) t.unrefed = true
    },
  })
  const add = (fn: () => void, ms: number, every?: number) => {
    const id = nextId++
    pending.set(id, { at: now + ms, fn, every, unrefed: false })
    return handle(id)
  }
  const clear = (h: unknown) => {
    pending.delete((h as { id: number } | undefined)?.id as number)
  }
  return {
    clock: () => now,
    timers: {
      setTimeout: (fn: () => void, ms: number) => add(fn, ms),
      clearTimeout: clear,
      setInterval: (fn: () => void, ms: number) => add(fn, ms, ms),
      clearInterval: clear,
    },
    /** Timeouts (not intervals) still pending, and whether each is unref'd. */
    timeouts: () => [...pending.values()].filter((t) => t.every === undefined).map((t) => t.unrefed),
    async advance(ms: number) {
      const end = now + ms
      for (;;) {
        let next: [number, { at: number; fn: () => void; every?: number }] | undefined
        for (const entry of pending)
          if (entry[1].at <= end && (!next || entry[1].at < next[1].at)) next = entry
        if (!next) break
        const [id, t] = next
        now = t.at
        if (t.every === undefined) pending.delete(id)
        else t.at += t.every
        t.fn()
        // Let evaluations started by the timer settle before the next one.
        for (let i = 0; i < 10; i++) await Promise.resolve()
      }
      now = end
      for (let i = 0; i < 10; i++) await Promise.resolve()
    },
  }
}

describe('createPowerModeController', () => {
  it('never changes mode twice within minDwellMs, whatever the triggers say', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 120_000 }),
        fc.array(fc.record({ dt: fc.integer({ min: 0, max: 30_000 }), a: fc.boolean(), b: fc.boolean() }), {
          maxLength: 60,
        }),
        async (minDwellMs, steps) => {
          const a = scripted('a')
          const b = scripted('b')
          const power = createPowerModeController({
            modes: MODES,
            initial: 'normal',
            triggers: [a, b],
            minDwellMs,
            timers: { setInterval: () => 0, clearInterval: () => {} },
            logger: silent,
          })
          const changes: number[] = []
          power.on('change', (c) => changes.push(c.at))
          let now = 1_000_000
          for (const s of steps) {
            now += s.dt
            a.verdict = s.a ? 'low' : undefined
            b.verdict = s.b ? 'low' : undefined
            await power.evaluate(now)
            // The mode always follows the triggers once the dwell allows it.
            if (changes.length === 0 || now - (changes.at(-1) as number) >= minDwellMs) {
              expect(power.mode).toBe(s.a || s.b ? 'low' : 'normal')
            }
          }
          for (let i = 1; i < changes.length; i++) {
            expect((changes[i] as number) - (changes[i - 1] as number)).toBeGreaterThanOrEqual(minDwellMs)
          }
          power.close()
        },
      ),
      { numRuns: 200 },
    )
  })

  it('gives a manual override precedence over triggers until its TTL, then follows the triggers', async () => {
    let now = 0
    const t = scripted('schedule')
    const power = createPowerModeController({
      modes: MODES,
      initial: 'normal',
      triggers: [t],
      minDwellMs: 60_000,
      clock: () => now,
      timers: { setInterval: () => 0, clearInterval: () => {} },
    })
    const changes: PowerModeChange[] = []
    power.on('change', (c) => changes.push(c))
    power.set('low', { reason: 'operator', ttlMs: 3_600_000 })
    expect(power.mode).toBe('low')
    expect(power.knobs).toEqual({ model: 'small', maxTokens: 256 })
    now = 1_000_000
    await power.evaluate()
    expect(power.mode).toBe('low') // triggers are quiet, but the override holds
    now = 3_600_000
    t.verdict = 'low'
    await power.evaluate()
    expect(power.mode).toBe('low') // expired, and the trigger asks for low: stays
    t.verdict = undefined
    now += 60_000
    await power.evaluate()
    expect(power.mode).toBe('normal')
    expect(changes.map((c) => c.reason)).toEqual(['manual:operator', 'clear'])
    // A manual change is never held back by the dwell.
    power.set('low')
    expect(power.mode).toBe('low')
    await power.release()
    expect(power.mode).toBe('normal')
    power.close()
  })

  it('combines triggers: any asking for low enters low, all must clear to leave, and the reason names them', async () => {
    const a = scripted('power-budget')
    const b = scripted('carbon-intensity')
    const power = createPowerModeController({
      modes: MODES,
      initial: 'normal',
      triggers: [a, b],
      logger: silent,
    })
    const reasons: string[] = []
    power.on('change', (c) => reasons.push(`${c.from}->${c.to}:${c.reason}`))
    a.verdict = 'low'
    b.verdict = 'low'
    await power.evaluate(1)
    a.verdict = undefined
    await power.evaluate(2)
    expect(power.mode).toBe('low')
    b.verdict = undefined
    await power.evaluate(3)
    expect(power.mode).toBe('normal')
    expect(reasons).toEqual(['normal->low:power-budget+carbon-intensity', 'low->normal:clear'])
    power.close()
  })

  it('scales attached rate limiters live and gates concurrency by mode', async () => {
    const scales: number[] = []
    const limiter = { setRateScale: (s: number) => scales.push(s) }
    const power = createPowerModeController({ modes: MODES, initial: 'normal', rateLimiters: [limiter] })
    expect(scales).toEqual([1])
    power.set('low')
    expect(scales).toEqual([1, 0.5])
    expect(power.gateStats().limit).toBe(2)
    power.set('normal')
    expect(scales).toEqual([1, 0.5, 1])
    expect(power.gateStats().limit).toBe(8)
  })

  it('holds deferred work in low mode and runs it when the mode allows', async () => {
    const power = createPowerModeController({ modes: MODES, initial: 'normal' })
    const ran: string[] = []
    await power.defer(() => ran.push('now'))
    power.set('low')
    const later = power.defer(() => {
      ran.push('later')
      return 42
    })
    await new Promise((r) => setTimeout(r, 5))
    expect(ran).toEqual(['now'])
    power.set('normal')
    expect(await later).toBe(42)
    expect(ran).toEqual(['now', 'later'])
  })

  it('refuses beyond the queue with a QueueFullError carrying Retry-After', async () => {
    const power = createPowerModeController({
      modes: { only: { concurrency: 1, maxQueue: 1 } },
      initial: 'only',
      retryAfterSeconds: 3,
    })
    let release = () => {}
    const first = power.run(() => new Promise<void>((r) => (release = r)))
    const second = power.run(() => 'second')
    const err = await power.run(() => 'third').catch((e) => e)
    expect(isCortexError(err, 'ERR_CORTEX_QUEUE_FULL')).toBe(true)
    expect(err.retryAfterSeconds).toBe(3)
    release()
    await first
    expect(await second).toBe('second')
  })

  it('exposes power_mode and power_mode_changes_total to prom-client', async () => {
    const registry = new Registry()
    const power = createPowerModeController({ modes: MODES, initial: 'normal', registry })
    power.set('low', { reason: 'operator' })
    const text = await registry.metrics()
    expect(text).toContain('power_mode{mode="low"} 1')
    expect(text).toContain('power_mode{mode="normal"} 0')
    expect(text).toContain('power_mode_changes_total{from="normal",to="low",reason="manual:operator"} 1')
  })

  it('survives a failing trigger and a throwing listener', async () => {
    const warnings: string[] = []
    const power = createPowerModeController({
      modes: MODES,
      initial: 'normal',
      triggers: [
        {
          name: 'broken',
          evaluate() {
            throw new Error('sensor gone')
          },
        },
        { name: 'ok', evaluate: () => 'low' },
      ],
      logger: { warn: (m) => warnings.push(m) },
    })
    power.on('change', () => {
      throw new Error('listener bug')
    })
    await power.evaluate(1)
    expect(power.mode).toBe('low')
    expect(warnings.join('\n')).toMatch(/sensor gone[\s\S]*listener bug/)
    power.close()
  })

  describe('a manual override ends when its TTL ends (issue 21)', () => {
    it('without triggers: returns to the initial mode at the expiry instant with reason override-expired', async () => {
      const vt = virtualTime(1_000)
      const power = createPowerModeController({
        modes: MODES,
        initial: 'normal',
        clock: vt.clock,
        timers: vt.timers,
      })
      const changes: PowerModeChange[] = []
      power.on('change', (c) => changes.push(c))
      power.set('low', { ttlMs: 200 })
      await vt.advance(199)
      expect(power.mode).toBe('low')
      await vt.advance(1)
      expect(power.mode).toBe('normal')
      expect(power.override).toBeUndefined()
      expect(changes.map((c) => [c.to, c.reason, c.at])).toEqual([
        ['low', 'manual:operator', 1_000],
        ['normal', 'override-expired', 1_200],
      ])
      expect(vt.timeouts()).toEqual([])
      power.close()
    })

    it('with triggers evaluated once a minute: ends at the TTL, not at the next evaluation', async () => {
      const vt = virtualTime(0)
      const t = scripted('schedule')
      const power = createPowerModeController({
        modes: MODES,
        initial: 'normal',
        triggers: [t],
        evaluateEveryMs: '1m',
        clock: vt.clock,
        timers: vt.timers,
      })
      const changes: PowerModeChange[] = []
      power.on('change', (c) => changes.push(c))
      power.set('low', { ttlMs: '90s' })
      await vt.advance(89_999)
      expect(power.mode).toBe('low')
      await vt.advance(1)
      expect(power.mode).toBe('normal')
      expect(changes.at(-1)).toMatchObject({ to: 'normal', reason: 'override-expired', at: 90_000 })
      power.close()
    })

    it('with triggers: the mode after expiry is what the triggers asked at their latest evaluation', async () => {
      const vt = virtualTime(0)
      const t = scripted('schedule')
      const power = createPowerModeController({
        modes: { ...MODES, off: { concurrency: 1 } },
        initial: 'normal',
        triggers: [t],
        evaluateEveryMs: '1m',
        clock: vt.clock,
        timers: vt.timers,
      })
      power.set('off', { ttlMs: '90s' })
      t.verdict = 'low'
      await vt.advance(60_000) // one evaluation: the trigger asks for low (the override holds)
      expect(power.mode).toBe('off')
      await vt.advance(30_000)
      expect(power.mode).toBe('low')
      expect(power.override).toBeUndefined()
      power.close()
    })

    it('a new set() replaces the pending TTL: only the latest one ends the override', async () => {
      const vt = virtualTime(0)
      const power = createPowerModeController({
        modes: MODES,
        initial: 'normal',
        clock: vt.clock,
        timers: vt.timers,
      })
      const reasons: string[] = []
      power.on('change', (c) => reasons.push(c.reason))
      power.set('low', { ttlMs: 1_000 })
      await vt.advance(500)
      power.set('low', { ttlMs: 1_000, reason: 'again' })
      expect(vt.timeouts()).toHaveLength(1)
      await vt.advance(999)
      expect(power.mode).toBe('low')
      await vt.advance(1)
      expect(power.mode).toBe('normal')
      expect(reasons).toEqual(['manual:operator', 'override-expired'])
      // An override without TTL replacing one with a TTL never expires.
      power.set('low', { ttlMs: 1_000 })
      power.set('low')
      expect(vt.timeouts()).toEqual([])
      await vt.advance(10_000_000)
      expect(power.mode).toBe('low')
      power.close()
    })

    it('close() and release() before expiry clear the expiry timer: nothing fires after', async () => {
      const vt = virtualTime(0)
      const power = createPowerModeController({
        modes: MODES,
        initial: 'normal',
        clock: vt.clock,
        timers: vt.timers,
      })
      const reasons: string[] = []
      power.on('change', (c) => reasons.push(c.reason))
      power.set('low', { ttlMs: 200 })
      expect(vt.timeouts()).toEqual([true]) // armed, and unref'd
      await power.release()
      expect(vt.timeouts()).toEqual([])
      power.set('low', { ttlMs: 200 })
      expect(vt.timeouts()).toHaveLength(1)
      power.close()
      expect(vt.timeouts()).toEqual([])
      await vt.advance(1_000)
      expect(power.mode).toBe('low')
      expect(reasons).toEqual(['manual:operator', 'override-expired', 'manual:operator'])
      // A closed controller arms no timer, even for a later set().
      power.set('normal', { ttlMs: 200 })
      expect(vt.timeouts()).toEqual([])
    })

    it('a TTL longer than a timer can hold (2^31 - 1 ms) still ends on time, not at once', async () => {
      const vt = virtualTime(0)
      const power = createPowerModeController({
        modes: MODES,
        initial: 'normal',
        clock: vt.clock,
        timers: vt.timers,
      })
      power.set('low', { ttlMs: '30d' })
      await vt.advance(30 * 86_400_000 - 1)
      expect(power.mode).toBe('low')
      await vt.advance(1)
      expect(power.mode).toBe('normal')
      power.close()
    })
  })

  it('rejects bad configuration at construction, naming the field', () => {
    const cases: [unknown, string][] = [
      [{ modes: MODES, initial: 'turbo' }, '`initial`'],
      [{ modes: { normal: { concurrency: 0 } }, initial: 'normal' }, '`concurrency` in mode "normal"'],
      [{ modes: { normal: { concurrency: 1, rateLimitScale: -1 } }, initial: 'normal' }, '`rateLimitScale`'],
      [{ modes: {}, initial: 'normal' }, '`modes`'],
      [{ modes: MODES, initial: 'normal', minDwellMs: 'soon' }, '`minDwellMs`'],
      [{ modes: MODES, initial: 'normal', triggers: [{}] }, '`triggers[0]`'],
      [{ modes: MODES, initial: 'normal', evaluateEveryMs: 1 }, '`evaluateEveryMs`'],
      [{ modes: MODES, initial: 'normal', colour: 'green' }, '`colour`'],
      [{ modes: MODES, initial: 'normal', timers: { setTimeout: 5 } }, '`timers.setTimeout`'],
    ]
    for (const [options, fragment] of cases) {
      expect(() => createPowerModeController(options as never)).toThrow(fragment)
    }
  })

  it('never keeps the process alive: its evaluation timer is unref’d', () => {
    let unrefed = false
    const power = createPowerModeController({
      modes: MODES,
      initial: 'normal',
      triggers: [scripted()],
      timers: {
        setInterval: () => ({
          unref() {
            unrefed = true
          },
        }),
        clearInterval: () => {},
      },
    })
    expect(unrefed).toBe(true)
    power.close()
  })
})
