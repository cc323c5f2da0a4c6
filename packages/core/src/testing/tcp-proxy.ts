/**
 * Test-only: a TCP proxy in front of PostgreSQL that a test can cut, to make the vault
 * unreachable for real — established connections are destroyed and new ones refused — and
 * then restore.
 */
import { connect as connectTcp, createServer, type Server, type Socket } from 'node:net'

/** A running proxy. */
export interface TcpProxy {
  /** The port on 127.0.0.1 to connect to instead of the target. */
  port: number
  /** Rewrites a postgres:// URL to go through the proxy. */
  urlFor(databaseUrl: string): string
  /** Destroys every open connection and refuses new ones until {@link TcpProxy.restore}. */
  cut(): void
  restore(): void
  close(): Promise<void>
}

/** Starts a proxy on 127.0.0.1 (a free port) forwarding to `target`. */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<Socket>()
  let refusing = false
  const track = (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => socket.destroy())
  }
  const server: Server = createServer((client) => {
    track(client)
    if (refusing) {
      client.destroy()
      return
    }
    const upstream = connectTcp(target.port, target.host)
    track(upstream)
    client.pipe(upstream).pipe(client)
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('proxy has no port')
  const port = address.port

  return {
    port,
    urlFor(databaseUrl) {
      const url = new URL(databaseUrl)
      url.hostname = '127.0.0.1'
      url.port = String(port)
      return url.toString()
    },
    cut() {
      refusing = true
      for (const socket of sockets) socket.destroy()
    },
    restore() {
      refusing = false
    },
    async close() {
      refusing = true
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
