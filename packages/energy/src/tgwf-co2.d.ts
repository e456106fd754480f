// @tgwf/co2 ships no type declarations; this is the part of its `./data` export we use.
declare module '@tgwf/co2/data' {
  /** Ember yearly average grid intensity, gCO₂e/kWh, keyed by ISO 3166-1 alpha-3 code (plus regions and WORLD). */
  export const averageIntensity: { data: Record<string, number>; type: string }
}
