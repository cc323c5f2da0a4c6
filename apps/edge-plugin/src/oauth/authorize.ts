/**
 * `GET /oauth/authorize` and `POST /oauth/consent`: the authorization code flow's front half.
 *
 * The request is handed to the database as it came (`begin_authorization`), which checks —
 * and audits every refusal under the client's door — the client, the exact redirect URI, the
 * response type, PKCE S256, the scopes and the resource (RFC 8707: only this server's `/mcp`).
 * Until the redirect URI is known to be registered, nothing redirects: the problem is shown
 * on a page. Then the owner sees the consent page, and approves with the one-time code that
 * `keywarden connect approve <id>` prints, or denies.
 * @module
 */

import type { OpenAPIHono } from '@hono/zod-openapi'
import { isOAuthRefusal, type OAuthVault, randomToken, TOKEN_PREFIXES } from '@keywarden/core'
import type { Context } from 'hono'
import { getCookie, setCookie } from 'hono/cookie'
import { constantTimeEqual } from '../auth/index.ts'
import { consentPage, pageHeaders, problemPage, styleNonce } from './consent-page.ts'
import { clientRedirect } from './respond.ts'
import type { OAuthUrls } from './urls.ts'

/** The cookie holding the consent form's CSRF token (double submit, beside its stored hash). */
export const CONSENT_COOKIE = 'kw_consent_csrf'

/** What the two routes need. */
export interface AuthorizeDeps {
  vault: OAuthVault
  urls: OAuthUrls
}

/** The scopes asked for when a client names none. */
const DEFAULT_SCOPES = ['secrets:metadata', 'secrets:use']

/** Errors about the client or its redirect URI: shown, never sent to an unverified URI. */
const UNREDIRECTABLE = new Set(['invalid_client', 'invalid_redirect_uri'])

/** Registers `GET /oauth/authorize` and `POST /oauth/consent`. */
export function registerAuthorizeRoutes(app: OpenAPIHono, deps: AuthorizeDeps) {
  app.get('/oauth/authorize', (c) => authorize(c, deps))
  app.post('/oauth/consent', (c) => consent(c, deps))
}

async function authorize(c: Context, deps: AuthorizeDeps) {
  const query = (name: string) => c.req.query(name)
  const nonce = styleNonce()
  const redirectUri = query('redirect_uri')
  const csrfToken = randomToken(TOKEN_PREFIXES.csrf)
  const scope = query('scope')
  const request = await deps.vault.beginAuthorization({
    clientId: query('client_id') ?? '',
    redirectUri: redirectUri ?? '',
    responseType: query('response_type'),
    scopes: scope ? scope.split(' ').filter((s) => s !== '') : DEFAULT_SCOPES,
    resource: query('resource') ?? deps.urls.resource,
    expectedResource: deps.urls.resource,
    codeChallenge: query('code_challenge'),
    codeChallengeMethod: query('code_challenge_method'),
    state: query('state'),
    csrfToken,
  })
  if (isOAuthRefusal(request)) {
    if (UNREDIRECTABLE.has(request.error) || redirectUri === undefined) {
      pageHeaders(c, nonce)
      return c.html(problemPage(request.error_description, nonce), 400)
    }
    return c.redirect(
      clientRedirect(
        redirectUri,
        { error: request.error, error_description: request.error_description },
        deps.urls.issuer,
        query('state'),
      ),
      302,
    )
  }
  setCookie(c, CONSENT_COOKIE, csrfToken, {
    path: new URL(deps.urls.consent).pathname,
    httpOnly: true,
    secure: deps.urls.issuer.startsWith('https:'),
    sameSite: 'Strict',
    maxAge: 15 * 60,
  })
  pageHeaders(c, nonce, request.redirect_uri)
  return c.html(consentPage({ request, csrfToken, action: deps.urls.consent }, nonce))
}

async function consent(c: Context, deps: AuthorizeDeps) {
  const nonce = styleNonce()
  const form = await c.req.parseBody({ all: true })
  const field = (name: string) => (typeof form[name] === 'string' ? (form[name] as string) : '')
  const requestId = field('request_id')
  const csrfToken = field('csrf_token')
  // Double submit: the form's token must be the cookie's. A form posted from another site
  // carries no cookie (SameSite=Strict); it still goes to the database, with no token, so the
  // refusal is audited under the client's door like every other.
  const cookie = getCookie(c, CONSENT_COOKIE) ?? ''
  const submitted = csrfToken !== '' && constantTimeEqual(csrfToken, cookie)
  const scopes = ([] as unknown[])
    .concat(form.scope ?? [])
    .filter((s): s is string => typeof s === 'string')
  const code = randomToken(TOKEN_PREFIXES.code)
  const decision = await deps.vault.decide({
    requestId,
    csrfToken: submitted ? csrfToken : '',
    approve: field('decision') === 'approve',
    ownerCode: field('owner_code'),
    scopes,
    code,
  })
  if (!submitted) {
    pageHeaders(c, nonce)
    return c.html(
      problemPage(
        'This form is not the one this browser was shown. Start the connection again.',
        nonce,
      ),
      403,
    )
  }
  if ('denied' in decision && decision.denied === true) {
    return c.redirect(
      clientRedirect(
        decision.redirect_uri,
        { error: 'access_denied', error_description: 'the owner denied the connection' },
        deps.urls.issuer,
        decision.state,
      ),
      303,
    )
  }
  if ('grant_id' in decision) {
    return c.redirect(
      clientRedirect(decision.redirect_uri, { code }, deps.urls.issuer, decision.state),
      303,
    )
  }
  if ('request_id' in decision) {
    pageHeaders(c, nonce, decision.redirect_uri)
    const left = decision.attempts_left
    return c.html(
      consentPage(
        {
          request: decision,
          csrfToken,
          action: deps.urls.consent,
          problem: `${decision.error_description}. ${left} attempt${left === 1 ? '' : 's'} left.`,
        },
        nonce,
      ),
      400,
    )
  }
  pageHeaders(c, nonce)
  return c.html(problemPage(decision.error_description, nonce), 400)
}
