/**
 * Authentication of `/mcp` with OAuth beside the static bearer.
 *
 * - A bearer token with the access-token prefix (`kwat_`) is an OAuth access token: the
 *   database checks that it is live, its connection not revoked and that it was issued for this
 *   server's `/mcp` (RFC 8707; a token for another resource is refused), and audits a refusal.
 *   The request then acts through the connection's own door, `oauth:<client name>`, whose
 *   rights are the door policy's capped by the connection's scopes.
 * - Any other bearer token goes to the static bearer check (GPT Actions, scripts), unchanged.
 * - A 401 carries `WWW-Authenticate: Bearer resource_metadata="…"` (RFC 9728 §5.1), which is
 *   how MCP clients find the authorization server. A request without any token is such a
 *   challenge, not a failed guess: it is neither counted nor audited. Unknown tokens count in
 *   the shared failure limiter; expired or revoked ones (a client that should refresh) do not,
 *   so clients behind one shared address do not lock each other out.
 * @module
 */
import {
  type DoorClient,
  isOAuthRefusal,
  type OAuthAccess,
  type OAuthVault,
  restrictToDoor,
  rightsForScopes,
  TOKEN_PREFIXES,
  type VaultClient,
} from '@keywarden/core'
import type { Context, MiddlewareHandler } from 'hono'
import {
  type ClientIdentifier,
  clientBuckets,
  type FailureLimiter,
  forwardedFor,
} from '../auth/index.ts'
import { ApiError } from '../errors/index.ts'
import type { OAuthUrls } from './urls.ts'

/** What {@link createMcpAuth} needs. */
export interface McpAuthOptions {
  /** The static bearer middleware, for tokens that are not OAuth access tokens. */
  bearer: MiddlewareHandler
  vault: OAuthVault
  /** The plugin's vault client, which each connection's door client wraps. */
  client: VaultClient
  urls: OAuthUrls
  limiter: FailureLimiter
  identify?: ClientIdentifier
  /** Names the doors read as their own credentials (the edge's `github_token`). */
  ownCredentials: readonly string[]
}

/** The middleware and where it leaves a request's connection. */
export interface McpAuth {
  middleware: MiddlewareHandler
  /** The door client of the OAuth connection a request came with; undefined for the static bearer. */
  connectionOf(c: Context): DoorClient | undefined
}

/** Most door clients kept at once (one per connection door and scope set). */
const MAX_DOOR_CLIENTS = 64

/** Creates the `/mcp` authentication. */
export function createMcpAuth(options: McpAuthOptions): McpAuth {
  const identify = options.identify ?? forwardedFor
  const connections = new WeakMap<Request, DoorClient>()
  // Reused per door and scopes, so each keeps its door-policy cache across requests.
  const doors = new Map<string, DoorClient>()
  const doorFor = (access: OAuthAccess): DoorClient => {
    const key = `${access.door} ${[...access.scopes].sort().join(' ')}`
    let door = doors.get(key)
    if (!door) {
      if (doors.size >= MAX_DOOR_CLIENTS) doors.delete(doors.keys().next().value as string)
      // Its own accessor too: the connection's door is who the audit log names.
      door = restrictToDoor(options.client.withAccessor(access.door), {
        door: access.door,
        ownCredentials: options.ownCredentials,
        ceiling: rightsForScopes(access.scopes),
      })
      doors.set(key, door)
    }
    return door
  }

  const challenge = (problem?: string) =>
    [
      `Bearer resource_metadata="${options.urls.resourceMetadata}"`,
      ...(problem
        ? [`error="invalid_token"`, `error_description="${problem.replace(/["\\]/g, "'")}"`]
        : []),
    ].join(', ')

  const middleware: MiddlewareHandler = async (c, next) => {
    const header = c.req.header('authorization')
    if (header === undefined || header === '') {
      throw new ApiError(401, 'UNAUTHORIZED', 'missing bearer token', {
        'WWW-Authenticate': challenge(),
      })
    }
    const token = /^Bearer +(\S+) *$/i.exec(header)?.[1]
    if (token?.startsWith(TOKEN_PREFIXES.access)) {
      const buckets = clientBuckets(identify(c))
      const keys = [buckets.address, ...(buckets.network ? [buckets.network] : [])]
      const retryAfterMs = options.limiter.blockedFor(keys)
      if (retryAfterMs > 0) {
        throw new ApiError(
          429,
          'TOO_MANY_FAILURES',
          'too many failed authentications; retry later',
          {
            'Retry-After': String(Math.ceil(retryAfterMs / 1000)),
          },
        )
      }
      const access = await options.vault.verifyAccessToken(token, options.urls.resource)
      if (isOAuthRefusal(access)) {
        if (access.error_description === 'unknown access token') options.limiter.fail(keys)
        throw new ApiError(401, 'UNAUTHORIZED', access.error_description, {
          'WWW-Authenticate': challenge(access.error_description),
        })
      }
      connections.set(c.req.raw, doorFor(access))
      return next()
    }
    try {
      await options.bearer(c, next)
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        throw new ApiError(401, error.code, error.message, { 'WWW-Authenticate': challenge() })
      }
      throw error
    }
  }

  return { middleware, connectionOf: (c) => connections.get(c.req.raw) }
}
