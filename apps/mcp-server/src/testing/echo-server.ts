/**
 * A local HTTP server for `http_request` tests (test-only). It records every request it
 * receives, and `/echo` sends back the request's `x-token` header in every encoding the
 * masking must catch — raw, base64, base64url, URL-encoded, hex — in response headers and a
 * JSON body, with the request's headers and body. `/redirect?to=URL` answers 302 to URL
 * (`{token}` in it replaced by the token, `&upper` upper-cases it), `/big?bytes=N` sends N
 * bytes ending with the token, `/reflect` sends the request body back as it came, `/pad?end=N`
 * the same after dashes so that it ends at character N (then `zzzz`),
 * `/encode?as=I` the request body in core's test encoding number I, `/slow` answers after 30 s.
 */
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { ENCODINGS } from '../../../../packages/core/src/testing/encodings.ts'

/** A request the echo server received. */
export interface ReceivedRequest {
  method: string
  url: string
  headers: IncomingMessage['headers']
  body: string
}

/** A running echo server; `close()` when done. */
export interface EchoServer {
  /** `http://127.0.0.1:PORT` */
  origin: string
  /** `127.0.0.1:PORT`, as an allowed_hosts entry. */
  host: string
  received: ReceivedRequest[]
  close(): Promise<void>
}

function encodings(token: string) {
  const bytes = Buffer.from(token)
  return {
    raw: token,
    base64: bytes.toString('base64'),
    base64url: bytes.toString('base64url'),
    url: encodeURIComponent(token),
    hex: bytes.toString('hex'),
  }
}

/** Starts an echo server on 127.0.0.1 and a free port. */
export async function startEchoServer(): Promise<EchoServer> {
  const received: ReceivedRequest[] = []
  const slow = new Set<NodeJS.Timeout>()
  const server = createServer(async (request, response) => {
    const chunks: Buffer[] = []
    for await (const chunk of request) chunks.push(chunk as Buffer)
    const body = Buffer.concat(chunks).toString('utf8')
    const url = new URL(request.url ?? '/', 'http://127.0.0.1')
    received.push({ method: request.method ?? '', url: url.href, headers: request.headers, body })
    const token = String(request.headers['x-token'] ?? '')
    if (url.pathname === '/redirect') {
      const shown = url.searchParams.has('upper') ? token.toUpperCase() : token
      const to = (url.searchParams.get('to') ?? '/').replaceAll('{token}', shown)
      response.writeHead(302, { location: Buffer.from(to).toString('latin1') }).end()
    } else if (url.pathname === '/pad') {
      const end = Number(url.searchParams.get('end'))
      response.writeHead(200, { 'content-type': 'text/plain' })
      response.end(`${'-'.repeat(Math.max(0, end - body.length))}${body}zzzz`)
    } else if (url.pathname === '/reflect') {
      response.writeHead(200, { 'content-type': 'text/plain' }).end(body)
    } else if (url.pathname === '/encode') {
      const encoding = ENCODINGS[Number(url.searchParams.get('as'))]
      response.writeHead(200, { 'content-type': 'application/octet-stream' })
      response.end(
        Buffer.concat([
          Buffer.from('<'),
          encoding?.bytes(body) ?? Buffer.alloc(0),
          Buffer.from('>'),
        ]),
      )
    } else if (url.pathname === '/big') {
      const bytes = Number(url.searchParams.get('bytes'))
      response.end(`${'a'.repeat(Math.max(0, bytes - token.length))}${token}`)
    } else if (url.pathname === '/slow') {
      const timer = setTimeout(() => response.end('late'), 30_000)
      slow.add(timer)
      response.on('close', () => clearTimeout(timer))
    } else {
      const forms = encodings(token)
      response.writeHead(200, {
        'content-type': 'application/json',
        'x-echo-token': forms.raw,
        'x-echo-base64': forms.base64,
        'x-echo-hex': forms.hex,
      })
      response.end(
        JSON.stringify({
          method: request.method,
          path: url.pathname,
          query: url.search,
          headers: request.headers,
          body,
          forms,
        }),
      )
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    origin: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise((resolve) => {
        for (const timer of slow) clearTimeout(timer)
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
