/**
 * Discovery documents:
 * - Protected resource metadata (RFC 9728) at `/.well-known/oauth-protected-resource` and, by
 *   the path-insertion rule for the resource `…/mcp`, `/.well-known/oauth-protected-resource/mcp`
 *   — both inside the function, because Supabase routes nothing above its path to it (the
 *   `WWW-Authenticate` challenge names the second, so clients need no guessing).
 * - Authorization server metadata (RFC 8414) at `/.well-known/oauth-authorization-server`, and
 *   the same document as OpenID discovery at `/.well-known/openid-configuration`: for an issuer
 *   with a path, the MCP authorization specification has clients try
 *   `{issuer}/.well-known/openid-configuration` last, and it is the only one of their three
 *   tries that reaches a Supabase function. No ID tokens are issued: the OpenID fields that
 *   the discovery format requires say so (`id_token_signing_alg_values_supported: []`, an empty
 *   key set).
 * @module
 */

import type { OpenAPIHono } from '@hono/zod-openapi'
import { OAUTH_SCOPES } from '@keywarden/core'
import type { Context } from 'hono'
import type { OAuthUrls } from './urls.ts'

/** The protected resource metadata document (RFC 9728 §2). */
export function protectedResourceMetadata(urls: OAuthUrls) {
  return {
    resource: urls.resource,
    authorization_servers: [urls.issuer],
    scopes_supported: [...OAUTH_SCOPES],
    bearer_methods_supported: ['header'],
    resource_name: 'Keywarden vault',
  }
}

/** The authorization server metadata document (RFC 8414 §2). */
export function authorizationServerMetadata(urls: OAuthUrls) {
  return {
    issuer: urls.issuer,
    authorization_endpoint: urls.authorization,
    token_endpoint: urls.token,
    registration_endpoint: urls.registration,
    revocation_endpoint: urls.revocation,
    scopes_supported: [...OAUTH_SCOPES],
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    grant_types_supported: ['authorization_code', 'refresh_token'],
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: ['none'],
    revocation_endpoint_auth_methods_supported: ['none'],
    authorization_response_iss_parameter_supported: true,
    client_id_metadata_document_supported: false,
  }
}

/** The same, in the shape OpenID discovery requires (no ID tokens: no signing algorithms). */
export function openIdConfiguration(urls: OAuthUrls) {
  return {
    ...authorizationServerMetadata(urls),
    jwks_uri: urls.jwks,
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [] as string[],
  }
}

/** Registers the discovery routes. */
export function registerMetadataRoutes(app: OpenAPIHono, urls: OAuthUrls) {
  const serve = (document: Record<string, unknown>) => (c: Context) => {
    // Public documents: any origin may read them (browser-based MCP clients discover too).
    c.header('Access-Control-Allow-Origin', '*')
    c.header('Cache-Control', 'public, max-age=300')
    return c.json(document)
  }
  app.get('/.well-known/oauth-protected-resource', serve(protectedResourceMetadata(urls)))
  app.get('/.well-known/oauth-protected-resource/mcp', serve(protectedResourceMetadata(urls)))
  app.get('/.well-known/oauth-authorization-server', serve(authorizationServerMetadata(urls)))
  app.get('/.well-known/openid-configuration', serve(openIdConfiguration(urls)))
  app.get('/oauth/jwks', serve({ keys: [] }))
}
