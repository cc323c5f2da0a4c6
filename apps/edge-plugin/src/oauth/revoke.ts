/**
 * `POST /oauth/revoke`: token revocation (RFC 7009) for public clients. A refresh token takes
 * its whole connection with it, an access token only itself; a token of another client, or
 * none at all, changes nothing. The answer is 200 either way (§2.2), so it tells nobody
 * whether a token existed.
 * @module
 */

import type { OpenAPIHono } from '@hono/zod-openapi'
import type { OAuthVault } from '@keywarden/core'
import { oauthError } from './respond.ts'
import { clientIdOf } from './token.ts'

/** Registers `POST /oauth/revoke`. */
export function registerRevocationRoute(app: OpenAPIHono, vault: OAuthVault) {
  app.post('/oauth/revoke', async (c) => {
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>)
    const token = typeof form.token === 'string' ? form.token : ''
    const clientId = clientIdOf(c, typeof form.client_id === 'string' ? form.client_id : undefined)
    if (!clientId) {
      return oauthError(c, { error: 'invalid_client', error_description: 'client_id is required' })
    }
    if (token === '') {
      return oauthError(c, { error: 'invalid_request', error_description: 'token is required' })
    }
    await vault.revokeToken(token, clientId)
    c.header('Cache-Control', 'no-store')
    return c.body(null, 200)
  })
}
