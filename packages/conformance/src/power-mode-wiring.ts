/** How each framework wires @cortex's power mode (`powerMode`, or `cortex({ powerMode })`; shared by the power-mode cases). */
import type { PowerModeController } from '@cortex/low-power'
import type { FrameworkDriver, Middleware } from './harness.js'

export function powerModeMiddleware(_driver: FrameworkDriver, controller: PowerModeController): Middleware {
  return { parts: { powerMode: { controller } } }
}
