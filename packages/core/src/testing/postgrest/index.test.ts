import { randomBytes } from 'node:crypto'
import { request } from 'node:http'
import {
  createClient,
  type SupabaseClient,
  type SupabaseClientOptions,
} from '@supabase/supabase-js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPostgresTestDatabase, type PostgresTestDatabase } from '../databases.ts'
import { type PostgrestDouble, signTestJwt, startPostgrestDouble } from './index.ts'

type Transport = NonNullable<NonNullable<SupabaseClientOptions<'public'>['realtime']>['transport']>

/**
 * supabase-js 2.119 builds a Realtime client in `createClient` and throws on Node 20, which has
 * no global WebSocket, unless given a transport. These tests never open a channel, so the
 * transport only has to exist.
 */
class NoWebSocket {
  constructor() {
    throw new Error('Realtime is not used by these tests')
  }
}

function client(url: string, key: string): SupabaseClient {
  return createClient(url, key, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    realtime: { transport: NoWebSocket as unknown as Transport },
  })
}

const jwtSecret = randomBytes(32).toString('hex')
let database: PostgresTestDatabase
let double: PostgrestDouble
let service: SupabaseClient

beforeAll(async () => {
  database = await createPostgresTestDatabase()
  double = await startPostgrestDouble({
    databaseUrl: database.url,
    rootKey: database.rootKey,
    jwtSecret,
  })
  service = client(double.url, signTestJwt({ role: 'service_role' }, jwtSecret))
})

afterAll(async () => {
  await double?.close()
  await database?.drop()
})

/** A raw request, for what supabase-js never sends (bad bodies, missing tokens). */
async function post(path: string, body: string, headers: Record<string, string> = {}) {
  const response = await fetch(`${double.url}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body,
  })
  return { status: response.status, body: (await response.json()) as unknown }
}

describe('the PostgREST double, through supabase-js', () => {
  it('returns a scalar function result as the JSON scalar', async () => {
    const stored = await service.rpc('store_secret', {
      secret_name: 'github_token',
      secret_value: 'ghp_first',
      secret_description: 'GitHub PAT',
    })
    expect(stored.error).toBeNull()
    expect(stored.status).toBe(200)
    expect(stored.data).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)

    const read = await service.rpc('get_secret', { secret_name: 'github_token' })
    expect(read).toMatchObject({ data: 'ghp_first', error: null, status: 200 })

    // `.single()` asks for application/vnd.pgrst.object+json; a scalar call is one row.
    const single = await service.rpc('get_secret', { secret_name: 'github_token' }).single()
    expect(single).toMatchObject({ data: 'ghp_first', error: null })
  })

  it('returns null data, not an error, for a missing secret', async () => {
    const read = await service.rpc('get_secret', { secret_name: 'no_such_secret' })
    expect(read).toMatchObject({ data: null, error: null, status: 200 })

    const maybe = await service.rpc('get_secret', { secret_name: 'no_such_secret' }).maybeSingle()
    expect(maybe).toMatchObject({ data: null, error: null })
  })

  it('passes a JSON array as text[] and returns table rows as objects', async () => {
    await service.rpc('store_secret', { secret_name: 'openai_api_key', secret_value: 'sk-1' })
    const { data, error } = await service.rpc('get_secrets', {
      secret_names: ['openai_api_key', 'missing_one', 'github_token'],
    })
    expect(error).toBeNull()
    expect(data).toEqual([
      { secret_name: 'openai_api_key', secret_value: 'sk-1', secret_version: 1 },
      { secret_name: 'missing_one', secret_value: null, secret_version: null },
      { secret_name: 'github_token', secret_value: 'ghp_first', secret_version: 1 },
    ])
  })

  it('rotates with an interval argument and keeps the previous value', async () => {
    const rotated = await service.rpc('rotate_secret', {
      secret_name: 'github_token',
      new_value: 'ghp_second',
      grace_period: '1 hour',
    })
    expect(rotated.error).toBeNull()
    expect(rotated.data).toEqual([
      {
        secret_id: expect.any(String),
        secret_version: 2,
        previous_valid_until: expect.any(String),
      },
    ])

    const current = await service.rpc('get_secret', { secret_name: 'github_token' })
    expect(current.data).toBe('ghp_second')
    const previous = await service.rpc('get_secret', {
      secret_name: 'github_token',
      version: 'previous',
    })
    expect(previous.data).toBe('ghp_first')

    // `.single()` on a set of exactly one row gives the row itself.
    const single = await service
      .rpc('rotate_secret', { secret_name: 'github_token', new_value: 'ghp_third' })
      .single()
    expect(single.error).toBeNull()
    expect(single.data).toMatchObject({ secret_version: 3 })
  })

  it('lists names and metadata, never values', async () => {
    await service.rpc('store_secret', {
      secret_name: 'do_token',
      secret_value: 'dop_v1',
      secret_type: 'api_key',
      expires_at: '2030-01-01T00:00:00Z',
      rotation_interval: '30 days',
    })
    const { data, error } = await service.rpc('list_secret_names')
    expect(error).toBeNull()
    expect(Array.isArray(data)).toBe(true)
    const rows = data as Record<string, unknown>[]
    expect(rows.map((row) => row.name)).toEqual(['do_token', 'github_token', 'openai_api_key'])
    expect(rows[0]).toMatchObject({
      name: 'do_token',
      secret_type: 'api_key',
      version: 1,
      rotation_interval_days: 30,
    })
    expect(new Date(String(rows[0]?.expires_at)).toISOString()).toBe('2030-01-01T00:00:00.000Z')
    expect(JSON.stringify(rows)).not.toMatch(/dop_v1|ghp_|sk-1/)
    for (const row of rows) {
      expect(Object.keys(row).some((key) => key.includes('value'))).toBe(false)
    }

    // `count` is read from Content-Range, which the double sends as PostgREST does.
    const counted = await service.rpc('list_secret_names', {}, { count: 'exact' })
    expect(counted.count).toBe(3)
  })

  it('gives an integer argument and a set with no rows', async () => {
    const soon = await service.rpc('check_expiring_secrets', { days: 0 })
    expect(soon).toMatchObject({ data: [], error: null })
    const later = await service.rpc('check_expiring_secrets', { days: 3650 })
    expect((later.data as { name: string }[]).map((row) => row.name)).toContain('do_token')

    const none = await service.rpc('check_expiring_secrets', { days: 0 }).maybeSingle()
    expect(none).toMatchObject({ data: null, error: null })
    const notOne = await service.rpc('check_expiring_secrets', { days: 0 }).single()
    expect(notOne.status).toBe(406)
    expect(notOne.error).toMatchObject({
      code: 'PGRST116',
      details: 'The result contains 0 rows',
      message: 'Cannot coerce the result to a single JSON object',
    })
  })

  it('writes a jsonb batch and reads the log with named arguments', async () => {
    const since = new Date(Date.now() - 60_000).toISOString()
    const written = await service.rpc('log_secret_access_batch', {
      events: [
        {
          secret_name: 'github_token',
          accessed_by: 'agent:test',
          access_type: 'cache_hit',
          success: true,
          event_count: 3,
          source: 'cache',
        },
        {
          secret_name: 'openai_api_key',
          accessed_by: 'agent:test',
          access_type: 'env_fallback',
          success: false,
          error_message: 'vault unavailable',
          source: 'env',
        },
      ],
    })
    expect(written).toMatchObject({ data: 2, error: null })

    const { data, error } = await service.rpc('query_secret_access_log', {
      secret_name: 'openai_api_key',
      failed_only: true,
      since,
      max_rows: 5,
    })
    expect(error).toBeNull()
    expect(data).toEqual([
      expect.objectContaining({
        id: expect.any(Number),
        secret_name: 'openai_api_key',
        accessed_by: 'agent:test',
        access_type: 'env_fallback',
        success: false,
        error_message: 'vault unavailable',
        source: 'env',
        event_count: 1,
      }),
    ])

    // A STABLE function may also be called with GET, arguments in the query string.
    const viaGet = await service.rpc(
      'query_secret_access_log',
      { secret_name: 'github_token', max_rows: 1 },
      { get: true },
    )
    expect(viaGet.error).toBeNull()
    expect(viaGet.data).toEqual([
      expect.objectContaining({ access_type: 'cache_hit', event_count: 3 }),
    ])

    const viaHead = await service.rpc(
      'query_secret_access_log',
      { secret_name: 'openai_api_key' },
      { head: true, count: 'exact' },
    )
    expect(viaHead).toMatchObject({ data: null, error: null, status: 200 })
    expect(viaHead.count).toBeGreaterThanOrEqual(2)
  })

  it('refuses a malformed batch with the function’s own SQLSTATE', async () => {
    const { data, error, status } = await service.rpc('log_secret_access_batch', {
      events: [{ secret_name: 'github_token' }],
    })
    expect(data).toBeNull()
    expect(status).toBe(400)
    expect(error).toMatchObject({ code: 'KW012', details: null, hint: null })
  })

  it('maps a custom SQLSTATE to 400 with PostgREST’s error shape', async () => {
    const { data, error, status } = await service.rpc('store_secret', {
      secret_name: 'Not A Valid Name',
      secret_value: 'a-secret-value',
    })
    expect(data).toBeNull()
    expect(status).toBe(400)
    expect(error).not.toBeNull()
    expect(Object.keys(error ?? {}).sort()).toEqual(['code', 'details', 'hint', 'message'])
    expect(error).toMatchObject({ code: 'KW010', details: null, hint: null })
    expect(error?.message).toMatch(/^invalid secret name/)
    expect(error?.message).not.toContain('a-secret-value')
  })

  it('runs GET in a read-only transaction, so a writing function answers 405', async () => {
    const { error, status } = await service.rpc(
      'get_secret',
      { secret_name: 'github_token' },
      { get: true },
    )
    expect(status).toBe(405)
    expect(error).toMatchObject({ code: '25006' })
  })

  it('answers 404 PGRST202 for an unknown function or argument', async () => {
    const unknown = await service.rpc('no_such_function', { a: 1 })
    expect(unknown.status).toBe(404)
    expect(unknown.error).toMatchObject({
      code: 'PGRST202',
      message: 'Could not find the function public.no_such_function(a) in the schema cache',
    })

    const extra = await service.rpc('get_secret', { secret_name: 'github_token', bogus: true })
    expect(extra.status).toBe(404)
    expect(extra.error).toMatchObject({
      code: 'PGRST202',
      message:
        'Could not find the function public.get_secret(bogus, secret_name) in the schema cache',
    })

    const missingRequired = await service.rpc('get_secret', {})
    expect(missingRequired.error).toMatchObject({ code: 'PGRST202' })
  })
})

describe('the PostgREST double’s authentication', () => {
  it('refuses the anon role with 42501 as 401, and authenticated as 403', async () => {
    const anon = client(double.url, signTestJwt({ role: 'anon' }, jwtSecret))
    const asAnon = await anon.rpc('get_secret', { secret_name: 'github_token' })
    expect(asAnon.data).toBeNull()
    expect(asAnon.status).toBe(401)
    expect(asAnon.error).toMatchObject({
      code: '42501',
      message: 'permission denied for function get_secret',
    })

    const user = client(double.url, signTestJwt({ role: 'authenticated' }, jwtSecret))
    const asUser = await user.rpc('list_secret_names')
    expect(asUser.status).toBe(403)
    expect(asUser.error).toMatchObject({ code: '42501' })
  })

  it('refuses a JWT signed with another secret', async () => {
    const forged = client(double.url, signTestJwt({ role: 'service_role' }, 'x'.repeat(64)))
    const { data, error, status } = await forged.rpc('get_secret', { secret_name: 'github_token' })
    expect(data).toBeNull()
    expect(status).toBe(401)
    expect(error).toEqual({
      code: 'PGRST301',
      details: null,
      hint: null,
      message: 'JWT cryptographic operation failed',
    })
  })

  it('refuses an expired JWT', async () => {
    const expiredKey = signTestJwt(
      { role: 'service_role', exp: Math.floor(Date.now() / 1000) - 120 },
      jwtSecret,
    )
    const { error, status } = await client(double.url, expiredKey).rpc('list_secret_names')
    expect(status).toBe(401)
    expect(error).toMatchObject({ code: 'PGRST303', message: 'JWT expired' })
  })

  it('refuses a request without a token, and a role the API does not have', async () => {
    const anonymous = await post('/rest/v1/rpc/list_secret_names', '{}')
    expect(anonymous).toEqual({
      status: 401,
      body: {
        code: 'PGRST302',
        details: null,
        hint: null,
        message: 'Anonymous access is disabled',
      },
    })

    const superuser = client(double.url, signTestJwt({ role: 'postgres' }, jwtSecret))
    const { error, status } = await superuser.rpc('list_secret_names')
    expect(status).toBe(403)
    expect(error).toMatchObject({ code: '42501' })
  })
})

describe('the PostgREST double’s request errors', () => {
  const authorization = () => ({
    Authorization: `Bearer ${signTestJwt({ role: 'service_role' }, jwtSecret)}`,
  })

  it('answers 400 PGRST102 to a malformed JSON body', async () => {
    const response = await post('/rest/v1/rpc/get_secret', '{"secret_name":', authorization())
    expect(response).toEqual({
      status: 400,
      body: { code: 'PGRST102', details: null, hint: null, message: 'Empty or invalid json' },
    })
  })

  it('answers 503 PGRST000 when the database is unreachable', async () => {
    const unreachable = await startPostgrestDouble({
      databaseUrl: 'postgres://postgres@127.0.0.1:1/nowhere',
      rootKey: database.rootKey,
      jwtSecret,
    })
    try {
      const { error, status } = await client(
        unreachable.url,
        signTestJwt({ role: 'service_role' }, jwtSecret),
      ).rpc('get_secret', { secret_name: 'github_token' })
      expect(status).toBe(503)
      expect(error).toMatchObject({
        code: 'PGRST000',
        message: 'Database connection error. Retrying the connection.',
      })
    } finally {
      await unreachable.close()
    }
  })

  it('gives sessions no root key when asked, so the vault says KW001', async () => {
    const keyless = await startPostgrestDouble({
      databaseUrl: database.url,
      rootKey: null,
      jwtSecret,
    })
    try {
      const { error, status } = await client(
        keyless.url,
        signTestJwt({ role: 'service_role' }, jwtSecret),
      ).rpc('get_secret', { secret_name: 'github_token' })
      expect(status).toBe(400)
      expect(error).toMatchObject({ code: 'KW001', message: 'keywarden.root_key is not set' })
    } finally {
      await keyless.close()
    }
  })
})

describe('the PostgREST double’s outages', () => {
  it('refuses connections while paused and serves again once resumed', async () => {
    await expect(service.rpc('get_secret', { secret_name: 'github_token' })).resolves.toMatchObject(
      { data: 'ghp_third', error: null },
    )

    await double.pause()
    expect(double.paused).toBe(true)
    const down = await service.rpc('get_secret', { secret_name: 'github_token' })
    // supabase-js turns a failed fetch into an error with status 0 and an empty code.
    expect(down.data).toBeNull()
    expect(down.status).toBe(0)
    expect(down.error?.code).toBe('')
    expect(down.error?.message).toBe('TypeError: fetch failed')
    expect(down.error?.details).toContain('ECONNREFUSED')

    await double.resume()
    expect(double.paused).toBe(false)
    await expect(service.rpc('get_secret', { secret_name: 'github_token' })).resolves.toMatchObject(
      { data: 'ghp_third', error: null, status: 200 },
    )
  })

  it('records each call it answered', async () => {
    double.clearCalls()
    await service.rpc('get_secret', { secret_name: 'github_token' })
    await service.rpc('no_such_function')
    expect(double.calls).toEqual([
      { method: 'POST', fn: 'get_secret', role: 'service_role', status: 200 },
      { method: 'POST', fn: 'no_such_function', role: 'service_role', status: 404 },
    ])
  })

  it('refuses a WebSocket upgrade (it serves no Realtime) without recording a call', async () => {
    double.clearCalls()
    const closed = await new Promise<string>((resolve) => {
      const req = request(`${double.url}/realtime/v1/websocket?vsn=1.0.0`, {
        headers: {
          Connection: 'Upgrade',
          Upgrade: 'websocket',
          'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
          'Sec-WebSocket-Version': '13',
        },
      })
      req.on('upgrade', () => resolve('upgraded'))
      req.on('response', (response) => resolve(`answered ${response.statusCode}`))
      req.on('error', () => resolve('closed'))
      req.end()
    })
    expect(closed).toBe('closed')
    expect(double.calls).toEqual([])
  })
})

describe('the PostgREST double’s row cap (db-max-rows)', () => {
  let capped: PostgrestDouble
  let cappedService: SupabaseClient

  beforeAll(async () => {
    capped = await startPostgrestDouble({
      databaseUrl: database.url,
      rootKey: database.rootKey,
      jwtSecret,
      maxRows: 3,
    })
    cappedService = client(capped.url, signTestJwt({ role: 'service_role' }, jwtSecret))
    for (const name of ['cap_a', 'cap_b', 'cap_c', 'cap_d', 'cap_e']) {
      const stored = await service.rpc('store_secret', { secret_name: name, secret_value: 'v' })
      expect(stored.error).toBeNull()
    }
  })

  afterAll(async () => {
    await capped?.close()
  })

  it('cuts a set-returning call at maxRows silently, as Supabase’s Data API does', async () => {
    const uncapped = await service.rpc('list_secret_names')
    expect((uncapped.data as unknown[]).length).toBeGreaterThan(3)

    const cut = await cappedService.rpc('list_secret_names')
    expect(cut.error).toBeNull()
    expect(cut.status).toBe(200)
    // The first rows in the function's own order, no error, no hint that rows are missing.
    expect((cut.data as { name: string }[]).map((row) => row.name)).toEqual(
      (uncapped.data as { name: string }[]).slice(0, 3).map((row) => row.name),
    )
  })

  it('says in Content-Range how many rows there were only when a count is asked for', async () => {
    const headers = {
      Authorization: `Bearer ${signTestJwt({ role: 'service_role' }, jwtSecret)}`,
      'Content-Type': 'application/json',
    }
    const plain = await fetch(`${capped.url}/rest/v1/rpc/list_secret_names`, {
      method: 'POST',
      headers,
      body: '{}',
    })
    expect(plain.headers.get('content-range')).toBe('0-2/*')
    const counted = await fetch(`${capped.url}/rest/v1/rpc/list_secret_names`, {
      method: 'POST',
      headers: { ...headers, Prefer: 'count=exact' },
      body: '{}',
    })
    const total = Number(counted.headers.get('content-range')?.split('/')[1])
    expect(total).toBeGreaterThan(3)
    expect(((await counted.json()) as unknown[]).length).toBe(3)
  })

  it('does not cut a function that returns one JSON value', async () => {
    const whole = await cappedService.rpc('list_secret_names_json')
    expect(whole.error).toBeNull()
    const names = (whole.data as { name: string }[]).map((row) => row.name)
    expect(names).toEqual(expect.arrayContaining(['cap_a', 'cap_b', 'cap_c', 'cap_d', 'cap_e']))
  })
})
