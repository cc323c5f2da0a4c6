/**
 * Answers in OAuth's own shapes: `{ error, error_description }` JSON (RFC 6749 §5.2, RFC 7591
 * §3.2.2), never cached, and the redirect back to a client's (registered, verified) redirect
 * URI with the query parameters RFC 6749 §4.1.2 and RFC 9207 name.
 * @module
 */
import type { OAuthRefusal } from '@keywarden/core'
import type { Context } from 'hono'
import type { ContentfulStatusCode } from 'hono/utils/http-status'

/** An OAuth error answer; `invalid_client` is 401, everything else `status` (default 400). */
export function oauthError(c: Context, refusal: OAuthRefusal, status: ContentfulStatusCode = 400) {
  c.header('Cache-Control', 'no-store')
  return c.json(
    { error: refusal.error, error_description: refusal.error_description },
    refusal.error === 'invalid_client' ? 401 : status,
  )
}

/** A JSON answer that must not be cached (tokens, registrations). */
export function noStoreJson(c: Context, body: Record<string, unknown>, status: 200 | 201 = 200) {
  c.header('Cache-Control', 'no-store')
  c.header('Pragma', 'no-cache')
  return c.json(body, status)
}

/**
 * The URL that sends the browser back to the client: `redirectUri` (already matched exactly
 * against the client's registration) with `params`, `iss` (RFC 9207) and the client's `state`.
 */
export function clientRedirect(
  redirectUri: string,
  params: Record<string, string>,
  issuer: string,
  state: string | null | undefined,
): string {
  const url = new URL(redirectUri)
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value)
  url.searchParams.set('iss', issuer)
  if (state) url.searchParams.set('state', state)
  return url.href
}
