/**
 * Hono's `secureHeaders()` defaults (HSTS, nosniff, frame options, …), set before the handler
 * runs instead of after it: headers added to a finished response make @hono/node-server turn
 * its fast response into a full `Response` and stream it, which cost more than all the rest of
 * a cached GET. The list is read from Hono's own middleware once, so it stays Hono's.
 * @module
 */
import { Hono, type MiddlewareHandler } from 'hono'
import { secureHeaders } from 'hono/secure-headers'

let headers: Promise<ReadonlyArray<readonly [string, string]>> | undefined

/** The headers `secureHeaders()` sets by default, as Hono sets them. */
export function secureHeaderEntries(): Promise<ReadonlyArray<readonly [string, string]>> {
  headers ??= (async () => {
    const probe = new Hono()
    probe.use(secureHeaders())
    probe.get('/', (c) => c.body(null, 204))
    return [...(await probe.request('/')).headers]
  })()
  return headers
}

/** Middleware that prepares the secure headers on every answer the app builds itself. */
export function preparedSecureHeaders(): MiddlewareHandler {
  return async (c, next) => {
    for (const [name, value] of await secureHeaderEntries()) c.header(name, value)
    await next()
  }
}

/** Adds the secure headers to a `Response` built outside the app's context (the MCP transport's). */
export async function withSecureHeaders(response: Response): Promise<Response> {
  for (const [name, value] of await secureHeaderEntries()) response.headers.set(name, value)
  return response
}
