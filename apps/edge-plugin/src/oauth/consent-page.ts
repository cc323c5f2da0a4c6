/**
 * The consent page, rendered on the server with Hono's `html` template (every interpolation is
 * escaped) and served with a strict policy: no script at all, styles only by nonce, forms only
 * to this origin and the client's redirect origin (browsers apply `form-action` to the
 * redirect that follows the form), never framed (`frame-ancestors 'none'` and `X-Frame-Options:
 * DENY`), never cached, no referrer. It works without JavaScript: a plain form with the
 * request's id, its CSRF token (also in a `SameSite=Strict` cookie) and the owner's code.
 * @module
 */
import { isOAuthScope, OAUTH_SCOPE_DESCRIPTIONS, type OAuthRequest } from '@keywarden/core'
import type { Context } from 'hono'
import { html, raw } from 'hono/html'
import type { HtmlEscapedString } from 'hono/utils/html'

/** What the page shows. */
export interface ConsentView {
  request: OAuthRequest
  csrfToken: string
  /** Where the form posts (the consent endpoint's public URL). */
  action: string
  /** Why the last attempt failed, in words for the owner. */
  problem?: string
}

const STYLE = `body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}
h1{font-size:1.4rem}code,kbd{background:#f1f1f1;padding:.1rem .3rem;border-radius:3px}
.host{font-weight:bold}.problem{color:#a00;font-weight:bold}label{display:block;margin:.4rem 0}
input[name=owner_code]{font:1.2rem monospace;letter-spacing:.1rem;padding:.3rem}
button{font-size:1rem;padding:.4rem 1rem;margin-right:.5rem}`

/** The page for `view`. */
export function consentPage(
  view: ConsentView,
  nonce: string,
): HtmlEscapedString | Promise<HtmlEscapedString> {
  const { request } = view
  const host = new URL(request.redirect_uri).host
  const scopes = request.scopes.filter(isOAuthScope)
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="referrer" content="no-referrer"><title>Connect ${request.client_name} to Keywarden</title>
<style nonce="${nonce}">${raw(STYLE)}</style></head>
<body><main>
<h1>Connect <q id="client-name">${request.client_name}</q> to your Keywarden vault?</h1>
<p>A client that calls itself <strong>${request.client_name}</strong> asks to use your vault. If you
approve, your browser goes back to <span class="host" id="redirect-host">${host}</span>.
Approve only if you just started this connection from there.</p>
${view.problem ? html`<p class="problem" role="alert">${view.problem}</p>` : ''}
<form method="post" action="${view.action}">
<input type="hidden" name="request_id" value="${request.request_id}">
<input type="hidden" name="csrf_token" value="${view.csrfToken}">
<fieldset><legend>It may</legend>
${scopes.map(
  (scope) =>
    html`<label><input type="checkbox" name="scope" value="${scope}" checked> <code>${scope}</code>: ${OAUTH_SCOPE_DESCRIPTIONS[scope]}</label>`,
)}
</fieldset>
<p>To prove this is you, run this in a terminal that reaches your vault, and type the code it prints:</p>
<p><kbd id="approve-command">keywarden connect approve ${request.request_id}</kbd></p>
<label>Owner code <input name="owner_code" autocomplete="off" autocapitalize="characters" spellcheck="false" placeholder="XXXX-XXXX-XXXX"></label>
<p><button type="submit" name="decision" value="approve">Approve</button>
<button type="submit" name="decision" value="deny">Deny</button></p>
</form>
<p><small>Request ${request.request_id}, valid until ${request.expires_at}.</small></p>
</main></body></html>`
}

/** A page that says what went wrong and sends nobody anywhere (an unknown client, a bad redirect URI). */
export function problemPage(message: string, nonce: string) {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Keywarden: cannot connect</title>
<style nonce="${nonce}">${raw(STYLE)}</style></head>
<body><main><h1>This connection cannot go on</h1><p class="problem" role="alert">${message}</p></main></body></html>`
}

/** A fresh nonce for the page's style. */
export function styleNonce(): string {
  const bytes = new Uint8Array(16)
  crypto.getRandomValues(bytes)
  return btoa(String.fromCharCode(...bytes))
}

/**
 * Sets the page's headers: the content security policy (forms to this origin and
 * `formTarget`'s origin only), anti-framing, no caching, no referrer.
 */
export function pageHeaders(c: Context, nonce: string, formTarget?: string) {
  const formAction = ["'self'", ...(formTarget ? [new URL(formTarget).origin] : [])].join(' ')
  c.header(
    'Content-Security-Policy',
    `default-src 'none'; style-src 'nonce-${nonce}'; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
  )
  c.header('X-Frame-Options', 'DENY')
  c.header('Cache-Control', 'no-store')
  c.header('Referrer-Policy', 'no-referrer')
}
