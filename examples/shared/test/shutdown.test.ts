/**
 * Graceful shutdown of the three example servers, as Kubernetes does it: the
 * process runs on its own, keep-alive clients have requests in flight and
 * idle sockets open, and SIGTERM arrives. Every request the server had
 * received is answered (with `Connection: close`), idle keep-alive sockets
 * are closed, and the process exits well inside the drain bound.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { connect, type Socket } from 'node:net'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, it } from 'vitest'

const examples = join(dirname(fileURLToPath(import.meta.url)), '../..')
const children: ChildProcess[] = []
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL')
})

function start(framework: string, drainMs: number): Promise<{ child: ChildProcess; port: number }> {
  const dir = join(examples, `inference-api-${framework}`)
  const child = spawn(process.execPath, ['--import', 'tsx', join(dir, 'src/main.ts')], {
    cwd: dir,
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      REDIS_URL: '',
      SHUTDOWN_DRAIN_MS: String(drainMs),
      API_KEYS: 'k1,k2,k3,k4,k5,k6,k7,k8',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.push(child)
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${framework} did not start within 30 s`)), 30_000)
    child.once('exit', (code) => reject(new Error(`${framework} exited early (${code})`)))
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      if (!line.startsWith('{')) return
      const event = JSON.parse(line) as { event?: string; url?: string }
      if (event.event === 'listening' && event.url) {
        clearTimeout(timer)
        child.removeAllListeners('exit')
        resolve({ child, port: Number(new URL(event.url).port) })
      }
    })
  })
}

/** A keep-alive client socket that reads whole responses (Content-Length bodies) one after another. */
class KeepAliveClient {
  readonly socket: Socket
  private buffer = ''
  private waiting: ((r: { status: number; headers: Record<string, string> }) => void) | undefined
  closed = false
  reset = false
  constructor(
    port: number,
    private readonly key = 'k1',
  ) {
    this.socket = connect(port, '127.0.0.1')
    this.socket.setEncoding('latin1')
    this.socket.on('data', (chunk: string) => {
      this.buffer += chunk
      this.drain()
    })
    this.socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET') this.reset = true
    })
    this.socket.on('close', () => {
      this.closed = true
    })
  }

  private drain(): void {
    const end = this.buffer.indexOf('\r\n\r\n')
    if (end === -1 || this.waiting === undefined) return
    const [statusLine = '', ...lines] = this.buffer.slice(0, end).split('\r\n')
    const headers: Record<string, string> = {}
    for (const line of lines) {
      const colon = line.indexOf(':')
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim()
    }
    const length = Number(headers['content-length'] ?? 0)
    if (this.buffer.length < end + 4 + length) return
    this.buffer = this.buffer.slice(end + 4 + length)
    const resolve = this.waiting
    this.waiting = undefined
    resolve({ status: Number(statusLine.split(' ')[1]), headers })
  }

  /** Sends the head and `sent` bytes of a `body`; returns a function that sends the rest, and the response. */
  request(path: string, body: string, sent = body.length, method = 'POST') {
    const response = new Promise<{ status: number; headers: Record<string, string> }>((resolve) => {
      this.waiting = resolve
    })
    this.socket.write(
      `${method} ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nx-api-key: ${this.key}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body.slice(0, sent)}`,
    )
    return { finish: () => this.socket.write(body.slice(sent)), response }
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode)
    else child.once('exit', (code) => resolve(code))
  })

describe.each(['express', 'fastify', 'koa'])('inference-api-%s on SIGTERM', (framework) => {
  it('answers every in-flight request with Connection: close, closes idle keep-alive sockets, and exits within the drain bound', async () => {
    const drainMs = 5000
    const { child, port } = await start(framework, drainMs)
    const body = JSON.stringify({ goal: 'plan a trip' })
    // Keep-alive clients: each completes one request (so its socket is a kept-alive one), then sends
    // the next request's head and half its body: received by the server, in flight at SIGTERM.
    const busy = Array.from({ length: 6 }, (_, i) => new KeepAliveClient(port, `k${i + 1}`))
    for (const c of busy) {
      const first = c.request('/agents/plan', body)
      expect((await first.response).status).toBe(200)
    }
    const inFlight = busy.map((c) => c.request('/agents/plan', body, 5))
    // Idle keep-alive sockets: one answered request each, then nothing.
    const idle = Array.from({ length: 4 }, () => new KeepAliveClient(port))
    for (const c of idle) expect((await c.request('/health/live', '', 0, 'GET').response).status).toBe(200)
    await sleep(200)

    const signalled = Date.now()
    child.kill('SIGTERM')
    await sleep(300)
    // The idle sockets are closed by the server, not left to time out.
    expect(idle.map((c) => c.closed)).toEqual(idle.map(() => true))
    // The in-flight requests finish sending and are answered in full, with Connection: close.
    for (const r of inFlight) r.finish()
    const answers = await Promise.all(inFlight.map((r) => r.response))
    for (const a of answers) {
      expect(a.status).toBe(200)
      expect(a.headers.connection).toBe('close')
    }
    expect(busy.map((c) => c.reset)).toEqual(busy.map(() => false))
    const code = await exited(child)
    expect(code).toBe(0)
    expect(Date.now() - signalled).toBeLessThan(drainMs)
  })

  it('exits after the drain bound when a client never finishes its request', async () => {
    const drainMs = 1500
    const { child } = await start(framework, drainMs).then(async (s) => {
      const stuck = new KeepAliveClient(s.port)
      stuck.request('/agents/plan', JSON.stringify({ goal: 'never sent in full' }), 3)
      await sleep(200)
      return s
    })
    const signalled = Date.now()
    child.kill('SIGTERM')
    const code = await exited(child)
    const took = Date.now() - signalled
    expect(code).toBe(0)
    expect(took).toBeGreaterThanOrEqual(drainMs - 50)
    expect(took).toBeLessThan(drainMs + 3000)
  })
})
