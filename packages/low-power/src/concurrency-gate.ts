/**
 * A concurrency gate with a bounded FIFO queue whose limit can change while
 * it runs: the low-power controller lowers it when entering low mode and
 * raises it on the way back, without restarting anything. Beyond the queue
 * bound a task is refused at once with a CortexError the adapters turn into
 * 503 + Retry-After, so a burst can never grow memory without a bound.
 */
import { CortexError, checkNumber } from '@cortex/core'

/** Thrown (as a rejection) when the queue is full; adapters answer 503 with `Retry-After`. */
export class QueueFullError extends CortexError {
  /** Seconds a client should wait before retrying. */
  readonly retryAfterSeconds: number

  constructor(limit: number, maxQueue: number, retryAfterSeconds: number) {
    super(
      'ERR_CORTEX_QUEUE_FULL',
      `Server busy: ${limit} request(s) in flight and ${maxQueue} queued (the current power mode's limits); retry after ${retryAfterSeconds} s`,
    )
    this.name = 'QueueFullError'
    this.retryAfterSeconds = retryAfterSeconds
  }
}

interface Waiter {
  start: () => void
}

export interface GateStats {
  limit: number
  maxQueue: number
  active: number
  queued: number
  rejected: number
  completed: number
}

/**
 * A FIFO concurrency gate.
 *
 * @example
 * const gate = new ConcurrencyGate(2, 100)
 * const result = await gate.run(() => infer(input))
 * gate.setLimits(8, 400) // live: queued tasks start at once if slots opened
 */
export class ConcurrencyGate {
  #limit: number
  #maxQueue: number
  #active = 0
  #rejected = 0
  #completed = 0
  readonly #retryAfterSeconds: number
  // A simple array queue with a moving head: O(1) amortised, compacted as it drains.
  #queue: Waiter[] = []
  #head = 0

  constructor(limit: number, maxQueue: number, retryAfterSeconds = 1) {
    if (limit !== Number.POSITIVE_INFINITY)
      checkNumber(limit, 'limit', { min: 1, integer: true, where: 'ConcurrencyGate' })
    checkNumber(maxQueue, 'maxQueue', { min: 0, integer: true, where: 'ConcurrencyGate' })
    checkNumber(retryAfterSeconds, 'retryAfterSeconds', { min: 0, integer: true, where: 'ConcurrencyGate' })
    this.#limit = limit
    this.#maxQueue = maxQueue
    this.#retryAfterSeconds = retryAfterSeconds
  }

  get active(): number {
    return this.#active
  }

  get queued(): number {
    return this.#queue.length - this.#head
  }

  stats(): GateStats {
    return {
      limit: this.#limit,
      maxQueue: this.#maxQueue,
      active: this.#active,
      queued: this.queued,
      rejected: this.#rejected,
      completed: this.#completed,
    }
  }

  /** Changes the limits now; tasks already running finish, queued ones start as slots free up. */
  setLimits(limit: number, maxQueue: number): void {
    this.#limit = limit
    this.#maxQueue = maxQueue
    this.#drain()
  }

  /**
   * A slot now, or undefined when none is free (nothing is queued): the
   * synchronous fast path adapters take before falling back to `acquire`.
   */
  tryAcquire(): (() => void) | undefined {
    return this.#active < this.#limit && this.queued === 0 ? this.#take() : undefined
  }

  /**
   * Waits for a slot and returns its release function (call it exactly once;
   * later calls do nothing). For adapters that hold a slot for a whole HTTP
   * exchange. A full queue rejects with QueueFullError.
   */
  acquire(): Promise<() => void> {
    if (this.#active < this.#limit && this.queued === 0) return Promise.resolve(this.#take())
    if (this.queued >= this.#maxQueue) {
      this.#rejected++
      return Promise.reject(new QueueFullError(this.#limit, this.#maxQueue, this.#retryAfterSeconds))
    }
    return new Promise((resolve) => {
      this.#queue.push({ start: () => resolve(this.#take()) })
    })
  }

  /**
   * Runs `task` when a slot is free. Never more than the limit run at once;
   * queued tasks start in arrival order; a full queue rejects with QueueFullError.
   */
  run<T>(task: () => T | Promise<T>): Promise<T> {
    // A free slot starts the task synchronously, as if there were no gate.
    if (this.#active < this.#limit && this.queued === 0) return runWith(this.#take(), task)
    if (this.queued >= this.#maxQueue) {
      this.#rejected++
      return Promise.reject(new QueueFullError(this.#limit, this.#maxQueue, this.#retryAfterSeconds))
    }
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ start: () => runWith(this.#take(), task).then(resolve, reject) })
    })
  }

  #take(): () => void {
    this.#active++
    let released = false
    return () => {
      if (released) return
      released = true
      this.#active--
      this.#completed++
      this.#drain()
    }
  }

  #drain(): void {
    while (this.#active < this.#limit && this.#head < this.#queue.length) {
      const next = this.#queue[this.#head] as Waiter
      this.#queue[this.#head] = undefined as unknown as Waiter
      this.#head++
      next.start()
    }
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head)
      this.#head = 0
    }
  }
}

function runWith<T>(release: () => void, task: () => T | Promise<T>): Promise<T> {
  let result: Promise<T>
  try {
    result = Promise.resolve(task())
  } catch (err) {
    result = Promise.reject(err)
  }
  return result.finally(release)
}
