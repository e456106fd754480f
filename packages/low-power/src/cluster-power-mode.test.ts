import { EventEmitter } from 'node:events'
import { isCortexError } from '@cortex/core'
import { describe, expect, it } from 'vitest'
import {
  type ClusterLike,
  clusterPowerMode,
  type PrimaryChannel,
  type WorkerLike,
} from './cluster-power-mode.js'
import { createPowerModeController, type PowerModeChange, type PowerModeDecision } from './controller.js'
import type { PowerModeTrigger } from './trigger.js'

const MODES = { normal: { concurrency: 8 }, low: { concurrency: 2, rateLimitScale: 0.5 } }
const silent = { warn() {} }

/** A decision source the test drives by hand. */
function leader() {
  const listeners = new Set<(d: PowerModeDecision) => void>()
  return {
    source: {
      subscribe(listener: (d: PowerModeDecision) => void) {
        listeners.add(listener)
        return () => listeners.delete(listener)
      },
    },
    decide(mode: string, reason = 'power-budget') {
      for (const l of listeners) l({ mode, reason })
    },
    get listeners() {
      return listeners.size
    },
  }
}

/** A trigger whose verdict the test sets; counts its evaluations and whether it was closed. */
function scripted(): PowerModeTrigger & { verdict: string | undefined; asked: number; closed: boolean } {
  return {
    name: 'power-budget',
    verdict: undefined,
    asked: 0,
    closed: false,
    evaluate() {
      this.asked++
      return this.verdict
    },
    close() {
      this.closed = true
    },
  }
}

/**
 * node:cluster in one process: a primary and its workers joined by ordered
 * in-memory channels (IPC keeps message order per worker; so does this).
 */
function fakeCluster() {
  const primary = new EventEmitter()
  const workers: Record<string, WorkerLike> = {}
  let nextId = 1
  const cluster = Object.assign(primary, { isPrimary: true, workers }) as unknown as ClusterLike
  function fork(): { cluster: ClusterLike; channel: PrimaryChannel } {
    const id = String(nextId++)
    const channel = new EventEmitter()
    const worker: WorkerLike = {
      isConnected: () => true,
      send(message: unknown) {
        channel.emit('message', message)
        return true
      },
    }
    workers[id] = worker
    const workerChannel = Object.assign(channel, {
      send(message: unknown) {
        primary.emit('message', worker, message)
        return true
      },
    }) as unknown as PrimaryChannel
    const inWorker: ClusterLike = { isPrimary: false, on: () => inWorker, off: () => inWorker }
    return { cluster: inWorker, channel: workerChannel }
  }
  return { cluster, fork }
}

describe('createPowerModeController({ follow })', () => {
  it("takes each of the leader's decisions at once, with the leader's reason", () => {
    const l = leader()
    const power = createPowerModeController({ modes: MODES, initial: 'normal', follow: l.source })
    const changes: PowerModeChange[] = []
    power.on('change', (c) => changes.push(c))
    l.decide('low')
    expect(power.mode).toBe('low')
    expect(power.gateStats().limit).toBe(2)
    l.decide('normal', 'clear')
    expect(power.mode).toBe('normal')
    expect(changes.map((c) => [c.from, c.to, c.reason])).toEqual([
      ['normal', 'low', 'power-budget'],
      ['low', 'normal', 'clear'],
    ])
  })

  it('refuses triggers: the leader decides', () => {
    let error: unknown
    try {
      createPowerModeController({
        modes: MODES,
        initial: 'normal',
        follow: leader().source,
        triggers: [scripted()],
      })
    } catch (err) {
      error = err
    }
    expect(isCortexError(error, 'ERR_CORTEX_CONFIG')).toBe(true)
    expect(String(error)).toMatch(/triggers/)
  })

  it('refuses a follow that is not a decision source', () => {
    expect(() => createPowerModeController({ modes: MODES, initial: 'normal', follow: {} as never })).toThrow(
      /follow.*subscribe/,
    )
  })

  it("a manual override wins; release() returns to the leader's latest decision, not to initial", async () => {
    const l = leader()
    const power = createPowerModeController({ modes: MODES, initial: 'normal', follow: l.source })
    power.set('normal', { reason: 'incident' })
    l.decide('low')
    expect(power.mode).toBe('normal')
    await power.release()
    expect(power.mode).toBe('low')
    await power.evaluate()
    expect(power.mode).toBe('low')
  })

  it('ignores (and reports) a mode it does not have', () => {
    const l = leader()
    const warnings: string[] = []
    const power = createPowerModeController({
      modes: MODES,
      initial: 'normal',
      follow: l.source,
      logger: { warn: (m) => warnings.push(m) },
    })
    l.decide('eco')
    expect(power.mode).toBe('normal')
    expect(warnings.join('\n')).toMatch(/"eco"/)
  })

  it('stops following when closed', () => {
    const l = leader()
    const power = createPowerModeController({ modes: MODES, initial: 'normal', follow: l.source })
    expect(l.listeners).toBe(1)
    power.close()
    expect(l.listeners).toBe(0)
  })
})

describe('clusterPowerMode', () => {
  it("decides once, in the primary: every worker is in the primary's mode as soon as its message arrives", async () => {
    const { cluster, fork } = fakeCluster()
    const budget = scripted()
    const primary = clusterPowerMode(
      { modes: MODES, initial: 'normal', triggers: [budget], logger: silent },
      { cluster },
    )
    const workerTriggers = [scripted(), scripted()]
    const workers = workerTriggers.map((t) => {
      const { cluster: c, channel } = fork()
      return clusterPowerMode({ modes: MODES, initial: 'normal', triggers: [t] }, { cluster: c, channel })
    })
    budget.verdict = 'low'
    await primary.evaluate()
    expect([primary.mode, ...workers.map((w) => w.mode)]).toEqual(['low', 'low', 'low'])
    budget.verdict = undefined
    await primary.evaluate()
    expect(workers.map((w) => w.mode)).toEqual(['normal', 'normal'])
    // The workers' own triggers were closed and never asked.
    expect(workerTriggers.map((t) => [t.asked, t.closed])).toEqual([
      [0, true],
      [0, true],
    ])
    for (const c of [primary, ...workers]) c.close()
  })

  it("a worker started after a change starts in the primary's current mode", async () => {
    const { cluster, fork } = fakeCluster()
    const budget = scripted()
    const primary = clusterPowerMode(
      { modes: MODES, initial: 'normal', triggers: [budget], logger: silent },
      { cluster },
    )
    budget.verdict = 'low'
    await primary.evaluate()
    const { cluster: c, channel } = fork()
    const late = clusterPowerMode({ modes: MODES, initial: 'normal' }, { cluster: c, channel })
    expect(late.mode).toBe('low')
    primary.close()
    late.close()
  })

  it('the primary stops broadcasting when closed', async () => {
    const { cluster, fork } = fakeCluster()
    const budget = scripted()
    const primary = clusterPowerMode(
      { modes: MODES, initial: 'normal', triggers: [budget], logger: silent },
      { cluster },
    )
    const { cluster: c, channel } = fork()
    const worker = clusterPowerMode({ modes: MODES, initial: 'normal' }, { cluster: c, channel })
    primary.close()
    primary.set('low')
    expect(worker.mode).toBe('normal')
    expect((cluster as unknown as EventEmitter).listenerCount('message')).toBe(0)
    worker.close()
  })
})
