/**
 * `POST /oauth/register`: Dynamic Client Registration (RFC 7591). Clients are public (PKCE, no
 * secret): whatever authentication method a client asks for, it is registered with `none` and
 * told so, as §3.2.1 allows. Redirect URIs are parsed with the WHATWG URL parser and must be
 * https, or http to a loopback address (RFC 8252 native apps); the database checks them again
 * and audits the registration under the client's new door.
 * @module
 */

import type { OpenAPIHono } from '@hono/zod-openapi'
import { isOAuthRefusal, OAUTH_SCOPES, type OAuthVault } from '@keywarden/core'
import type { Context } from 'hono'
import { noStoreJson, oauthError } from './respond.ts'

/** Whether a redirect URI may be registered (the SQL floor checks the same again). */
export function isAllowedRedirectUri(text: string): boolean {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return false
  }
  if (url.hash !== '' || text.includes('#') || url.username !== '' || url.password !== '') {
    return false
  }
  if (url.protocol === 'https:') return true
  return url.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname)
}

/** Registers `POST /oauth/register`. */
export function registerRegistrationRoute(app: OpenAPIHono, vault: OAuthVault) {
  app.post('/oauth/register', async (c) => handleRegistration(c, vault))
}

async function handleRegistration(c: Context, vault: OAuthVault) {
  const body = (await c.req.json().catch(() => null)) as Record<string, unknown> | null
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return oauthError(c, {
      error: 'invalid_client_metadata',
      error_description: 'the body must be a JSON object (RFC 7591)',
    })
  }
  const uris = body.redirect_uris
  if (
    !Array.isArray(uris) ||
    uris.length === 0 ||
    !uris.every((uri) => typeof uri === 'string' && isAllowedRedirectUri(uri))
  ) {
    return oauthError(c, {
      error: 'invalid_redirect_uri',
      error_description:
        'redirect_uris must be https URIs (or http to a loopback address) without fragments',
    })
  }
  const grantTypes = body.grant_types
  if (
    grantTypes !== undefined &&
    (!Array.isArray(grantTypes) ||
      !grantTypes.every((type) => type === 'authorization_code' || type === 'refresh_token'))
  ) {
    return oauthError(c, {
      error: 'invalid_client_metadata',
      error_description: 'grant_types may only name authorization_code and refresh_token',
    })
  }
  const name = typeof body.client_name === 'string' ? body.client_name : 'MCP client'
  const client = await vault.registerClient({ clientName: name, redirectUris: uris as string[] })
  if (isOAuthRefusal(client)) return oauthError(c, client)
  return noStoreJson(
    c,
    {
      client_id: client.client_id,
      client_id_issued_at: Math.floor(Date.parse(client.created_at) / 1000),
      client_name: client.client_name,
      redirect_uris: client.redirect_uris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      scope: OAUTH_SCOPES.join(' '),
    },
    201,
  )
}
