/**
 * `@keywarden/edge-plugin/node`: the plugin on a Node HTTP server (`@hono/node-server`), for
 * local use, tests and the benchmark. Node-only; the package root stays runtime-neutral.
 * @module
 */
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { getConnInfo } from '@hono/node-server/conninfo'
import { type CreateAppOptions, createApp, type EdgePluginApp } from '../app/index.ts'
import { BASE_PATH } from '../config/index.ts'

/** Options for {@link serveEdgePlugin}. */
export interface ServeOptions extends Omit<CreateAppOptions, 'identifyClient'> {
  /** The port; 0 picks a free one. Default 8787, as `keywarden-edge`. */
  port?: number
  /** The interface to listen on. Default `127.0.0.1`. */
  hostname?: string
}

/** A running server. */
export interface EdgePluginServer {
  /** The base URL, e.g. `http://127.0.0.1:8787/chatgpt-plugin`. */
  url: string
  port: number
  app: EdgePluginApp
  /** Stops accepting connections and ends idle ones; the vault client stays open. */
  close(): Promise<void>
}

/**
 * Serves the app. Failed authentications are counted per socket address: a direct server has
 * no trusted proxy, so `X-Forwarded-For` (which anyone can send) is not used.
 */
export async function serveEdgePlugin(options: ServeOptions): Promise<EdgePluginServer> {
  const { port = 8787, hostname = '127.0.0.1', ...appOptions } = options
  const app = createApp({
    ...appOptions,
    identifyClient: (c) => getConnInfo(c).remote.address ?? 'unknown',
  })
  const { server, address } = await new Promise<{
    server: ReturnType<typeof serve>
    address: AddressInfo
  }>((resolve, reject) => {
    const started = serve({ fetch: app.fetch, port, hostname }, (info) =>
      resolve({ server: started, address: info }),
    )
    started.once('error', reject)
  })
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return {
    url: `http://${host}:${address.port}${BASE_PATH}`,
    port: address.port,
    app,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()))
        ;(server as { closeIdleConnections?: () => void }).closeIdleConnections?.()
      }),
  }
}
