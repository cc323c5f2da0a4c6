/**
 * Migration 14's contract: the OAuth authorization server's state behind public.oauth_call —
 * registration, pending requests approved with the owner's one-time code, single-use codes
 * bound to PKCE, redirect URI and resource, rotating refresh tokens with reuse detection, and an
 * audit row for every step — on the real PostgreSQL server, PGlite and the Supabase-like cluster.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { pkceChallenge, sha256Hex } from '../oauth/index.ts'
import { type SqlBackend, sqlBackends, sqlError } from '../testing/sql-backends.ts'

const REDIRECT = 'https://claude.ai/api/mcp/auth_callback'
const RESOURCE = 'https://vault.example/functions/v1/chatgpt-plugin/mcp'
const VERIFIER = 'a-verifier-of-at-least-43-characters-0123456789'
/** The rest of a valid authorization request. */
const FLOW = { response_type: 'code', code_challenge_method: 'S256', expected_resource: RESOURCE }

type Answer = Record<string, unknown>

let sequence = 0
/** A fresh distinct token-like text, for a test's codes and tokens. */
function token(kind: string): string {
  sequence += 1
  return `${kind}_${sequence}_${'x'.repeat(20)}`
}

describe.each(await sqlBackends())('OAuth state on $kind', ({ create }) => {
  let db: SqlBackend

  beforeAll(async () => {
    db = await create()
  })

  afterAll(async () => {
    await db?.close()
  })

  const call = async (operation: string, args: Answer = {}, role = 'service_role') => {
    const [row] = await db.query<{ answer: unknown }>(
      'SELECT public.oauth_call($1, $2::jsonb) AS answer',
      [operation, JSON.stringify(args)],
      { role },
    )
    return row?.answer as Answer
  }

  const auditSince = async (id: number) =>
    db.query<{ accessed_by: string; access_type: string; success: boolean; error_message: string }>(
      `SELECT accessed_by, access_type, success, error_message FROM public.secret_access_log
        WHERE id > $1 ORDER BY id`,
      [id],
      { role: 'owner' },
    )
  const lastAuditId = async () =>
    Number(
      (
        await db.query<{ id: string }>(
          'SELECT coalesce(max(id), 0)::text AS id FROM public.secret_access_log',
          [],
          { role: 'owner' },
        )
      )[0]?.id,
    )

  /** A registered client with a request the owner approved: its code is ready to exchange. */
  const approvedCode = async (name = 'Claude', scopes = ['secrets:metadata', 'secrets:use']) => {
    const client = await call('register_client', { client_name: name, redirect_uris: [REDIRECT] })
    const csrf = token('csrf')
    const request = await call('begin_authorization', {
      client_id: client.client_id,
      redirect_uri: REDIRECT,
      scopes,
      resource: RESOURCE,
      ...FLOW,
      code_challenge: await pkceChallenge(VERIFIER),
      state: 'client-state',
      csrf_hash: await sha256Hex(csrf),
    })
    const ownerCode = token('owner')
    await call('issue_owner_code', {
      request_id: request.request_id,
      owner_code_hash: await sha256Hex(ownerCode),
      accessed_by: 'cli',
    })
    const code = token('code')
    const decision = await call('decide', {
      request_id: request.request_id,
      csrf_hash: await sha256Hex(csrf),
      approve: true,
      owner_code_hash: await sha256Hex(ownerCode),
      scopes,
      code_hash: await sha256Hex(code),
    })
    expect(decision).toMatchObject({ redirect_uri: REDIRECT, state: 'client-state' })
    return { client, request, code, grantId: decision.grant_id as string }
  }

  const exchange = async (clientId: unknown, code: string, overrides: Answer = {}) => {
    const access = token('access')
    const refresh = token('refresh')
    const answer = await call('exchange_code', {
      client_id: clientId,
      code_hash: await sha256Hex(code),
      pkce_challenge: await pkceChallenge(VERIFIER),
      redirect_uri: REDIRECT,
      resource: RESOURCE,
      access_hash: await sha256Hex(access),
      refresh_hash: await sha256Hex(refresh),
      ...overrides,
    })
    return { answer, access, refresh }
  }

  const verify = async (access: string, resource = RESOURCE) =>
    call('verify_access_token', { access_hash: await sha256Hex(access), resource })

  it('runs the whole flow, auditing every step under the client door', async () => {
    const start = await lastAuditId()
    const { client, grantId, code } = await approvedCode('Claude Desktop')
    expect(client.door).toMatch(/^oauth:claude-desktop(-\d+)?$/)
    const { answer, access, refresh } = await exchange(client.client_id, code)
    expect(answer).toMatchObject({ token_type: 'Bearer', expires_in: 3600, grant_id: grantId })
    expect(answer.scope).toBe('secrets:metadata secrets:use')

    expect(await verify(access)).toMatchObject({
      grant_id: grantId,
      door: client.door,
      scopes: ['secrets:metadata', 'secrets:use'],
    })

    const nextAccess = token('access')
    const nextRefresh = token('refresh')
    const refreshed = await call('refresh', {
      client_id: client.client_id,
      refresh_hash: await sha256Hex(refresh),
      access_hash: await sha256Hex(nextAccess),
      next_refresh_hash: await sha256Hex(nextRefresh),
    })
    expect(refreshed).toMatchObject({ grant_id: grantId, token_type: 'Bearer' })
    expect(await verify(nextAccess)).toMatchObject({ grant_id: grantId })

    const connections = (await call('list_connections')) as unknown as Answer[]
    const mine = connections.find((connection) => connection.id === grantId)
    expect(mine).toMatchObject({ door: client.door, revoked_at: null })
    expect(mine?.last_used_at).not.toBeNull()

    expect(await call('revoke_connection', { connection_id: grantId, accessed_by: 'cli' })).toEqual(
      { revoked: true },
    )
    expect(await verify(nextAccess)).toMatchObject({ error: 'invalid_token' })

    const audit = await auditSince(start)
    expect(audit.map((row) => `${row.accessed_by} ${row.access_type} ${row.success}`)).toEqual([
      `${client.door} oauth_register true`,
      `${client.door} oauth_request true`,
      `cli oauth_owner_code true`,
      `${client.door} oauth_approve true`,
      `${client.door} oauth_token true`,
      `${client.door} oauth_refresh true`,
      `cli oauth_revoke true`,
      `${client.door} oauth_refused false`,
    ])
    // No token, code or hash of one ever reaches the audit log.
    const text = JSON.stringify(audit)
    for (const secret of [access, refresh, nextAccess, nextRefresh, code]) {
      expect(text).not.toContain(secret)
      expect(text).not.toContain(await sha256Hex(secret))
    }
  })

  it('gives clients of the same name doors of their own', async () => {
    const first = await call('register_client', { client_name: 'Twin', redirect_uris: [REDIRECT] })
    const second = await call('register_client', { client_name: 'Twin', redirect_uris: [REDIRECT] })
    expect(first.door).toBe('oauth:twin')
    expect(second.door).toBe('oauth:twin-2')
  })

  it('refuses registrations with unsafe redirect URIs, audited', async () => {
    for (const uri of [
      'http://evil.example/cb',
      'https://x.example/cb#frag',
      'javascript:alert(1)',
    ]) {
      expect(
        await call('register_client', { client_name: 'Bad', redirect_uris: [uri] }),
      ).toMatchObject({ error: 'invalid_redirect_uri' })
    }
    expect(
      await call('register_client', {
        client_name: 'Native',
        redirect_uris: ['http://127.0.0.1:33418/callback'],
      }),
    ).toMatchObject({ door: 'oauth:native' })
  })

  it('refuses a redirect URI the client did not register, exactly', async () => {
    const client = await call('register_client', {
      client_name: 'Exact',
      redirect_uris: [REDIRECT],
    })
    const start = await lastAuditId()
    for (const uri of [`${REDIRECT}/extra`, `${REDIRECT}?x=1`, 'https://evil.example/cb']) {
      expect(
        await call('begin_authorization', {
          client_id: client.client_id,
          redirect_uri: uri,
          scopes: ['secrets:use'],
          resource: RESOURCE,
          ...FLOW,
          code_challenge: await pkceChallenge(VERIFIER),
          csrf_hash: await sha256Hex('csrf'),
        }),
      ).toMatchObject({ error: 'invalid_redirect_uri' })
    }
    const audit = await auditSince(start)
    expect(audit).toHaveLength(3)
    expect(audit.every((row) => row.access_type === 'oauth_refused' && !row.success)).toBe(true)
  })

  it('refuses plain PKCE, another response type and another resource, audited', async () => {
    const client = await call('register_client', {
      client_name: 'Strict',
      redirect_uris: [REDIRECT],
    })
    const begin = async (overrides: Answer) =>
      call('begin_authorization', {
        client_id: client.client_id,
        redirect_uri: REDIRECT,
        scopes: ['secrets:use'],
        resource: RESOURCE,
        ...FLOW,
        code_challenge: await pkceChallenge(VERIFIER),
        csrf_hash: await sha256Hex('csrf'),
        ...overrides,
      })
    const start = await lastAuditId()
    expect(await begin({ code_challenge_method: 'plain' })).toMatchObject({
      error: 'invalid_request',
    })
    expect(await begin({ response_type: 'token' })).toMatchObject({
      error: 'unsupported_response_type',
    })
    expect(await begin({ resource: 'https://elsewhere.example/mcp' })).toMatchObject({
      error: 'invalid_target',
    })
    expect(await begin({ scopes: ['secrets:everything'] })).toMatchObject({
      error: 'invalid_scope',
    })
    const audit = await auditSince(start)
    expect(audit.map((row) => `${row.accessed_by} ${row.access_type}`)).toEqual(
      Array(4).fill(`${client.door} oauth_refused`),
    )
  })

  it('does not approve without the owner code, and ends the request after 5 wrong ones', async () => {
    const client = await call('register_client', {
      client_name: 'Pushy',
      redirect_uris: [REDIRECT],
    })
    const csrf = token('csrf')
    const request = await call('begin_authorization', {
      client_id: client.client_id,
      redirect_uri: REDIRECT,
      scopes: ['secrets:use'],
      resource: RESOURCE,
      ...FLOW,
      code_challenge: await pkceChallenge(VERIFIER),
      csrf_hash: await sha256Hex(csrf),
    })
    const decide = async (ownerCode: string, csrfToken = csrf) =>
      call('decide', {
        request_id: request.request_id,
        csrf_hash: await sha256Hex(csrfToken),
        approve: true,
        owner_code_hash: await sha256Hex(ownerCode),
        scopes: ['secrets:use'],
        code_hash: await sha256Hex(token('code')),
      })
    const start = await lastAuditId()
    expect(await decide('GUESSED')).toMatchObject({ error: 'wrong_owner_code' })
    await call('issue_owner_code', {
      request_id: request.request_id,
      owner_code_hash: await sha256Hex('RIGHT'),
      accessed_by: 'cli',
    })
    expect(await decide('RIGHT', 'another-csrf')).toMatchObject({ error: 'invalid_request' })
    for (let attempt = 0; attempt < 5; attempt++) {
      expect(await decide('WRONG')).toMatchObject({ error: 'wrong_owner_code' })
    }
    // Dead now, even with the right code.
    expect(await decide('RIGHT')).toMatchObject({ error: 'invalid_request' })
    const audit = await auditSince(start)
    expect(audit[0]?.error_message).toContain('without the owner')
    expect(audit.filter((row) => row.access_type === 'oauth_refused')).toHaveLength(8)
  })

  it('records a denial and sends the client away', async () => {
    const client = await call('register_client', {
      client_name: 'Denied',
      redirect_uris: [REDIRECT],
    })
    const csrf = token('csrf')
    const request = await call('begin_authorization', {
      client_id: client.client_id,
      redirect_uri: REDIRECT,
      scopes: ['secrets:use'],
      resource: RESOURCE,
      ...FLOW,
      code_challenge: await pkceChallenge(VERIFIER),
      state: 's',
      csrf_hash: await sha256Hex(csrf),
    })
    const start = await lastAuditId()
    expect(
      await call('decide', {
        request_id: request.request_id,
        csrf_hash: await sha256Hex(csrf),
        approve: false,
        owner_code_hash: await sha256Hex(''),
        scopes: [],
        code_hash: await sha256Hex(token('code')),
      }),
    ).toEqual({ denied: true, redirect_uri: REDIRECT, state: 's' })
    expect((await auditSince(start)).map((row) => row.access_type)).toEqual(['oauth_deny'])
  })

  it('refuses a PKCE mismatch, spends the code, and revokes the connection on reuse', async () => {
    const { client, code, grantId } = await approvedCode('Pkce')
    const start = await lastAuditId()
    const wrong = await exchange(client.client_id, code, {
      pkce_challenge: await pkceChallenge('another-verifier-of-at-least-43-characters-000'),
    })
    expect(wrong.answer).toMatchObject({ error: 'invalid_grant' })
    const again = await exchange(client.client_id, code)
    expect(again.answer).toMatchObject({ error: 'invalid_grant' })
    const connections = (await call('list_connections')) as unknown as Answer[]
    expect(connections.find((c) => c.id === grantId)?.revoked_at).not.toBeNull()
    const audit = await auditSince(start)
    expect(audit.map((row) => row.access_type)).toEqual([
      'oauth_refused',
      'oauth_code_reuse',
      'oauth_refused',
    ])
    expect(audit[0]?.error_message).toContain('PKCE')
  })

  it('revokes the connection when a used code comes back, tokens included', async () => {
    const { client, code } = await approvedCode('Reuse')
    const first = await exchange(client.client_id, code)
    expect(await verify(first.access)).toMatchObject({ door: client.door })
    expect((await exchange(client.client_id, code)).answer).toMatchObject({
      error: 'invalid_grant',
    })
    expect(await verify(first.access)).toMatchObject({ error: 'invalid_token' })
  })

  it('refuses an expired code, another redirect URI, another client and another resource', async () => {
    const expired = await approvedCode('Expired')
    await db.query(
      "UPDATE keywarden.oauth_codes SET expires_at = now() - interval '1 second' WHERE grant_id = $1",
      [expired.grantId],
      { role: 'owner' },
    )
    expect((await exchange(expired.client.client_id, expired.code)).answer).toMatchObject({
      error: 'invalid_grant',
      error_description: 'the authorization code expired',
    })

    const redirect = await approvedCode('Redirect')
    expect(
      (await exchange(redirect.client.client_id, redirect.code, { redirect_uri: `${REDIRECT}x` }))
        .answer,
    ).toMatchObject({ error: 'invalid_grant' })

    const other = await approvedCode('Other')
    expect((await exchange('kwc_someone_else', other.code)).answer).toMatchObject({
      error: 'invalid_grant',
      error_description: 'the authorization code was issued to another client',
    })

    const resource = await approvedCode('Resource')
    expect(
      (
        await exchange(resource.client.client_id, resource.code, {
          resource: 'https://elsewhere.example/mcp',
        })
      ).answer,
    ).toMatchObject({ error: 'invalid_target' })
  })

  it('refuses an expired access token and one for another resource, audited', async () => {
    const { client, code, grantId } = await approvedCode('Tokens')
    const { access } = await exchange(client.client_id, code)
    const start = await lastAuditId()
    expect(await verify(access, 'https://elsewhere.example/mcp')).toMatchObject({
      error: 'invalid_token',
      error_description: 'the access token was issued for another resource',
    })
    await db.query(
      "UPDATE keywarden.oauth_tokens SET expires_at = now() - interval '1 second' WHERE grant_id = $1 AND kind = 'access'",
      [grantId],
      { role: 'owner' },
    )
    expect(await verify(access)).toMatchObject({
      error: 'invalid_token',
      error_description: 'the access token expired',
    })
    const audit = await auditSince(start)
    expect(audit.map((row) => `${row.accessed_by} ${row.access_type}`)).toEqual([
      `${client.door} oauth_refused`,
      `${client.door} oauth_refused`,
    ])
  })

  it('revokes the whole connection when a rotated refresh token is presented again', async () => {
    const { client, code, grantId } = await approvedCode('Rotate')
    const { refresh } = await exchange(client.client_id, code)
    const refreshWith = async (presented: string) => {
      const access = token('access')
      const next = token('refresh')
      const answer = await call('refresh', {
        client_id: client.client_id,
        refresh_hash: await sha256Hex(presented),
        access_hash: await sha256Hex(access),
        next_refresh_hash: await sha256Hex(next),
      })
      return { answer, access, next }
    }
    const rotated = await refreshWith(refresh)
    expect(rotated.answer).toMatchObject({ grant_id: grantId })
    const start = await lastAuditId()
    expect((await refreshWith(refresh)).answer).toMatchObject({ error: 'invalid_grant' })
    // The thief's reuse took the legitimate holder's new tokens down too.
    expect(await verify(rotated.access)).toMatchObject({ error: 'invalid_token' })
    expect((await refreshWith(rotated.next)).answer).toMatchObject({ error: 'invalid_grant' })
    expect((await auditSince(start)).map((row) => row.access_type)).toEqual([
      'oauth_refresh_reuse',
      'oauth_refused',
      'oauth_refused',
      'oauth_refused',
    ])
  })

  it('revokes on RFC 7009 requests from the token owner only', async () => {
    const { client, code } = await approvedCode('Revoker')
    const { access, refresh } = await exchange(client.client_id, code)
    expect(
      await call('revoke_token', { token_hash: await sha256Hex(refresh), client_id: 'kwc_other' }),
    ).toEqual({ revoked: false })
    expect(await verify(access)).toMatchObject({ door: client.door })
    expect(
      await call('revoke_token', {
        token_hash: await sha256Hex(refresh),
        client_id: client.client_id,
      }),
    ).toEqual({ revoked: true })
    expect(await verify(access)).toMatchObject({ error: 'invalid_token' })
  })

  it('is reachable by service_role only, and its tables by nobody', async () => {
    for (const role of ['anon', 'authenticated']) {
      expect((await sqlError(call('pending_requests', {}, role))).code).toBe('42501')
    }
    expect(
      (
        await sqlError(
          db.query('SELECT * FROM keywarden.oauth_tokens', [], { role: 'service_role' }),
        )
      ).code,
    ).toBe('42501')
    expect(
      (
        await sqlError(
          db.query("SELECT keywarden.oauth_pending_requests('{}')", [], { role: 'service_role' }),
        )
      ).code,
    ).toBe('42501')
    expect((await sqlError(call('no_such_operation'))).code).toBe('KW012')
    expect((await sqlError(call('verify_access_token', { access_hash: 'raw-token' }))).code).toBe(
      'KW012',
    )
  })
})
