import { createEnergyMeter } from '@cortex/energy'
import { createPowerModeController } from '@cortex/low-power'
import { createSloTracker, defineSlos } from '@cortex/slo'
import { createRateLimiter } from '@cortex/token-bucket'
import { describe, expect, it } from 'vitest'
import { checkCortexOptions, checkPartsOptions } from './options.js'

const tracker = createSloTracker(
  defineSlos({ service: 's', objectives: [{ name: 'a', route: '*', availability: { errorRate: 0.01 } }] }),
)
const limiter = createRateLimiter({ policies: { '*': { limit: 1, window: '1s' } }, logger: false })
const meter = createEnergyMeter({
  sources: [
    {
      name: 'idle',
      kind: 'measured',
      component: 'cpu',
      available: async () => ({ available: true }),
      read: async () => ({ watts: 10 }),
    },
  ],
})
const controller = createPowerModeController({ modes: { normal: { concurrency: 1 } }, initial: 'normal' })

describe('checkCortexOptions', () => {
  it('says so when a part is given the object itself instead of its options ({ slo: tracker })', () => {
    const cases: [string, unknown, RegExp][] = [
      ['slo', tracker, /`slo` in cortex.*\{ tracker \}.*slo: \{ tracker \}/],
      ['rateLimit', limiter, /`rateLimit` in cortex.*\{ limiter \}/],
      ['energy', meter, /`energy` in cortex.*\{ meter \}/],
      ['powerMode', controller, /`powerMode` in cortex.*\{ controller \}/],
    ]
    for (const [part, value, message] of cases) {
      expect(() => checkCortexOptions({ [part]: value }, 'cortex'), part).toThrow(message)
    }
    // A single-concern middleware names its own call: rateLimit({ limiter }), not cortex's shape.
    expect(() => checkPartsOptions({ rateLimit: limiter as never }, 'rateLimit')).toThrow(
      /e\.g\. rateLimit\(\{ limiter \}\)/,
    )
  })

  it('accepts each part wrapped, and validates what is inside', () => {
    const parts = checkCortexOptions(
      {
        slo: { tracker },
        rateLimit: { limiter },
        energy: { meter },
        powerMode: { controller, header: false },
      },
      'cortex',
    )
    expect(parts.header).toBe(false)
    expect(parts.rate).toBeDefined()
    expect(() => checkPartsOptions({ slo: { tracker: {} as never } }, 'sloTracking')).toThrow(
      /`tracker` in sloTracking/,
    )
    expect(() => checkPartsOptions({ powerMode: { controller, header: '' } }, 'powerMode')).toThrow(
      /`header`/,
    )
    expect(() => checkCortexOptions({}, 'cortex')).toThrow(/at least one/)
    expect(() => checkCortexOptions({ sloo: { tracker } }, 'cortex')).toThrow(/sloo/)
  })
})
