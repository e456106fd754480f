/**
 * The Green Software Foundation's Software Carbon Intensity for a meter's
 * figures: `SCI = ((E × I) + M) per R`, in grams of CO₂e per functional unit.
 * E × I is the meter's CO₂ (each interval at its own intensity); M is the
 * embodied carbon you apportion to the period; R defaults to the requests
 * the meter counted (of one route, or all).
 */
import { CortexConfigError, checkKnownKeys, checkNumber, checkObject, sci } from '@cortex/core'
import type { EnergySnapshot } from './energy-meter.js'

export interface SnapshotSciOptions {
  /** M: embodied emissions for the period, grams. Default 0. */
  embodiedGrams?: number
  /** Only this route's energy and requests. */
  route?: string
  /** R: functional units (users, jobs, tokens...). Default the requests counted (of `route`, or all). */
  functionalUnits?: number
}

/**
 * SCI of a snapshot, gCO₂e per functional unit; NaN when there is no unit yet.
 *
 * @example
 * snapshotSci(meter.snapshot(), { route: 'POST /embed/multimodal', embodiedGrams: 1.2 }) // g per request
 */
export function snapshotSci(snapshot: EnergySnapshot, options: SnapshotSciOptions = {}): number {
  const where = 'snapshotSci'
  checkObject(options, 'options', where)
  checkKnownKeys(options, ['embodiedGrams', 'route', 'functionalUnits'], where)
  let grams = snapshot.co2Grams
  let kWh = snapshot.kWh
  let units = Object.values(snapshot.routes).reduce((n, r) => n + r.requests, 0)
  if (options.route !== undefined) {
    if (typeof options.route !== 'string')
      throw new CortexConfigError('route', options.route, 'a route name', where)
    // A route with no traffic yet has no unit: NaN, like any other empty figure.
    const r = snapshot.routes[options.route]
    grams = r?.co2Grams ?? 0
    kWh = (r?.joules ?? 0) / 3_600_000
    units = r?.requests ?? 0
  }
  if (options.functionalUnits !== undefined) {
    units = checkNumber(options.functionalUnits, 'functionalUnits', { min: 0, exclusiveMin: true, where })
  }
  if (!(units > 0)) return Number.NaN
  const intensity = kWh > 0 ? grams / kWh : 0
  return sci({
    energyKWh: kWh,
    intensityGPerKWh: intensity,
    embodiedGrams: options.embodiedGrams ?? 0,
    functionalUnits: units,
  })
}
