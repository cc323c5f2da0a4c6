/**
 * Test-only: a real HTTP server on 127.0.0.1 that records every request and answers as the
 * test says — a webhook receiver (healthy, failing or hanging) or a small GitHub API double.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** A request as the receiver saw it. */
export interface ReceivedRequest {
  method: string
  path: string
  headers: IncomingMessage['headers']
  body: string
}

/** How to answer one request: a status and a JSON body, or `'hang'` (never answer). */
export type Answer = { status: number; json?: unknown } | 'hang'

/** A running receiver. */
export interface HttpReceiver {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string
  readonly requests: readonly ReceivedRequest[]
  /** Replaces how requests are answered from now on. */
  answer(respond: (request: ReceivedRequest) => Answer): void
  close(): Promise<void>
}

/** Starts a receiver answering 200 `{ok: true}` until told otherwise. */
export async function startHttpReceiver(): Promise<HttpReceiver> {
  const requests: ReceivedRequest[] = []
  const hanging = new Set<ServerResponse>()
  let respond: (request: ReceivedRequest) => Answer = () => ({ status: 200, json: { ok: true } })
  const server = createServer((incoming, response) => {
    const chunks: Buffer[] = []
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk))
    incoming.on('end', () => {
      const request = {
        method: incoming.method ?? '',
        path: incoming.url ?? '',
        headers: incoming.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      }
      requests.push(request)
      const answer = respond(request)
      if (answer === 'hang') {
        hanging.add(response)
        return
      }
      response.writeHead(answer.status, { 'content-type': 'application/json' })
      response.end(JSON.stringify(answer.json ?? {}))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    answer(next) {
      respond = next
    },
    async close() {
      for (const response of hanging) response.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
