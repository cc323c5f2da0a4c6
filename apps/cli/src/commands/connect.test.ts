/**
 * `keywarden connect approve` and `keywarden connections`, as a real process against the real
 * PostgreSQL server: the edge plugin's side of the flow is played with the core's OAuth
 * operations (the same the plugin calls), the owner's side with the CLI. Needs the built CLI.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createOAuthVault,
  createVaultClient,
  isOAuthRefusal,
  type OAuthVault,
  pkceChallenge,
  type VaultClient,
} from '../../../../packages/core/src/index.ts'
import {
  createPostgresTestDatabase,
  type PostgresTestDatabase,
} from '../../../../packages/core/src/testing/databases.ts'
import { runCli } from '../testing/run-cli.ts'

const REDIRECT = 'https://chatgpt.com/connector_platform_oauth_redirect'
const RESOURCE = 'https://vault.example/functions/v1/chatgpt-plugin/mcp'

describe('keywarden connect / connections (postgres)', () => {
  let database: PostgresTestDatabase
  let env: Record<string, string>
  let edge: VaultClient
  let oauth: OAuthVault

  beforeAll(async () => {
    database = await createPostgresTestDatabase()
    env = { KEYWARDEN_DATABASE_URL: database.url, KEYWARDEN_ROOT_KEY: database.rootKey }
    edge = createVaultClient({ env, accessedBy: 'chatgpt-plugin' })
    oauth = createOAuthVault(edge)
  })

  afterAll(async () => {
    await edge?.close()
    await database?.drop()
  })

  const kw = (args: string[]) => runCli(args, { env })

  /** What the edge does at /authorize: a pending request, and its CSRF token. */
  const pendingRequest = async (name: string) => {
    const client = await oauth.registerClient({ clientName: name, redirectUris: [REDIRECT] })
    if (isOAuthRefusal(client)) throw new Error(client.error_description)
    const csrfToken = `csrf-${name}`
    const request = await oauth.beginAuthorization({
      clientId: client.client_id,
      redirectUri: REDIRECT,
      responseType: 'code',
      scopes: ['secrets:metadata', 'secrets:use'],
      resource: RESOURCE,
      expectedResource: RESOURCE,
      codeChallenge: await pkceChallenge('v'.repeat(43)),
      codeChallengeMethod: 'S256',
      state: undefined,
      csrfToken,
    })
    if (isOAuthRefusal(request)) throw new Error(request.error_description)
    return { request, csrfToken }
  }

  it('lists pending requests, prints a one-time code that approves, lists and revokes the connection', async () => {
    const { request, csrfToken } = await pendingRequest('ChatGPT')
    const listed = await kw(['connect', 'approve'])
    expect(listed.code).toBe(0)
    expect(listed.stdout).toContain(request.request_id)
    expect(listed.stdout).toContain('chatgpt.com')
    expect(listed.stdout).toContain('secrets:metadata secrets:use')

    const issued = await kw(['connect', 'approve', request.request_id.toLowerCase(), '--json'])
    expect(issued.code).toBe(0)
    const { owner_code: ownerCode } = JSON.parse(issued.stdout) as { owner_code: string }
    expect(ownerCode).toMatch(/^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$/)

    // A second run replaces the code: the first no longer approves.
    const reissued = await kw(['connect', 'approve', request.request_id])
    const fresh = /Owner code: (\S+)/.exec(reissued.stdout)?.[1] ?? ''
    expect(fresh).not.toBe(ownerCode)
    const decide = (code: string) =>
      oauth.decide({
        requestId: request.request_id,
        csrfToken,
        approve: true,
        ownerCode: code,
        scopes: ['secrets:use'],
        code: `code-${code}`,
      })
    expect(await decide(ownerCode)).toMatchObject({ error: 'wrong_owner_code' })
    const approved = await decide(fresh)
    expect(approved).toHaveProperty('grant_id')
    const grantId = (approved as { grant_id: string }).grant_id

    const connections = await kw(['connections', '--json'])
    const parsed = JSON.parse(connections.stdout) as { connections: Array<Record<string, unknown>> }
    expect(parsed.connections).toEqual([
      expect.objectContaining({
        id: grantId,
        client_name: 'ChatGPT',
        door: 'oauth:chatgpt',
        scopes: ['secrets:use'],
        last_used_at: null,
      }),
    ])
    expect((await kw(['connections'])).stdout).toContain('oauth:chatgpt')

    const revoked = await kw(['connections', '--revoke', grantId])
    expect(revoked).toMatchObject({ code: 0, stdout: `Revoked connection ${grantId}.\n` })
    expect((await kw(['connections', '--revoke', grantId])).code).toBe(3)
    expect((await kw(['connections'])).stdout).toBe('No connections.\n')
    expect((await kw(['connections', '--all'])).stdout).toContain(grantId)

    const audit = await database.asAdmin<{ accessed_by: string; access_type: string }>(
      `SELECT accessed_by, access_type FROM public.secret_access_log
        WHERE access_type LIKE 'oauth%' ORDER BY id`,
    )
    expect(audit.map((row) => `${row.accessed_by} ${row.access_type}`)).toEqual([
      'oauth:chatgpt oauth_register',
      'oauth:chatgpt oauth_request',
      'cli oauth_owner_code',
      'cli oauth_owner_code',
      'oauth:chatgpt oauth_refused',
      'oauth:chatgpt oauth_approve',
      'cli oauth_revoke',
    ])
    // The code was printed, never stored or audited.
    expect(JSON.stringify(audit)).not.toContain(fresh)
  })

  it('refuses an unknown or malformed request id', async () => {
    const unknown = await kw(['connect', 'approve', 'ZZZZZZZZ'])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain('no authorization request ZZZZZZZZ is waiting')
    expect((await kw(['connect', 'approve', 'not-an-id'])).code).toBe(2)
    expect((await kw(['connect'])).code).toBe(2)
    expect((await kw(['connections', '--revoke', 'nope'])).code).toBe(2)
  })
})
