/**
 * Test support: one HTTP request with its request-target exactly as written,
 * on its own connection. `fetch` normalises the target before it leaves the
 * client; a hostile client does not. Not published.
 */
import { connect } from 'node:net'

export interface RawResponse {
  status: number
  headers: Record<string, string>
}

/** Sends `POST <target>` with a `{}` JSON body and reads the status line and headers. */
export function raw(url: string, target: string): Promise<RawResponse> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(
        `POST ${target} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}`,
      )
    })
    let text = ''
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => {
      text += chunk
    })
    socket.on('error', reject)
    socket.setTimeout(5000, () => socket.destroy(new Error(`no answer to ${target}`)))
    socket.on('close', () => {
      const [head = ''] = text.split('\r\n\r\n')
      const [statusLine = '', ...lines] = head.split('\r\n')
      const headers: Record<string, string> = {}
      for (const line of lines) {
        const colon = line.indexOf(':')
        if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers })
    })
  })
}
