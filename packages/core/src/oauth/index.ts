/**
 * OAuth 2.1 state for remote MCP clients (ChatGPT apps, Claude.ai connectors), written once for
 * the edge plugin's endpoints and the CLI's `connect` / `connections`.
 *
 * The state lives in the vault's database behind `public.oauth_call` (migration 14): clients,
 * pending authorization requests, connections (grants), authorization codes, access and
 * refresh tokens. Every token, code, owner code and CSRF token crosses to the database only as
 * its SHA-256 ({@link sha256Hex}), so no table, statement log or audit row holds one. Refusals
 * come back as {@link OAuthRefusal} answers that the database already audited.
 *
 * Runtime-neutral: Web Crypto only (`crypto.getRandomValues`, `crypto.subtle.digest`).
 * @module
 */
import type { VaultClient } from '../client/index.ts'
import { KeywardenError } from '../errors/index.ts'
import type { DoorRights } from '../policy/index.ts'

/** The scopes a connection may be granted, in the order the consent page lists them. */
export const OAUTH_SCOPES = ['secrets:metadata', 'secrets:use', 'secrets:write'] as const

/** One of {@link OAUTH_SCOPES}. */
export type OAuthScope = (typeof OAUTH_SCOPES)[number]

/** What each scope allows, in the consent page's and the docs' words. */
export const OAUTH_SCOPE_DESCRIPTIONS: Readonly<Record<OAuthScope, string>> = {
  'secrets:metadata':
    'list secrets and read their metadata, expiry, metrics, alerts and audit trail (never values)',
  'secrets:use':
    "use secrets without seeing them (send to a secret's allowed hosts, inject into its allowed commands) and reveal the ones you marked agent-visible",
  'secrets:write': 'store new secrets and change, rotate or delete existing ones',
}

/** Whether `scope` is one of {@link OAUTH_SCOPES}. */
export function isOAuthScope(scope: string): scope is OAuthScope {
  return (OAUTH_SCOPES as readonly string[]).includes(scope)
}

/**
 * The most a connection with `scopes` may do at its door: the ceiling the door policy's rights
 * are capped by (`restrictToDoor({ ceiling })`). `secrets:metadata` reads metadata;
 * `secrets:use` uses toward allowed hosts and commands and reveals agent-visible secrets;
 * `secrets:write` writes and creates.
 */
export function rightsForScopes(scopes: readonly string[]): DoorRights {
  const use = scopes.includes('secrets:use')
  const write = scopes.includes('secrets:write')
  return {
    canReadMetadata: scopes.includes('secrets:metadata'),
    canUseHosts: use,
    canUseCommands: use,
    canReveal: use,
    canWrite: write,
    canCreate: write,
  }
}

/** The prefixes of what the authorization server hands out; an access token is told by its own. */
export const TOKEN_PREFIXES = {
  access: 'kwat_',
  refresh: 'kwrt_',
  code: 'kwac_',
  csrf: 'kwcsrf_',
} as const

/** A new random token: `prefix` and 32 random bytes in base64url (256 bits). */
export function randomToken(prefix: string): string {
  const bytes = new Uint8Array(32)
  crypto.getRandomValues(bytes)
  return prefix + base64Url(bytes)
}

/** The alphabet of owner codes: no 0/O or 1/I/L to mistake for each other. */
const OWNER_CODE_ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789'

/**
 * A new one-time owner code, `XXXX-XXXX-XXXX` (12 characters of a 31-letter alphabet, ≈59
 * bits): typed by a person from the CLI into the consent page, which allows 5 attempts.
 */
export function newOwnerCode(): string {
  const letters: string[] = []
  const bytes = new Uint8Array(16)
  while (letters.length < 12) {
    crypto.getRandomValues(bytes)
    // 248 = 8 × 31: bytes above it are dropped, so every letter is equally likely.
    for (const byte of bytes) {
      if (byte < 248 && letters.length < 12) letters.push(OWNER_CODE_ALPHABET[byte % 31] ?? 'A')
    }
  }
  return [letters.slice(0, 4), letters.slice(4, 8), letters.slice(8)]
    .map((group) => group.join(''))
    .join('-')
}

/** An owner code as typed (any case, spaces or dashes anywhere) in its canonical form. */
export function normalizeOwnerCode(typed: string): string {
  const letters = typed.toUpperCase().replace(/[\s-]/g, '')
  return letters.length === 12
    ? `${letters.slice(0, 4)}-${letters.slice(4, 8)}-${letters.slice(8)}`
    : letters
}

/** SHA-256 of `text`'s UTF-8, in lower-case hex: the only form a token reaches the database in. */
export async function sha256Hex(text: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)),
  )
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, '0')).join('')
}

/** The PKCE S256 challenge of a code verifier (RFC 7636 §4.2). */
export async function pkceChallenge(verifier: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier))
  return base64Url(new Uint8Array(digest))
}

function base64Url(bytes: Uint8Array): string {
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

/** A refusal, as OAuth names it (`invalid_grant`, …); the database audited it already. */
export interface OAuthRefusal {
  error: string
  error_description: string
}

/** A registered client. */
export interface OAuthClient {
  client_id: string
  client_name: string
  /** `oauth:<client name>`, unique: the door its calls go through and its audit accessor. */
  door: string
  redirect_uris: string[]
  created_at: string
}

/** An authorization request waiting for the owner. */
export interface OAuthRequest {
  request_id: string
  client_id: string
  client_name: string
  door: string
  redirect_uri: string
  scopes: string[]
  resource: string
  status: 'pending' | 'approved' | 'denied' | 'failed'
  owner_code_issued: boolean
  created_at: string
  expires_at: string
}

/** What the consent form's decision led to. */
export type OAuthDecision =
  | { denied: true; redirect_uri: string; state: string | null }
  | { denied?: undefined; redirect_uri: string; state: string | null; grant_id: string }
  | (OAuthRequest & OAuthRefusal & { error: 'wrong_owner_code'; attempts_left: number })
  | OAuthRefusal

/** What a token endpoint answers (without the tokens, which the caller made). */
export interface OAuthTokenGrant {
  token_type: 'Bearer'
  expires_in: number
  scope: string
  grant_id: string
}

/** Who a live access token speaks for. */
export interface OAuthAccess {
  grant_id: string
  client_id: string
  client_name: string
  door: string
  scopes: string[]
}

/** A connection, as `keywarden connections` lists it. */
export interface OAuthConnection {
  id: string
  client_id: string
  client_name: string
  door: string
  scopes: string[]
  resource: string
  created_at: string
  last_used_at: string | null
  revoked_at: string | null
  revoked_reason: string | null
}

/** Whether an answer is a refusal. */
export function isOAuthRefusal(answer: unknown): answer is OAuthRefusal {
  return typeof answer === 'object' && answer !== null && 'error' in answer
}

/** Token lifetimes, in seconds. */
export interface TokenLifetimes {
  /** Default 3600: an hour. */
  accessTtlSeconds?: number
  /** Default 30 days. */
  refreshTtlSeconds?: number
}

/** The typed operations over {@link VaultClient.oauthCall}; see {@link createOAuthVault}. */
export interface OAuthVault {
  registerClient(input: {
    clientName: string
    redirectUris: string[]
  }): Promise<OAuthClient | OAuthRefusal>
  getClient(clientId: string): Promise<OAuthClient | OAuthRefusal>
  beginAuthorization(input: {
    clientId: string
    redirectUri: string
    responseType: string | undefined
    scopes: string[]
    /** What the client asked for (RFC 8707). */
    resource: string
    /** This server's MCP endpoint: the only resource granted. */
    expectedResource: string
    codeChallenge: string | undefined
    codeChallengeMethod: string | undefined
    state: string | undefined
    csrfToken: string
  }): Promise<OAuthRequest | OAuthRefusal>
  pendingRequests(): Promise<OAuthRequest[]>
  /** Issues a new owner code for the request; the code is returned once and never stored. */
  issueOwnerCode(requestId: string): Promise<{ request: OAuthRequest; ownerCode: string } | null>
  /** The consent form's decision; `code` is the authorization code to store on approval. */
  decide(input: {
    requestId: string
    csrfToken: string
    approve: boolean
    ownerCode: string
    scopes: string[]
    code: string
  }): Promise<OAuthDecision>
  exchangeCode(
    input: {
      clientId: string
      code: string
      codeVerifier: string
      redirectUri: string | undefined
      resource: string | undefined
      accessToken: string
      refreshToken: string
    } & TokenLifetimes,
  ): Promise<OAuthTokenGrant | OAuthRefusal>
  refresh(
    input: {
      clientId: string
      refreshToken: string
      resource: string | undefined
      accessToken: string
      nextRefreshToken: string
    } & TokenLifetimes,
  ): Promise<OAuthTokenGrant | OAuthRefusal>
  verifyAccessToken(token: string, resource: string): Promise<OAuthAccess | OAuthRefusal>
  revokeToken(token: string, clientId: string): Promise<boolean>
  listConnections(): Promise<OAuthConnection[]>
  revokeConnection(id: string): Promise<boolean>
}

/**
 * The OAuth operations over `client` (its store's `public.oauth_call`). Owner codes are issued
 * and connections revoked under the client's `accessedBy`.
 */
export function createOAuthVault(client: VaultClient): OAuthVault {
  const call = async <T>(operation: string, args: Record<string, unknown> = {}): Promise<T> =>
    (await client.oauthCall(operation, args)) as T
  const lifetimes = (input: TokenLifetimes) => ({
    ...(input.accessTtlSeconds !== undefined ? { access_ttl_seconds: input.accessTtlSeconds } : {}),
    ...(input.refreshTtlSeconds !== undefined
      ? { refresh_ttl_seconds: input.refreshTtlSeconds }
      : {}),
  })

  return {
    registerClient: ({ clientName, redirectUris }) =>
      call('register_client', { client_name: clientName, redirect_uris: redirectUris }),
    getClient: (clientId) => call('get_client', { client_id: clientId }),
    async beginAuthorization(input) {
      return call('begin_authorization', {
        client_id: input.clientId,
        redirect_uri: input.redirectUri,
        response_type: input.responseType ?? null,
        scopes: input.scopes,
        resource: input.resource,
        expected_resource: input.expectedResource,
        code_challenge: input.codeChallenge ?? null,
        code_challenge_method: input.codeChallengeMethod ?? null,
        ...(input.state !== undefined ? { state: input.state } : {}),
        csrf_hash: await sha256Hex(input.csrfToken),
      })
    },
    pendingRequests: () => call('pending_requests'),
    async issueOwnerCode(requestId) {
      const ownerCode = newOwnerCode()
      const answer = await call<OAuthRequest | OAuthRefusal>('issue_owner_code', {
        request_id: requestId,
        owner_code_hash: await sha256Hex(ownerCode),
        accessed_by: client.accessedBy,
      })
      return isOAuthRefusal(answer) ? null : { request: answer, ownerCode }
    },
    async decide(input) {
      return call('decide', {
        request_id: input.requestId,
        csrf_hash: await sha256Hex(input.csrfToken),
        approve: input.approve,
        owner_code_hash: await sha256Hex(normalizeOwnerCode(input.ownerCode)),
        scopes: input.scopes,
        code_hash: await sha256Hex(input.code),
      })
    },
    async exchangeCode(input) {
      return call('exchange_code', {
        client_id: input.clientId,
        code_hash: await sha256Hex(input.code),
        pkce_challenge: await pkceChallenge(input.codeVerifier),
        ...(input.redirectUri !== undefined ? { redirect_uri: input.redirectUri } : {}),
        ...(input.resource !== undefined ? { resource: input.resource } : {}),
        access_hash: await sha256Hex(input.accessToken),
        refresh_hash: await sha256Hex(input.refreshToken),
        ...lifetimes(input),
      })
    },
    async refresh(input) {
      return call('refresh', {
        client_id: input.clientId,
        refresh_hash: await sha256Hex(input.refreshToken),
        ...(input.resource !== undefined ? { resource: input.resource } : {}),
        access_hash: await sha256Hex(input.accessToken),
        next_refresh_hash: await sha256Hex(input.nextRefreshToken),
        ...lifetimes(input),
      })
    },
    async verifyAccessToken(token, resource) {
      return call('verify_access_token', { access_hash: await sha256Hex(token), resource })
    },
    async revokeToken(token, clientId) {
      const answer = await call<{ revoked: boolean }>('revoke_token', {
        token_hash: await sha256Hex(token),
        client_id: clientId,
      })
      return answer.revoked === true
    },
    listConnections: () => call('list_connections'),
    async revokeConnection(id) {
      if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) {
        throw new KeywardenError(
          'INVALID_ARGUMENT',
          'use a connection id as keywarden connections lists it',
        )
      }
      const answer = await call<{ revoked: boolean }>('revoke_connection', {
        connection_id: id,
        accessed_by: client.accessedBy,
      })
      return answer.revoked === true
    },
  }
}
