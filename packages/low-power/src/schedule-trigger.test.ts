import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { scheduleTrigger } from './schedule-trigger.js'

const at = (iso: string) => Date.parse(iso)

describe('scheduleTrigger', () => {
  it('covers a window across midnight in its time zone (Europe/Paris, winter and summer)', () => {
    const t = scheduleTrigger([{ from: '22:00', to: '06:00', mode: 'low', timeZone: 'Europe/Paris' }])
    // Winter: Paris = UTC+1.
    expect(t.evaluate(at('2026-01-15T20:59:00Z'))).toBeUndefined() // 21:59
    expect(t.evaluate(at('2026-01-15T21:00:00Z'))).toBe('low') // 22:00
    expect(t.evaluate(at('2026-01-15T23:30:00Z'))).toBe('low') // 00:30
    expect(t.evaluate(at('2026-01-16T04:59:00Z'))).toBe('low') // 05:59
    expect(t.evaluate(at('2026-01-16T05:00:00Z'))).toBeUndefined() // 06:00
    // Summer: Paris = UTC+2.
    expect(t.evaluate(at('2026-07-15T20:00:00Z'))).toBe('low') // 22:00
    expect(t.evaluate(at('2026-07-15T19:59:00Z'))).toBeUndefined() // 21:59
    expect(t.evaluate(at('2026-07-16T04:00:00Z'))).toBeUndefined() // 06:00
  })

  it('reads the same instant differently in different zones', () => {
    const instant = at('2026-03-02T23:30:00Z') // 08:30 Tokyo, 18:30 New York
    const tokyo = scheduleTrigger([{ from: '08:00', to: '09:00', mode: 'low', timeZone: 'Asia/Tokyo' }])
    const ny = scheduleTrigger([{ from: '08:00', to: '09:00', mode: 'low', timeZone: 'America/New_York' }])
    expect(tokyo.evaluate(instant)).toBe('low')
    expect(ny.evaluate(instant)).toBeUndefined()
  })

  it('is in the window exactly when the local minute of day falls in [from, to), across midnight or not', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1439 }),
        fc.integer({ min: 0, max: 1439 }),
        fc.integer({ min: 0, max: 1439 }),
        (from, to, minute) => {
          fc.pre(from !== to)
          const hhmm = (m: number) =>
            `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`
          const t = scheduleTrigger([{ from: hhmm(from), to: hhmm(to), mode: 'low', timeZone: 'UTC' }])
          const inside = from < to ? minute >= from && minute < to : minute >= from || minute < to
          const verdict = t.evaluate(Date.UTC(2026, 4, 20) + minute * 60_000)
          expect(verdict === 'low').toBe(inside)
        },
      ),
    )
  })

  it('applies days to the day a window starts on', () => {
    // Friday 22:00 → Saturday 06:00 (UTC).
    const t = scheduleTrigger([{ from: '22:00', to: '06:00', mode: 'low', timeZone: 'UTC', days: [5] }])
    expect(t.evaluate(at('2026-11-27T23:00:00Z'))).toBe('low') // Friday 23:00
    expect(t.evaluate(at('2026-11-28T05:00:00Z'))).toBe('low') // Saturday 05:00, started Friday
    expect(t.evaluate(at('2026-11-28T23:00:00Z'))).toBeUndefined() // Saturday 23:00
  })

  it('a Saturday 22:00–06:00 window covers Sunday until 06:00 (the week wraps)', () => {
    const t = scheduleTrigger([{ from: '22:00', to: '06:00', mode: 'low', timeZone: 'UTC', days: [6] }])
    expect(t.evaluate(at('2026-11-28T22:00:00Z'))).toBe('low') // Saturday 22:00
    expect(t.evaluate(at('2026-11-29T05:00:00Z'))).toBe('low') // Sunday 05:00, started Saturday
    expect(t.evaluate(at('2026-11-29T06:00:00Z'))).toBeUndefined() // Sunday 06:00
    expect(t.evaluate(at('2026-11-29T23:00:00Z'))).toBeUndefined() // Sunday 23:00
    expect(t.evaluate(at('2026-11-28T05:00:00Z'))).toBeUndefined() // Saturday 05:00, started Friday
  })

  it('an overnight window on one start day covers exactly that evening and the next morning, for every day', () => {
    // 2026-11-22 is a Sunday (day 0).
    const dayStart = (d: number) => Date.UTC(2026, 10, 22 + d)
    for (let start = 0; start < 7; start++) {
      const t = scheduleTrigger([{ from: '22:00', to: '06:00', mode: 'low', timeZone: 'UTC', days: [start] }])
      // Evenings (23:00) and mornings (05:00) of a fortnight, so every weekday wraps once.
      for (let d = 0; d < 14; d++) {
        const evening = t.evaluate(dayStart(d) + 23 * 3_600_000)
        const morning = t.evaluate(dayStart(d) + 5 * 3_600_000)
        expect(evening === 'low', `start ${start}, evening of day ${d}`).toBe(d % 7 === start)
        expect(morning === 'low', `start ${start}, morning of day ${d}`).toBe((d + 6) % 7 === start)
      }
    }
  })

  it('rejects a malformed schedule, naming the field', () => {
    expect(() => scheduleTrigger([{ from: '25:00', to: '06:00', mode: 'low' }])).toThrow('`from`')
    expect(() => scheduleTrigger([{ from: '22:00', to: '22:00', mode: 'low' }])).toThrow('`to`')
    expect(() =>
      scheduleTrigger([{ from: '22:00', to: '06:00', mode: 'low', timeZone: 'Mars/Olympus' }]),
    ).toThrow('`timeZone`')
    expect(() => scheduleTrigger([])).toThrow('`windows`')
    expect(() => scheduleTrigger([{ from: '22:00', to: '06:00', mode: 'low', days: [7] }])).toThrow('`days`')
  })
})
