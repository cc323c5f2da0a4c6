/**
 * Migration 4's contract: per-secret agent access (agent_visible, allowed_hosts), set through
 * store_secret and listed by list_secret_names, on the real PostgreSQL server and on PGlite.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type QueryOptions,
  type SqlBackend,
  sqlBackends,
  sqlError,
} from '../testing/sql-backends.ts'

interface AccessRow {
  agent_visible: boolean
  allowed_hosts: string[]
  version: number
}

const SIGNATURE =
  'public.store_secret(text, text, text, text, timestamptz, interval, text, boolean, text[], text[], boolean)'

let sequence = 0
function fresh(base: string): string {
  sequence += 1
  return `${base}_${sequence}`
}

describe.each(await sqlBackends())('agent access on $kind', ({ create }) => {
  let db: SqlBackend

  beforeAll(async () => {
    db = await create()
  })

  afterAll(async () => {
    await db?.close()
  })

  const store = (
    name: string,
    value: string,
    agentVisible: boolean | null = null,
    allowedHosts: string[] | null = null,
    options?: QueryOptions,
  ) =>
    db.query(
      'SELECT public.store_secret($1, $2, agent_visible => $3, allowed_hosts => $4::text[]) AS id',
      [name, value, agentVisible, allowedHosts],
      options,
    )

  const access = async (name: string) => {
    const rows = await db.query<AccessRow>(
      'SELECT agent_visible, allowed_hosts, version FROM public.list_secret_names() WHERE name = $1',
      [name],
    )
    expect(rows).toHaveLength(1)
    return rows[0] as AccessRow
  }

  it('hides a new secret from agents and allows it nowhere', async () => {
    const name = fresh('plain')
    await store(name, 'value')
    expect(await access(name)).toEqual({ agent_visible: false, allowed_hosts: [], version: 1 })
  })

  it('sets the flags, keeps them when NULL and clears them when given', async () => {
    const name = fresh('flagged')
    await store(name, 'value', true, ['api.github.com', '*.example.com', 'localhost:8080'])
    expect(await access(name)).toEqual({
      agent_visible: true,
      allowed_hosts: ['api.github.com', '*.example.com', 'localhost:8080'],
      version: 1,
    })

    // A new value with the metadata left NULL keeps it (the long, positional call included).
    await db.query('SELECT public.store_secret($1, $2, NULL, NULL, NULL, NULL, NULL)', [
      name,
      'value 2',
    ])
    expect(await access(name)).toEqual({
      agent_visible: true,
      allowed_hosts: ['api.github.com', '*.example.com', 'localhost:8080'],
      version: 2,
    })

    // The same value with only the metadata changed: no new version.
    await store(name, 'value 2', false, [])
    expect(await access(name)).toEqual({ agent_visible: false, allowed_hosts: [], version: 2 })
  })

  it('refuses bad hosts with KW012 and changes nothing', async () => {
    const name = fresh('hosts')
    await store(name, 'value', true, ['api.github.com'])
    const audited = async () =>
      (
        await db.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM public.secret_access_log WHERE secret_name = $1',
          [name],
          { role: 'owner' },
        )
      )[0]?.n
    const before = await audited()
    const bad = [
      ['https://api.github.com'],
      ['api.github.com/repos'],
      ['API.GitHub.com'],
      ['user@api.github.com'],
      ['api.github.com:0'],
      ['api.github.com:65536'],
      ['*.com'],
      ['*'],
      [''],
      ['ok.example.com', 'bad host'],
      ['-leading.example.com'],
      Array.from({ length: 33 }, (_, index) => `h${index}.example.com`),
    ]
    for (const hosts of bad) {
      const error = await sqlError(store(name, 'new value', false, hosts))
      expect({ hosts, code: error.code }).toEqual({ hosts, code: 'KW012' })
      expect(error.message.length).toBeLessThan(200)
    }
    const withNull = await sqlError(
      db.query(
        "SELECT public.store_secret($1, 'new value', allowed_hosts => ARRAY[NULL]::text[])",
        [name],
      ),
    )
    expect(withNull.code).toBe('KW012')
    expect(await access(name)).toEqual({
      agent_visible: true,
      allowed_hosts: ['api.github.com'],
      version: 1,
    })
    expect(await audited()).toBe(before)

    // The column refuses them too, for writes that bypass store_secret.
    const direct = await sqlError(
      db.query(
        "UPDATE keywarden.secrets SET allowed_hosts = ARRAY['https://x.example.com'] WHERE name = $1",
        [name],
        { role: 'owner' },
      ),
    )
    expect(direct.code).toBe('23514')

    const many = Array.from({ length: 32 }, (_, index) => `h${index}.example.com:443`)
    await store(name, 'value', null, many)
    expect((await access(name)).allowed_hosts).toEqual(many)
  })

  it.each(['anon', 'authenticated'])('refuses %s the new store_secret (42501)', async (role) => {
    const name = fresh('refused')
    await store(name, 'value')
    const error = await sqlError(store(name, 'other', true, ['api.github.com'], { role }))
    expect(error.code).toBe('42501')
    expect(await access(name)).toEqual({ agent_visible: false, allowed_hosts: [], version: 1 })
    const granted = await db.query<{ role: string; allowed: boolean }>(
      `SELECT r AS role, pg_catalog.has_function_privilege(r, $1, 'EXECUTE') AS allowed
         FROM pg_catalog.unnest(ARRAY['service_role', $2]) AS r`,
      [SIGNATURE, role],
      { role: 'owner' },
    )
    expect(granted).toEqual([
      { role: 'service_role', allowed: true },
      { role, allowed: false },
    ])
  })

  it('keeps one store_secret, security definer with search_path pg_catalog, pg_temp', async () => {
    const rows = await db.query<{ current: boolean; definer: boolean; config: string[] }>(
      `SELECT p.oid IN ($1::regprocedure, 'public.list_secret_names(text)'::regprocedure) AS current,
              p.prosecdef AS definer, p.proconfig AS config
         FROM pg_catalog.pg_proc p
        WHERE p.proname IN ('store_secret', 'list_secret_names')
          AND p.pronamespace = 'public'::regnamespace`,
      [SIGNATURE],
      { role: 'owner' },
    )
    const expected = { current: true, definer: true, config: ['search_path=pg_catalog, pg_temp'] }
    expect(rows).toEqual([expected, expected])
  })

  it('notifies and audits a metadata change', async () => {
    const name = fresh('notified')
    await store(name, 'value')
    const heard: string[] = []
    const stop = await db.listen('keywarden_secrets', (payload) => heard.push(payload))
    try {
      await store(name, 'value', true)
      await expect.poll(() => heard).toContain(name)
    } finally {
      await stop()
    }
    const rows = await db.query<{ access_type: string; success: boolean }>(
      `SELECT access_type, success FROM public.query_secret_access_log($1)`,
      [name],
    )
    expect(rows.map((row) => row.access_type)).toEqual(['store', 'store'])
  })

  it('records its migration', async () => {
    const rows = await db.query<{ name: string }>(
      "SELECT name FROM supabase_migrations.schema_migrations WHERE version = '20261128000004'",
      [],
      { role: 'owner' },
    )
    expect(rows).toEqual([{ name: 'agent_access' }])
  })
})
