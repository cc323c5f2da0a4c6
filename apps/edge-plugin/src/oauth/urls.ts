/**
 * The URLs of the plugin's OAuth authorization server and protected resource, all derived from
 * the configured public URL (`PLUGIN_PUBLIC_URL`, or the Supabase function's URL): the issuer
 * is the public base URL, the protected resource is its `/mcp`.
 * @module
 */

/** Every URL the OAuth documents name. */
export interface OAuthUrls {
  /** The authorization server's issuer: the public base URL (`…/chatgpt-plugin`). */
  issuer: string
  /** The protected resource (RFC 8707's `resource`): the MCP endpoint. */
  resource: string
  /** Where the protected resource metadata (RFC 9728) is served inside the function. */
  resourceMetadata: string
  authorization: string
  token: string
  registration: string
  revocation: string
  consent: string
  jwks: string
}

/** The URLs for a public base URL without a trailing slash. */
export function oauthUrls(publicUrl: string): OAuthUrls {
  return {
    issuer: publicUrl,
    resource: `${publicUrl}/mcp`,
    resourceMetadata: `${publicUrl}/.well-known/oauth-protected-resource/mcp`,
    authorization: `${publicUrl}/oauth/authorize`,
    token: `${publicUrl}/oauth/token`,
    registration: `${publicUrl}/oauth/register`,
    revocation: `${publicUrl}/oauth/revoke`,
    consent: `${publicUrl}/oauth/consent`,
    jwks: `${publicUrl}/oauth/jwks`,
  }
}
