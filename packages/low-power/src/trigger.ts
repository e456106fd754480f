/**
 * What a trigger is: something the controller asks, on every evaluation,
 * which mode it wants. Triggers own their hysteresis (enter above X, leave
 * below Y, for T); the controller owns the dwell time and the combination.
 */

/** The answer of one trigger: the mode it asks for, or `undefined` for no opinion (conditions clear). */
export type TriggerVerdict = string | undefined

export interface PowerModeTrigger {
  /** Short name, used as the reason of the mode changes it causes (e.g. `power-budget`). */
  readonly name: string
  /** Evaluated by the controller every `evaluateEveryMs`; errors are caught and counted. */
  evaluate(now: number): TriggerVerdict | Promise<TriggerVerdict>
  /** Releases anything the trigger holds. */
  close?(): void
}
