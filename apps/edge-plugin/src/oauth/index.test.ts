/**
 * The edge plugin as a remote MCP server behind OAuth 2.1, end to end over a real socket:
 * - the MCP TypeScript SDK's own OAuth client (`StreamableHTTPClientTransport` with an
 *   `OAuthClientProvider`; the provider below only stores what the SDK hands it) discovers,
 *   registers, authorizes, exchanges, lists and calls tools, refreshes, and is revoked;
 * - the owner approves on the consent page in real headless Chromium, with the one-time code
 *   the CLI's operation issues;
 * - the attacks, each refused and audited: wrong or extra redirect URI, PKCE mismatch, code
 *   reuse, expired code, refresh reuse, expired token, a token for another resource, a scope
 *   the tool needs but the connection lacks, a revoked connection, approval without the
 *   owner's code, and a consent form posted without its CSRF cookie.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type {
  OAuthClientInformationMixed,
  OAuthClientMetadata,
  OAuthTokens,
} from '@modelcontextprotocol/sdk/shared/auth.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createOAuthVault,
  createVaultClient,
  pkceChallenge,
  type VaultClient,
} from '../../../../packages/core/src/index.ts'
import {
  chromiumAvailable,
  launchChromium,
  type TestBrowser,
} from '../../../../packages/core/src/testing/chromium.ts'
import { type EdgePluginServer, serveEdgePlugin } from '../node/index.ts'
import { createTestVault, type TestVault, testTokens } from '../testing/index.ts'

const VERIFIER = 'e2e-verifier-with-at-least-43-characters-0123456789'

/** A free port on the loopback interface, so the public URL is known before the app exists. */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** The client's redirect target: records the query it was sent to. */
async function callbackServer(): Promise<{ url: string; hits: URL[]; close(): Promise<void> }> {
  const hits: URL[] = []
  const server: Server = createServer((request, response) => {
    hits.push(new URL(request.url ?? '/', 'http://127.0.0.1'))
    response.writeHead(200, { 'content-type': 'text/plain' }).end('you can close this window')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/callback`,
    hits,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

/**
 * Test glue for the SDK: keeps what `auth()` asks it to keep, and remembers where it was told
 * to send the browser. All protocol logic is the SDK's.
 */
class MemoryProvider implements OAuthClientProvider {
  information: OAuthClientInformationMixed | undefined
  saved: OAuthTokens | undefined
  verifier = ''
  authorizationUrl: URL | undefined
  constructor(
    readonly redirectUrl: string,
    readonly clientMetadata: OAuthClientMetadata,
  ) {}
  clientInformation() {
    return this.information
  }
  saveClientInformation(information: OAuthClientInformationMixed) {
    this.information = information
  }
  tokens() {
    return this.saved
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url
  }
  saveCodeVerifier(verifier: string) {
    this.verifier = verifier
  }
  codeVerifier() {
    return this.verifier
  }
}

let vault: TestVault
let server: EdgePluginServer
let callback: Awaited<ReturnType<typeof callbackServer>>
let owner: VaultClient
let browser: TestBrowser | undefined
const tokens = testTokens()

beforeAll(async () => {
  vault = await createTestVault({ secrets: { plugin_bearer_token: tokens.bearer } })
  await vault.client.storeSecret('demo_api_key', 'sk-demo-value-never-shown', {
    description: 'a demo key',
  })
  const port = await freePort()
  server = await serveEdgePlugin({
    client: vault.client,
    port,
    config: {
      publicUrl: `http://127.0.0.1:${port}/chatgpt-plugin`,
      metadataCacheMs: 0,
      // Generous: this suite makes many deliberate failures from one address.
      maxAuthFailures: 1000,
    },
  })
  callback = await callbackServer()
  // The CLI's side: the same core operations `keywarden connect approve` runs.
  owner = createVaultClient({ env: vault.env, accessedBy: 'cli' })
  if (chromiumAvailable()) browser = await launchChromium()
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await owner?.close()
  await callback?.close()
  await server?.close()
  await vault?.cleanup()
})

const mcpUrl = () => `${server.url}/mcp`

/** Audit rows written since `id`, as the owner sees them. */
async function auditSince(id: number) {
  return vault.database.asAdmin<{
    accessed_by: string
    access_type: string
    success: boolean
    error_message: string | null
  }>(
    // Cache hits of the plugin's own bearer token are the buffered noise of every request.
    `SELECT accessed_by, access_type, success, error_message FROM public.secret_access_log
      WHERE id > $1 AND access_type <> 'cache_hit' ORDER BY id`,
    [id],
  )
}
async function lastAuditId(): Promise<number> {
  const [row] = await vault.database.asAdmin<{ id: string }>(
    'SELECT coalesce(max(id), 0)::text AS id FROM public.secret_access_log',
  )
  return Number(row?.id)
}

/** The owner runs `keywarden connect approve <id>`: a fresh one-time code for the request. */
async function ownerCodeFor(requestId: string): Promise<string> {
  const issued = await createOAuthVault(owner).issueOwnerCode(requestId)
  if (!issued) throw new Error(`no pending request ${requestId}`)
  return issued.ownerCode
}

describe('the MCP SDK client through discovery, consent in Chromium, tokens and revocation', () => {
  it('connects, lists and calls tools, refreshes, and is refused once revoked', async () => {
    if (!browser) {
      console.warn('Chromium is not installed here: the consent page is not driven')
      return
    }
    const provider = new MemoryProvider(callback.url, {
      client_name: 'SDK E2E',
      redirect_uris: [callback.url],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    })
    const start = await lastAuditId()

    // 1. Unauthenticated: the SDK follows the 401's resource_metadata, discovers, registers
    // and sends the browser to /authorize.
    const first = new StreamableHTTPClientTransport(new URL(mcpUrl()), { authProvider: provider })
    await expect(new Client({ name: 'sdk-e2e', version: '1.0.0' }).connect(first)).rejects.toThrow(
      /Unauthorized/,
    )
    expect(provider.information?.client_id).toMatch(/^kwc_/)
    const authorizationUrl = provider.authorizationUrl
    expect(authorizationUrl?.searchParams.get('code_challenge_method')).toBe('S256')
    expect(authorizationUrl?.searchParams.get('resource')).toBe(mcpUrl())

    // 2. The owner approves in a real browser with the code from the CLI.
    const page = await browser.context.newPage()
    const response = await page.goto(String(authorizationUrl))
    const headers = response?.headers() ?? {}
    expect(headers['content-security-policy']).toContain("frame-ancestors 'none'")
    expect(headers['content-security-policy']).toContain("default-src 'none'")
    expect(headers['x-frame-options']).toBe('DENY')
    expect(await page.textContent('#client-name')).toBe('SDK E2E')
    expect(await page.textContent('#redirect-host')).toBe(new URL(callback.url).host)
    const command = (await page.textContent('#approve-command')) ?? ''
    const requestId = command.split(' ').pop() ?? ''
    expect(requestId).toMatch(/^[A-Z2-9]{8}$/)
    // Without the code first: refused, on record, and the page says so.
    await page.click('button[value=approve]')
    expect(await page.textContent('[role=alert]')).toContain('no owner code was issued')
    await page.fill('input[name=owner_code]', (await ownerCodeFor(requestId)).toLowerCase())
    await page.click('button[value=approve]')
    await page.waitForURL(/\/callback\?/)
    await page.close()
    // (Chromium also asks the callback's host for a favicon.)
    const redirected = callback.hits.find((hit) => hit.pathname === '/callback')
    const code = redirected?.searchParams.get('code') ?? ''
    expect(code).toMatch(/^kwac_/)
    expect(redirected?.searchParams.get('iss')).toBe(server.url)

    // 3. The SDK exchanges the code, then works as an MCP client.
    await first.finishAuth(code)
    expect(provider.saved?.access_token).toMatch(/^kwat_/)
    const mcp = new Client({ name: 'sdk-e2e', version: '1.0.0' })
    await mcp.connect(
      new StreamableHTTPClientTransport(new URL(mcpUrl()), { authProvider: provider }),
    )
    const tools = await mcp.listTools()
    expect(tools.tools.map((tool) => tool.name)).toContain('list_secrets')
    const listed = await mcp.callTool({ name: 'list_secrets', arguments: {} })
    expect(JSON.stringify(listed.structuredContent)).toContain('demo_api_key')
    expect(JSON.stringify(listed)).not.toContain('sk-demo-value-never-shown')

    // 4. The access token expires: the SDK refreshes (rotating the refresh token) and goes on.
    const before = provider.saved
    await vault.database.asAdmin(
      "UPDATE keywarden.oauth_tokens SET expires_at = now() - interval '1 second' WHERE kind = 'access'",
    )
    const again = new Client({ name: 'sdk-e2e', version: '1.0.0' })
    await again.connect(
      new StreamableHTTPClientTransport(new URL(mcpUrl()), { authProvider: provider }),
    )
    expect((await again.listTools()).tools.length).toBeGreaterThan(0)
    expect(provider.saved?.refresh_token).not.toBe(before?.refresh_token)
    expect(provider.saved?.access_token).not.toBe(before?.access_token)

    // 5. The owner revokes the connection: the next call is refused and cannot refresh.
    const connections = await createOAuthVault(owner).listConnections()
    const mine = connections.find((connection) => connection.client_name === 'SDK E2E')
    expect(mine?.last_used_at).not.toBeNull()
    expect(await createOAuthVault(owner).revokeConnection(mine?.id ?? '')).toBe(true)
    const revoked = new Client({ name: 'sdk-e2e', version: '1.0.0' })
    await expect(
      revoked.connect(
        new StreamableHTTPClientTransport(new URL(mcpUrl()), { authProvider: provider }),
      ),
    ).rejects.toThrow()

    const audit = await auditSince(start)
    const door = mine?.door ?? ''
    expect(door).toBe('oauth:sdk-e2e')
    const steps = audit.map((row) => `${row.accessed_by} ${row.access_type}`)
    for (const step of [
      `${door} oauth_register`,
      `${door} oauth_request`,
      `${door} oauth_refused`,
      `cli oauth_owner_code`,
      `${door} oauth_approve`,
      `${door} oauth_token`,
      `${door} list`,
      `${door} oauth_refresh`,
      `cli oauth_revoke`,
    ]) {
      expect(steps).toContain(step)
    }
    expect(audit.some((row) => row.error_message?.includes('the connection was revoked'))).toBe(
      true,
    )
    // No token or code in the audit log.
    const text = JSON.stringify(audit)
    for (const secret of [
      code,
      before?.access_token,
      before?.refresh_token,
      provider.saved?.refresh_token,
    ]) {
      expect(text).not.toContain(secret)
    }
  }, 120_000)
})

/** A registered client and a way to get codes approved without a browser (a plain form post). */
async function registeredClient(name: string) {
  const registration = await fetch(`${server.url}/oauth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: name, redirect_uris: [callback.url] }),
  })
  expect(registration.status).toBe(201)
  const client = (await registration.json()) as {
    client_id: string
    token_endpoint_auth_method: string
  }
  expect(client.token_endpoint_auth_method).toBe('none')
  return client.client_id
}

function authorizeUrl(clientId: string, overrides: Record<string, string> = {}) {
  return async () => {
    const url = new URL(`${server.url}/oauth/authorize`)
    const params = {
      response_type: 'code',
      client_id: clientId,
      redirect_uri: callback.url,
      scope: 'secrets:metadata secrets:use',
      state: 'st4te',
      code_challenge: await pkceChallenge(VERIFIER),
      code_challenge_method: 'S256',
      resource: mcpUrl(),
      ...overrides,
    }
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value)
    return url
  }
}

/** The consent page's form, read as a browser would get it (its cookie included). */
async function openConsent(url: URL) {
  const page = await fetch(url, { redirect: 'manual' })
  const body = await page.text()
  const field = (name: string) => new RegExp(`name="${name}" value="([^"]+)"`).exec(body)?.[1] ?? ''
  return {
    status: page.status,
    location: page.headers.get('location'),
    body,
    cookie: (page.headers.get('set-cookie') ?? '').split(';')[0] ?? '',
    requestId: field('request_id'),
    csrf: field('csrf_token'),
  }
}

async function postConsent(
  consent: Awaited<ReturnType<typeof openConsent>>,
  fields: Record<string, string | string[]>,
  cookie = consent.cookie,
) {
  const form = new URLSearchParams({ request_id: consent.requestId, csrf_token: consent.csrf })
  for (const [key, value] of Object.entries(fields)) {
    for (const one of ([] as string[]).concat(value)) form.append(key, one)
  }
  return fetch(`${server.url}/oauth/consent`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
    body: form,
    redirect: 'manual',
  })
}

/** A code the owner approved for `clientId` with `scopes`. */
async function approvedCode(clientId: string, scopes = ['secrets:metadata', 'secrets:use']) {
  const consent = await openConsent(await authorizeUrl(clientId, { scope: scopes.join(' ') })())
  expect(consent.status).toBe(200)
  const answer = await postConsent(consent, {
    decision: 'approve',
    owner_code: await ownerCodeFor(consent.requestId),
    scope: scopes,
  })
  expect(answer.status).toBe(303)
  const location = new URL(answer.headers.get('location') ?? '')
  expect(location.searchParams.get('state')).toBe('st4te')
  return location.searchParams.get('code') ?? ''
}

async function tokenRequest(fields: Record<string, string>) {
  const response = await fetch(`${server.url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields),
  })
  return {
    status: response.status,
    cacheControl: response.headers.get('cache-control'),
    body: (await response.json()) as Record<string, string>,
  }
}

const exchange = (clientId: string, code: string, overrides: Record<string, string> = {}) =>
  tokenRequest({
    grant_type: 'authorization_code',
    client_id: clientId,
    code,
    code_verifier: VERIFIER,
    redirect_uri: callback.url,
    resource: mcpUrl(),
    ...overrides,
  })

/** A raw MCP call with a bearer token. */
async function mcpCall(token: string, method: string, params: Record<string, unknown> = {}) {
  return fetch(mcpUrl(), {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  })
}

describe('discovery and the static bearer beside OAuth', () => {
  it('serves protected resource and authorization server metadata where clients look', async () => {
    for (const path of [
      '/.well-known/oauth-protected-resource',
      '/.well-known/oauth-protected-resource/mcp',
    ]) {
      const document = (await (await fetch(`${server.url}${path}`)).json()) as Record<
        string,
        unknown
      >
      expect(document).toMatchObject({ resource: mcpUrl(), authorization_servers: [server.url] })
    }
    for (const path of [
      '/.well-known/oauth-authorization-server',
      '/.well-known/openid-configuration',
    ]) {
      const document = (await (await fetch(`${server.url}${path}`)).json()) as Record<
        string,
        unknown
      >
      expect(document).toMatchObject({
        issuer: server.url,
        code_challenge_methods_supported: ['S256'],
        token_endpoint: `${server.url}/oauth/token`,
      })
    }
    const unauthenticated = await fetch(mcpUrl(), { method: 'POST', body: '{}' })
    expect(unauthenticated.status).toBe(401)
    expect(unauthenticated.headers.get('www-authenticate')).toBe(
      `Bearer resource_metadata="${server.url}/.well-known/oauth-protected-resource/mcp"`,
    )
  })

  it('registers public clients only, with safe redirect URIs', async () => {
    const register = (body: unknown) =>
      fetch(`${server.url}/oauth/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
    for (const uri of ['http://evil.example/cb', 'javascript:alert(1)', 'https://a.example/#x']) {
      const refused = await register({ client_name: 'Bad', redirect_uris: [uri] })
      expect(refused.status).toBe(400)
      expect(await refused.json()).toMatchObject({ error: 'invalid_redirect_uri' })
    }
    const confidential = await register({
      client_name: 'Wants a secret',
      redirect_uris: ['https://a.example/cb'],
      token_endpoint_auth_method: 'client_secret_basic',
    })
    expect(confidential.status).toBe(201)
    const body = (await confidential.json()) as Record<string, unknown>
    expect(body.token_endpoint_auth_method).toBe('none')
    expect(body).not.toHaveProperty('client_secret')
  })

  it('keeps the static bearer working on /mcp', async () => {
    const response = await mcpCall(tokens.bearer, 'tools/list')
    expect(response.status).toBe(200)
    const wrong = await mcpCall('not-the-token', 'tools/list')
    expect(wrong.status).toBe(401)
    expect(wrong.headers.get('www-authenticate')).toContain('resource_metadata=')
  })
})

describe('refused and audited', () => {
  it('a wrong or extra redirect URI: shown on a page, never redirected to', async () => {
    const clientId = await registeredClient('Redirects')
    const start = await lastAuditId()
    for (const redirect of [`${callback.url}/extra`, 'https://evil.example/callback']) {
      const consent = await openConsent(await authorizeUrl(clientId, { redirect_uri: redirect })())
      expect(consent.status).toBe(400)
      expect(consent.location).toBeNull()
      expect(consent.body).toContain('redirect_uri is not one the client registered')
    }
    const audit = await auditSince(start)
    expect(audit.map((row) => `${row.accessed_by} ${row.access_type} ${row.success}`)).toEqual([
      'oauth:redirects oauth_refused false',
      'oauth:redirects oauth_refused false',
    ])
  })

  it('a resource other than this /mcp, at /authorize and at /token', async () => {
    const clientId = await registeredClient('Resources')
    const start = await lastAuditId()
    const other = await openConsent(
      await authorizeUrl(clientId, { resource: 'https://elsewhere.example/mcp' })(),
    )
    expect(other.status).toBe(302)
    expect(new URL(other.location ?? '').searchParams.get('error')).toBe('invalid_target')
    const code = await approvedCode(clientId)
    const exchanged = await exchange(clientId, code, { resource: 'https://elsewhere.example/mcp' })
    expect(exchanged.body.error).toBe('invalid_target')
    const audit = await auditSince(start)
    expect(audit.filter((row) => row.access_type === 'oauth_refused')).toHaveLength(2)
  })

  it('a PKCE verifier mismatch, then the reuse of the spent code', async () => {
    const clientId = await registeredClient('Pkce')
    const code = await approvedCode(clientId)
    const start = await lastAuditId()
    const mismatch = await exchange(clientId, code, {
      code_verifier: 'another-verifier-with-at-least-43-characters-000000',
    })
    expect(mismatch).toMatchObject({ status: 400, body: { error: 'invalid_grant' } })
    expect(mismatch.cacheControl).toBe('no-store')
    const reused = await exchange(clientId, code)
    expect(reused.body.error).toBe('invalid_grant')
    const audit = await auditSince(start)
    expect(audit.map((row) => row.access_type)).toEqual([
      'oauth_refused',
      'oauth_code_reuse',
      'oauth_refused',
    ])
  })

  it('code reuse after a good exchange revokes the tokens it gave', async () => {
    const clientId = await registeredClient('Reuse')
    const code = await approvedCode(clientId)
    const good = await exchange(clientId, code)
    expect(good.status).toBe(200)
    expect((await mcpCall(good.body.access_token ?? '', 'tools/list')).status).toBe(200)
    expect((await exchange(clientId, code)).body.error).toBe('invalid_grant')
    const refused = await mcpCall(good.body.access_token ?? '', 'tools/list')
    expect(refused.status).toBe(401)
    expect(refused.headers.get('www-authenticate')).toContain('error="invalid_token"')
  })

  it('an expired code', async () => {
    const clientId = await registeredClient('Late')
    const code = await approvedCode(clientId)
    await vault.database.asAdmin(
      "UPDATE keywarden.oauth_codes SET expires_at = now() - interval '1 second' WHERE used_at IS NULL",
    )
    const start = await lastAuditId()
    expect((await exchange(clientId, code)).body).toMatchObject({
      error: 'invalid_grant',
      error_description: 'the authorization code expired',
    })
    expect((await auditSince(start)).map((row) => row.access_type)).toEqual(['oauth_refused'])
  })

  it('refresh reuse revokes the whole connection', async () => {
    const clientId = await registeredClient('Refresher')
    const first = await exchange(clientId, await approvedCode(clientId))
    const refresh = (token: string) =>
      tokenRequest({ grant_type: 'refresh_token', client_id: clientId, refresh_token: token })
    const second = await refresh(first.body.refresh_token ?? '')
    expect(second.status).toBe(200)
    expect(second.body.refresh_token).not.toBe(first.body.refresh_token)
    const start = await lastAuditId()
    expect((await refresh(first.body.refresh_token ?? '')).body.error).toBe('invalid_grant')
    expect((await mcpCall(second.body.access_token ?? '', 'tools/list')).status).toBe(401)
    expect((await refresh(second.body.refresh_token ?? '')).body.error).toBe('invalid_grant')
    const audit = await auditSince(start)
    expect(audit[0]).toMatchObject({
      accessed_by: 'oauth:refresher',
      access_type: 'oauth_refresh_reuse',
    })
  })

  it('an expired access token, answered with the challenge to refresh', async () => {
    const clientId = await registeredClient('Expiring')
    const issued = await exchange(clientId, await approvedCode(clientId))
    await vault.database.asAdmin(
      "UPDATE keywarden.oauth_tokens SET expires_at = now() - interval '1 second' WHERE kind = 'access'",
    )
    const start = await lastAuditId()
    const response = await mcpCall(issued.body.access_token ?? '', 'tools/list')
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toContain('the access token expired')
    expect(await auditSince(start)).toMatchObject([
      { accessed_by: 'oauth:expiring', access_type: 'oauth_refused', success: false },
    ])
  })

  it('a tool that needs a scope the connection was not granted', async () => {
    const clientId = await registeredClient('Reader')
    const issued = await exchange(clientId, await approvedCode(clientId, ['secrets:metadata']))
    expect(issued.body.scope).toBe('secrets:metadata')
    const start = await lastAuditId()
    const response = await mcpCall(issued.body.access_token ?? '', 'tools/call', {
      name: 'store_secret',
      arguments: { name: 'planted_by_reader', value: 'x-value-1234' },
    })
    const body = JSON.stringify(await response.json())
    expect(body).toContain('ACCESS_DENIED')
    expect(body).toContain('secrets:write')
    const denied = (await auditSince(start)).filter((row) => row.access_type === 'denied')
    expect(denied).toMatchObject([{ accessed_by: 'oauth:reader', success: false }])
    expect(denied[0]?.error_message).toContain('not granted the scope')
    const listed = await owner.listSecrets()
    expect(listed.map((secret) => secret.name)).not.toContain('planted_by_reader')
  })

  it('a revoked connection', async () => {
    const clientId = await registeredClient('Revoked')
    const issued = await exchange(clientId, await approvedCode(clientId))
    const revocation = await fetch(`${server.url}/oauth/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: issued.body.refresh_token ?? '', client_id: clientId }),
    })
    expect(revocation.status).toBe(200)
    const start = await lastAuditId()
    expect((await mcpCall(issued.body.access_token ?? '', 'tools/list')).status).toBe(401)
    expect(await auditSince(start)).toMatchObject([
      { accessed_by: 'oauth:revoked', access_type: 'oauth_refused', success: false },
    ])
  })

  it('approval without the owner code, with a wrong one, and a form without its cookie', async () => {
    const clientId = await registeredClient('Impostor')
    const consent = await openConsent(await authorizeUrl(clientId)())
    const start = await lastAuditId()
    const none = await postConsent(consent, {
      decision: 'approve',
      owner_code: '',
      scope: 'secrets:use',
    })
    expect(none.status).toBe(400)
    expect(none.headers.get('location')).toBeNull()
    await ownerCodeFor(consent.requestId)
    const wrong = await postConsent(consent, {
      decision: 'approve',
      owner_code: 'AAAA-BBBB-CCCC',
      scope: 'secrets:use',
    })
    expect(wrong.status).toBe(400)
    expect(await wrong.text()).toContain('attempts left')
    const noCookie = await postConsent(
      consent,
      { decision: 'approve', owner_code: 'AAAA-BBBB-CCCC', scope: 'secrets:use' },
      '',
    )
    expect(noCookie.status, await noCookie.clone().text()).toBe(403)
    const audit = await auditSince(start)
    expect(audit.map((row) => `${row.accessed_by} ${row.access_type} ${row.success}`)).toEqual([
      'oauth:impostor oauth_refused false',
      'cli oauth_owner_code true',
      'oauth:impostor oauth_refused false',
      'oauth:impostor oauth_refused false',
    ])
    expect(audit.filter((row) => row.access_type === 'oauth_refused')).toHaveLength(3)
    expect(audit.at(-1)?.error_message).toContain('CSRF token does not match')
  })

  it('a denial goes back to the client as access_denied', async () => {
    const clientId = await registeredClient('Denied')
    const consent = await openConsent(await authorizeUrl(clientId)())
    const denied = await postConsent(consent, { decision: 'deny' })
    expect(denied.status).toBe(303)
    const location = new URL(denied.headers.get('location') ?? '')
    expect(location.searchParams.get('error')).toBe('access_denied')
    expect(location.searchParams.get('state')).toBe('st4te')
  })
})
