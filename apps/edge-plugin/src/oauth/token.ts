/**
 * `POST /oauth/token`: the `authorization_code` and `refresh_token` grants (OAuth 2.1 §4.1.3,
 * §4.3), for public clients (`client_id` in the form, no secret). The tokens are made here
 * (random, 256 bits, opaque) and stored by the database as hashes; every check — the code's
 * client, single use, expiry, redirect URI, PKCE verifier, resource; the refresh token's
 * rotation and reuse — is the database's, and audited there.
 * @module
 */

import type { OpenAPIHono } from '@hono/zod-openapi'
import {
  isOAuthRefusal,
  type OAuthTokenGrant,
  type OAuthVault,
  randomToken,
  TOKEN_PREFIXES,
} from '@keywarden/core'
import type { Context } from 'hono'
import { noStoreJson, oauthError } from './respond.ts'
import type { OAuthUrls } from './urls.ts'

/** What the token route needs. */
export interface TokenDeps {
  vault: OAuthVault
  urls: OAuthUrls
  /** Access token lifetime in seconds. */
  accessTtlSeconds: number
  /** Refresh token lifetime in seconds. */
  refreshTtlSeconds: number
}

/** RFC 7636 §4.1: 43 to 128 unreserved characters. */
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/

/** Registers `POST /oauth/token`. */
export function registerTokenRoute(app: OpenAPIHono, deps: TokenDeps) {
  app.post('/oauth/token', (c) => token(c, deps))
}

/** The form's fields as strings (a repeated or file field reads as absent). */
async function formFields(c: Context): Promise<(name: string) => string | undefined> {
  const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>)
  return (name) => {
    const value = (form as Record<string, unknown>)[name]
    return typeof value === 'string' && value !== '' ? value : undefined
  }
}

/** The client's id: the form's `client_id`, else the user of HTTP Basic (a client that sends one). */
export function clientIdOf(c: Context, field: string | undefined): string | undefined {
  if (field) return field
  const match = /^Basic +([A-Za-z0-9+/=]+)$/i.exec(c.req.header('authorization') ?? '')
  if (!match?.[1]) return undefined
  try {
    const user = atob(match[1]).split(':')[0]
    return user ? decodeURIComponent(user) : undefined
  } catch {
    return undefined
  }
}

async function token(c: Context, deps: TokenDeps) {
  const field = await formFields(c)
  const clientId = clientIdOf(c, field('client_id'))
  if (!clientId) {
    return oauthError(c, { error: 'invalid_client', error_description: 'client_id is required' })
  }
  const accessToken = randomToken(TOKEN_PREFIXES.access)
  const refreshToken = randomToken(TOKEN_PREFIXES.refresh)
  const lifetimes = {
    accessTtlSeconds: deps.accessTtlSeconds,
    refreshTtlSeconds: deps.refreshTtlSeconds,
  }
  let answer: OAuthTokenGrant | { error: string; error_description: string }
  switch (field('grant_type')) {
    case 'authorization_code': {
      const code = field('code')
      const verifier = field('code_verifier')
      if (!code || !verifier || !VERIFIER.test(verifier)) {
        return oauthError(c, {
          error: 'invalid_request',
          error_description: 'code and a PKCE code_verifier (43 to 128 characters) are required',
        })
      }
      answer = await deps.vault.exchangeCode({
        clientId,
        code,
        codeVerifier: verifier,
        redirectUri: field('redirect_uri'),
        resource: field('resource'),
        accessToken,
        refreshToken,
        ...lifetimes,
      })
      break
    }
    case 'refresh_token': {
      const presented = field('refresh_token')
      if (!presented) {
        return oauthError(c, {
          error: 'invalid_request',
          error_description: 'refresh_token is required',
        })
      }
      answer = await deps.vault.refresh({
        clientId,
        refreshToken: presented,
        resource: field('resource'),
        accessToken,
        nextRefreshToken: refreshToken,
        ...lifetimes,
      })
      break
    }
    default:
      return oauthError(c, {
        error: 'unsupported_grant_type',
        error_description: 'use authorization_code or refresh_token',
      })
  }
  if (isOAuthRefusal(answer)) return oauthError(c, answer)
  return noStoreJson(c, {
    access_token: accessToken,
    token_type: 'Bearer',
    expires_in: answer.expires_in,
    refresh_token: refreshToken,
    scope: answer.scope,
  })
}
