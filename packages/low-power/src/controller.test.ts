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
