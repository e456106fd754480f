/**
 * One power mode per machine under node:cluster: the primary's controller
 * asks the triggers and broadcasts each change over IPC; every worker's
 * controller follows it. A host's workers are therefore never in different
 * modes for longer than an IPC message takes, and the budget, the dwell time
 * and the triggers' hysteresis are judged once, not once per worker.
 */
import nodeCluster from 'node:cluster'
import { CortexConfigError, checkKnownKeys, checkObject } from '@cortex/core'
import {
  createPowerModeController,
  type PowerModeController,
  type PowerModeControllerOptions,
  type PowerModeDecision,
  type PowerModeSource,
} from './controller.js'

/** The primary → worker message carrying a decision. */
const DECISION = 'cortex:power-mode'
/** The worker → primary message asking for the current decision. */
const ASK = 'cortex:power-mode?'

/** The part of a cluster worker handle (`cluster.workers[id]`) the primary uses. */
export interface WorkerLike {
  isConnected(): boolean
  send(message: unknown, callback?: (error: Error | null) => void): boolean
}

/** The part of `node:cluster` that `clusterPowerMode` uses. */
export interface ClusterLike {
  readonly isPrimary: boolean
  readonly workers?: Readonly<Record<string, WorkerLike | undefined>>
  on(event: 'message', listener: (worker: WorkerLike, message: unknown) => void): unknown
  off(event: 'message', listener: (worker: WorkerLike, message: unknown) => void): unknown
}

/** A worker's side of the IPC channel to its primary: the part of `process` used. */
export interface PrimaryChannel {
  send?(message: unknown, callback?: (error: Error | null) => void): boolean
  on(event: 'message', listener: (message: unknown) => void): unknown
  off(event: 'message', listener: (message: unknown) => void): unknown
}

export interface ClusterPowerModeOptions {
  /** Default `node:cluster`; injectable for tests. */
  cluster?: ClusterLike
  /** A worker's channel to the primary. Default `process`. */
  channel?: PrimaryChannel
}

/** Errors of a send to a worker or primary that has gone away: nothing to do (it asks again when it starts). */
const ignore = () => {}

/**
 * Creates the power-mode controller of one cluster process. Call it with the
 * same options in the primary and in every worker:
 *
 * - in the primary, it is `createPowerModeController(options)` whose every
 *   change is sent to all workers (and the current mode to any worker that
 *   asks when it starts);
 * - in a worker, the triggers are closed without being asked and the
 *   controller follows the primary (`follow`), applying each decision as
 *   soon as it arrives, without a dwell of its own.
 *
 * The workers serve requests: give them `rateLimiters` and `registry`; the
 * primary's controller only decides. A worker's `set()` overrides that
 * worker alone; call `set()` in the primary to change every worker.
 *
 * @example
 * import cluster from 'node:cluster'
 * const power = clusterPowerMode({
 *   modes: { normal: { concurrency: 8 }, low: { concurrency: 2, rateLimitScale: 0.5 } },
 *   initial: 'normal',
 *   triggers: cluster.isPrimary ? [powerBudgetTrigger(hostMeter)] : [],
 *   minDwellMs: '60s',
 *   ...(cluster.isPrimary ? {} : { rateLimiters: [limiter], registry }),
 * })
 */
export function clusterPowerMode<M extends string>(
  options: PowerModeControllerOptions<M>,
  clusterOptions: ClusterPowerModeOptions = {},
): PowerModeController<M> {
  const where = 'clusterPowerMode'
  checkObject(clusterOptions, 'clusterOptions', where)
  checkKnownKeys(clusterOptions, ['cluster', 'channel'], where)
  const cluster = clusterOptions.cluster ?? (nodeCluster as unknown as ClusterLike)
  if (typeof cluster?.on !== 'function' || typeof cluster.off !== 'function') {
    throw new CortexConfigError(
      'cluster',
      cluster,
      'node:cluster (or an object with isPrimary, on, off)',
      where,
    )
  }
  if (cluster.isPrimary) return lead(createPowerModeController(options), cluster)

  const channel = clusterOptions.channel ?? (process as unknown as PrimaryChannel)
  if (typeof channel?.send !== 'function') {
    throw new CortexConfigError(
      'channel',
      channel,
      'the IPC channel of a cluster worker (process.send is missing: not a cluster worker?)',
      where,
    )
  }
  checkObject(options, 'options', 'createPowerModeController')
  for (const trigger of options.triggers ?? []) trigger?.close?.()
  return createPowerModeController({ ...options, triggers: [], follow: primarySource(channel) })
}

/** Sends the controller's decisions to every worker, and the current one to a worker that asks. */
function lead<M extends string>(controller: PowerModeController<M>, cluster: ClusterLike) {
  let latest: PowerModeDecision = { mode: controller.mode, reason: 'initial' }
  const send = (worker: WorkerLike | undefined) => {
    if (worker === undefined || !worker.isConnected()) return
    try {
      worker.send({ type: DECISION, mode: latest.mode, reason: latest.reason }, ignore)
    } catch {
      // The worker disconnected between the check and the send.
    }
  }
  const stop = controller.on('change', ({ to, reason }) => {
    latest = { mode: to, reason }
    for (const worker of Object.values(cluster.workers ?? {})) send(worker)
  })
  const onMessage = (worker: WorkerLike, message: unknown) => {
    if ((message as { type?: unknown } | null)?.type === ASK) send(worker)
  }
  cluster.on('message', onMessage)
  const close = controller.close
  controller.close = () => {
    stop()
    cluster.off('message', onMessage)
    close()
  }
  return controller
}

/** A worker's decision source: the primary's messages, after asking it for the current decision. */
function primarySource(channel: PrimaryChannel): PowerModeSource {
  return {
    subscribe(listener) {
      const onMessage = (message: unknown) => {
        const m = message as { type?: unknown; mode?: unknown; reason?: unknown } | null
        if (m?.type === DECISION) listener({ mode: String(m.mode), reason: String(m.reason) })
      }
      channel.on('message', onMessage)
      try {
        channel.send?.({ type: ASK }, ignore)
      } catch {
        // No primary any more: the worker keeps its initial mode.
      }
      return () => {
        channel.off('message', onMessage)
      }
    },
  }
}
