/**
 * The edge plugin as an OAuth 2.1 authorization server and protected resource for remote MCP
 * clients (ChatGPT apps, Claude.ai custom connectors), as the MCP authorization specification
 * describes: discovery (RFC 9728, RFC 8414), dynamic registration (RFC 7591), the
 * authorization code flow with PKCE S256 and resource indicators (RFC 8707), the owner's
 * consent with a one-time code from the CLI, tokens with rotation, and revocation (RFC 7009).
 *
 * One module per endpoint; the state and every check that decides are in the vault's database
 * (`@keywarden/core`'s `createOAuthVault`, SQL `public.oauth_call`), so Node and Deno share one
 * implementation and one state. Offered only when the public URL is known (`PLUGIN_PUBLIC_URL`,
 * or the Supabase function's URL): issuer and resource must be stable, never taken from a
 * request's `Host`.
 * @module
 */

import type { OpenAPIHono } from '@hono/zod-openapi'
import { createOAuthVault, type VaultClient } from '@keywarden/core'
import type { MiddlewareHandler } from 'hono'
import type { ClientIdentifier, FailureLimiter } from '../auth/index.ts'
import { registerAuthorizeRoutes } from './authorize.ts'
import { createMcpAuth, type McpAuth } from './mcp-auth.ts'
import { registerMetadataRoutes } from './metadata.ts'
import { registerRegistrationRoute } from './register.ts'
import { registerRevocationRoute } from './revoke.ts'
import { registerTokenRoute } from './token.ts'
import { oauthUrls } from './urls.ts'

/** What {@link registerOAuthRoutes} needs. */
export interface OAuthRouteOptions {
  /** The plugin's own vault client (not an agent door's). */
  client: VaultClient
  /** The checked public base URL. */
  publicUrl: string
  accessTtlSeconds: number
  refreshTtlSeconds: number
  limiter: FailureLimiter
  identify?: ClientIdentifier
  ownCredentials: readonly string[]
}

/**
 * Registers the discovery, registration, authorization, consent, token and revocation routes,
 * and returns the authentication `/mcp` uses around the static bearer middleware.
 */
export function registerOAuthRoutes(
  app: OpenAPIHono,
  options: OAuthRouteOptions,
): (bearer: MiddlewareHandler) => McpAuth {
  const vault = createOAuthVault(options.client)
  const urls = oauthUrls(options.publicUrl)
  registerMetadataRoutes(app, urls)
  registerRegistrationRoute(app, vault)
  registerAuthorizeRoutes(app, { vault, urls })
  registerTokenRoute(app, {
    vault,
    urls,
    accessTtlSeconds: options.accessTtlSeconds,
    refreshTtlSeconds: options.refreshTtlSeconds,
  })
  registerRevocationRoute(app, vault)
  return (bearer) =>
    createMcpAuth({
      bearer,
      vault,
      client: options.client,
      urls,
      limiter: options.limiter,
      ownCredentials: options.ownCredentials,
      ...(options.identify ? { identify: options.identify } : {}),
    })
}

export { CONSENT_COOKIE } from './authorize.ts'
export type { McpAuth } from './mcp-auth.ts'
export { type OAuthUrls, oauthUrls } from './urls.ts'
