/**
 * Asks for a mode during daily time windows in a given time zone, e.g. low
 * power from 22:00 to 06:00 Paris time. Windows may cross midnight.
 */
import { CortexConfigError, checkKnownKeys, checkObject } from '@cortex/core'
import type { PowerModeTrigger } from './trigger.js'

export interface ScheduleWindow {
  /** Start, `HH:MM` (24 h), inclusive. */
  from: string
  /** End, `HH:MM`, exclusive. Earlier than `from` means the window crosses midnight. */
  to: string
  /** The mode to ask for inside the window. */
  mode: string
  /** IANA time zone, e.g. `Europe/Paris`. Default: the process's time zone. */
  timeZone?: string
  /**
   * Days the window STARTS on (0 = Sunday … 6 = Saturday). A Friday 22:00–06:00
   * window covers Saturday until 06:00. Default: every day.
   */
  days?: number[]
}

interface CompiledWindow {
  from: number
  to: number
  mode: string
  days: Set<number> | undefined
  format: Intl.DateTimeFormat
}

const WEEKDAYS: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 }

function minutesOf(value: unknown, option: string, where: string): number {
  const m = typeof value === 'string' ? /^([01]?\d|2[0-3]):([0-5]\d)$/.exec(value) : null
  if (!m) throw new CortexConfigError(option, value, "a time of day 'HH:MM' from 00:00 to 23:59", where)
  return Number(m[1]) * 60 + Number(m[2])
}

/**
 * Minutes since local midnight and the local weekday of `now` in the formatter's zone.
 */
function localTime(format: Intl.DateTimeFormat, now: number): { minutes: number; weekday: number } {
  let hour = 0
  let minute = 0
  let weekday = 0
  for (const part of format.formatToParts(now)) {
    if (part.type === 'hour') hour = Number(part.value) % 24
    else if (part.type === 'minute') minute = Number(part.value)
    else if (part.type === 'weekday') weekday = WEEKDAYS[part.value] ?? 0
  }
  return { minutes: hour * 60 + minute, weekday }
}

/**
 * @example
 * scheduleTrigger([{ from: '22:00', to: '06:00', mode: 'low', timeZone: 'Europe/Paris' }])
 */
export function scheduleTrigger(windows: ScheduleWindow[]): PowerModeTrigger {
  if (!Array.isArray(windows) || windows.length === 0) {
    throw new CortexConfigError(
      'windows',
      windows,
      'a non-empty array of { from, to, mode, timeZone? }',
      'scheduleTrigger',
    )
  }
  const compiled: CompiledWindow[] = windows.map((w, i) => {
    const where = `scheduleTrigger window ${i}`
    checkObject(w, `windows[${i}]`, 'scheduleTrigger')
    checkKnownKeys(w, ['from', 'to', 'mode', 'timeZone', 'days'], where)
    const from = minutesOf(w.from, 'from', where)
    const to = minutesOf(w.to, 'to', where)
    if (from === to)
      throw new CortexConfigError('to', w.to, 'a time different from `from` (an empty window)', where)
    if (typeof w.mode !== 'string' || w.mode.length === 0)
      throw new CortexConfigError('mode', w.mode, 'a mode name', where)
    let format: Intl.DateTimeFormat
    try {
      format = new Intl.DateTimeFormat('en-US', {
        timeZone: w.timeZone,
        hour: '2-digit',
        minute: '2-digit',
        weekday: 'short',
        hourCycle: 'h23',
      })
    } catch {
      throw new CortexConfigError('timeZone', w.timeZone, 'an IANA time zone such as "Europe/Paris"', where)
    }
    if (
      w.days !== undefined &&
      (!Array.isArray(w.days) || w.days.some((d) => !Number.isInteger(d) || d < 0 || d > 6))
    ) {
      throw new CortexConfigError(
        'days',
        w.days,
        'an array of weekday numbers 0 (Sunday) to 6 (Saturday)',
        where,
      )
    }
    return { from, to, mode: w.mode, days: w.days ? new Set(w.days) : undefined, format }
  })

  return {
    name: 'schedule',
    evaluate(now) {
      for (const w of compiled) {
        const { minutes, weekday } = localTime(w.format, now)
        let startDay: number | undefined
        if (w.from < w.to) {
          if (minutes >= w.from && minutes < w.to) startDay = weekday
        } else if (minutes >= w.from) {
          startDay = weekday
        } else if (minutes < w.to) {
          startDay = (weekday + 6) % 7 // the window began yesterday
        }
        if (startDay !== undefined && (!w.days || w.days.has(startDay))) return w.mode
      }
      return undefined
    },
  }
}
