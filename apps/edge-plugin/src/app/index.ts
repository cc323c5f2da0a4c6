/**
 * The edge plugin's Hono app: ChatGPT's front door to the vault.
 *
 * Order of the middleware, and why:
 * 1. CORS, for allowed origins only (others get no CORS headers at all), so a preflight is
 *    answered before authentication, which a browser's preflight never carries.
 * 2. Hono's `secureHeaders` set on every answer (see {@link preparedSecureHeaders}).
 * 3. The body limit, before any route reads a body.
 * 4. Per route: bearer authentication on everything but health, the OpenAPI document and the
 *    manifest (the cron route with its own token); then zod validation of params, query and body from the same schemas that make the
 *    OpenAPI document.
 *
 * Errors, validation failures and unknown routes all answer `{ error: { code, message } }`.
 * Runtime-neutral: the same app serves on Node and on Deno (Supabase Edge Functions).
 * @module
 */
import { OpenAPIHono } from '@hono/zod-openapi'
import { EDGE_DOOR, restrictToDoor, type VaultClient } from '@keywarden/core'
import type { MiddlewareHandler } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { cors } from 'hono/cors'
import {
  type ClientIdentifier,
  CRON_TOKEN_SECRET,
  createBearerAuth,
  FailureLimiter,
} from '../auth/index.ts'
import { BASE_PATH, DEFAULT_CONFIG, type EdgePluginConfig } from '../config/index.ts'
import { registerCronRoutes } from '../cron/index.ts'
import { ApiError, errorBody, errorResponse, validationMessage } from '../errors/index.ts'
import { GITHUB_TOKEN_SECRET } from '../github/client.ts'
import { createGitHub, registerGitHubRoutes } from '../github/index.ts'
import { registerMcpRoutes } from '../mcp/index.ts'
import { checkPublicUrl, registerMetaRoutes } from '../meta/index.ts'
import { registerMonitoringRoutes } from '../monitoring/index.ts'
import { registerOAuthRoutes } from '../oauth/index.ts'
import { preparedSecureHeaders } from '../secure-headers/index.ts'
import { createMetadataCache, registerVaultRoutes } from '../vault/index.ts'

/** The audit accessor the plugin's vault client should use. */
export const AUDIT_ACCESSOR = 'chatgpt-plugin'

/** Options for {@link createApp}. */
export interface CreateAppOptions {
  /**
   * The vault client, created with `accessedBy: 'chatgpt-plugin'`. The app never closes it.
   * Its environment fallback supplies `PLUGIN_BEARER_TOKEN`, `CRON_BEARER_TOKEN` and `GITHUB_TOKEN`.
   */
  client: VaultClient
  /** Settings; what is left out takes {@link DEFAULT_CONFIG}. */
  config?: Partial<EdgePluginConfig>
  /**
   * Who a request comes from, for the failed-authentication limit. Default
   * `forwardedFor`: the proxies' headers, as on Supabase. The Node entry uses the socket.
   */
  identifyClient?: ClientIdentifier
  /** The clock, in ms (tests). Default `Date.now`. */
  now?: () => number
}

/** Creates the app, served under `/chatgpt-plugin`. Nothing is read from the vault until a request needs it. */
export function createApp(options: CreateAppOptions) {
  const { client } = options
  const config: EdgePluginConfig = { ...DEFAULT_CONFIG, ...options.config }
  const now = options.now ?? Date.now

  const app = new OpenAPIHono({
    defaultHook: (result) => {
      if (!result.success) {
        throw new ApiError(400, 'INVALID_REQUEST', validationMessage(result.error))
      }
    },
  }).basePath(BASE_PATH)

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    description: 'The plugin bearer token (vault secret plugin_bearer_token)',
  })

  app.use('*', allowedOriginsCors(config.allowedOrigins))
  app.use('*', preparedSecureHeaders())
  const limitBody = bodyLimit({
    maxSize: config.maxBodyBytes,
    onError: () => {
      throw new ApiError(
        413,
        'PAYLOAD_TOO_LARGE',
        `the body is larger than ${config.maxBodyBytes} bytes`,
      )
    },
  })
  // Only where a body is expected: looking at one makes @hono/node-server build a full Request
  // (with its AbortSignal), which cost a GET more than all the rest of its work.
  app.on(['POST', 'PUT', 'PATCH', 'DELETE'], '*', limitBody)

  const limits = {
    maxFailures: config.maxAuthFailures,
    maxGlobalFailures: config.maxGlobalAuthFailures,
    windowMs: config.authFailureWindowMs,
    now,
  }
  // One count for every token: alternating between the routes (or OAuth) buys no more guesses.
  const limiter = new FailureLimiter(limits)
  const authOptions = {
    client,
    ...limits,
    limiter,
    ...(options.identifyClient ? { identify: options.identifyClient } : {}),
  }
  const auth = createBearerAuth(authOptions)
  // The scheduler's door: same checks and failure limit, its own token.
  const cronAuth = createBearerAuth({ ...authOptions, secretName: CRON_TOKEN_SECRET })
  // What agents reach (the REST vault and monitoring routes, /mcp) goes through the door
  // policy as the `edge` door; the plugin's own reads (its tokens, the GitHub token, the cron
  // job) use the client itself.
  const agent = restrictToDoor(client, { door: EDGE_DOOR, ownCredentials: [GITHUB_TOKEN_SECRET] })
  const metadata = createMetadataCache(agent, config.metadataCacheMs, now)
  const github = createGitHub({
    client,
    baseUrl: config.githubApiUrl,
    userAgent: `keywarden-edge-plugin/${config.version}`,
  })

  registerMetaRoutes(app, { client, config })
  registerVaultRoutes(app, { client: agent, metadata, auth })
  registerMonitoringRoutes(app, { client: agent, auth })
  registerGitHubRoutes(app, { github, auth })
  registerCronRoutes(app, {
    client,
    auth: cronAuth,
    ...(config.webhookUrl ? { webhookUrl: config.webhookUrl } : {}),
  })
  // OAuth for remote MCP clients, only where the public URL is known (issuer and resource
  // must never come from a request's Host).
  const oauth =
    config.publicUrl === undefined
      ? undefined
      : registerOAuthRoutes(app, {
          client,
          publicUrl: checkPublicUrl(config.publicUrl),
          accessTtlSeconds: config.oauthAccessTokenTtlSeconds,
          refreshTtlSeconds: config.oauthRefreshTokenTtlSeconds,
          limiter,
          ownCredentials: [GITHUB_TOKEN_SECRET],
          ...(options.identifyClient ? { identify: options.identifyClient } : {}),
        })(auth)
  registerMcpRoutes(app, {
    client: agent,
    auth: oauth?.middleware ?? auth,
    ...(oauth ? { connectionOf: oauth.connectionOf } : {}),
    version: config.version,
    onRequestDone: () => metadata.clear(),
  })

  app.notFound((c) => c.json(errorBody('NOT_FOUND', 'no such route'), 404))
  app.onError((error, c) => errorResponse(error, c))
  return app
}

/** The app {@link createApp} returns. */
export type EdgePluginApp = ReturnType<typeof createApp>

/** CORS for the allowlisted origins; any other origin passes through without CORS headers. */
function allowedOriginsCors(origins: readonly string[]): MiddlewareHandler {
  const allowed = new Set(origins)
  const handler = cors({
    origin: (origin) => (allowed.has(origin) ? origin : null),
    allowMethods: ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
    allowHeaders: [
      'Authorization',
      'Content-Type',
      'Mcp-Protocol-Version',
      'Openai-Conversation-Id',
      'Openai-Ephemeral-User-Id',
    ],
    maxAge: 600,
  })
  return (c, next) => {
    const origin = c.req.header('origin')
    return origin !== undefined && allowed.has(origin) ? handler(c, next) : next()
  }
}
