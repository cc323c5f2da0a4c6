/**
 * The SQL API's contract (DESIGN.md, "The SQL API"), stated once and run against every database
 * Keywarden migrates: the real PostgreSQL server, the embedded PGlite and the Supabase-like
 * cluster (the real `supabase_vault`, migrated as a non-superuser `postgres`). Each backend gets
 * one fresh database for the whole file; tests stay independent by using names of their own.
 * Tests of `keywarden.root_key` are about the compatible vault; the real vault holds its own key.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runMigrations, type SqlConnection, splitStatements } from '../migrate/index.ts'
import { pgConnection, pgliteConnection } from '../node/connections.ts'
import { loadMigrations } from '../node/migrations.ts'
import { randomRootKey } from '../testing/databases.ts'
import {
  type QueryOptions,
  queryAs,
  type SqlBackend,
  type SqlErrorFields,
  sqlBackends,
  sqlError,
} from '../testing/sql-backends.ts'

interface AuditRow {
  /** bigint: a string from `pg`, a number from PGlite. */
  id: string | number
  secret_name: string
  accessed_by: string
  access_type: string
  success: boolean
  error_message: string | null
  secret_version: number | null
  event_count: number
  source: string | null
  created_at: Date
  client_time: Date | null
}

interface Counts {
  vault: number
  metadata: number
  audit: number
}

/** The one row a statement must return. */
function only<T>(rows: T[]): T {
  expect(rows).toHaveLength(1)
  return rows[0] as T
}

/** Fails if `secret` appears anywhere in `haystack` (any case, any field). */
function expectNoTrace(haystack: unknown, secret: string): void {
  expect(JSON.stringify(haystack).toLowerCase()).not.toContain(secret.toLowerCase())
}

/** A unique name per call, so tests sharing a database never share a secret. */
let sequence = 0
function fresh(base: string): string {
  sequence += 1
  return `${base}_${sequence}`
}

const API_ROLES = ['anon', 'authenticated'] as const

describe.each(await sqlBackends())('the SQL API on $kind', ({ kind, create }) => {
  let db: SqlBackend
  /** The compatible vault (pgcrypto under `keywarden.root_key`), not the real extension. */
  const compatibleVault = kind !== 'supabase-like'

  beforeAll(async () => {
    db = await create()
  })

  afterAll(async () => {
    await db?.close()
  })

  // --- small helpers over the backend -------------------------------------------------------

  const store = async (name: string, value: string | null, options?: QueryOptions) =>
    only(
      await db.query<{ id: string }>(
        'SELECT public.store_secret($1, $2) AS id',
        [name, value],
        options,
      ),
    ).id

  const get = async (name: string | null, options?: QueryOptions) =>
    only(
      await db.query<{ value: string | null }>(
        'SELECT public.get_secret($1) AS value',
        [name],
        options,
      ),
    ).value

  const getPrevious = async (name: string) =>
    only(
      await db.query<{ value: string | null }>(
        "SELECT public.get_secret($1, NULL, 'previous') AS value",
        [name],
      ),
    ).value

  const rotate = async (
    name: string,
    value: string | null,
    grace?: string,
    options?: QueryOptions,
  ) =>
    only(
      await db.query<{
        secret_id: string
        secret_version: number
        previous_valid_until: Date | null
      }>(
        grace === undefined
          ? 'SELECT * FROM public.rotate_secret($1, $2)'
          : 'SELECT * FROM public.rotate_secret($1, $2, grace_period => $3::interval)',
        grace === undefined ? [name, value] : [name, value, grace],
        options,
      ),
    )

  const audit = (name: string) =>
    db.query<AuditRow>(
      'SELECT * FROM public.secret_access_log WHERE secret_name = $1 ORDER BY id',
      [name],
    )

  const listed = async (name: string) =>
    db.query<{ name: string; version: number; secret_type: string; description: string | null }>(
      'SELECT name, version, secret_type, description FROM public.list_secret_names() WHERE name = $1',
      [name],
    )

  const counts = async () =>
    only(
      await db.query<Counts>(
        `SELECT (SELECT count(*)::int FROM vault.secrets) AS vault,
                (SELECT count(*)::int FROM keywarden.secrets) AS metadata,
                (SELECT count(*)::int FROM public.secret_access_log) AS audit`,
        [],
        { role: 'owner' },
      ),
    )

  const vaultRows = (names: string[]) =>
    db.query<{ id: string; name: string; secret: string; nonce: Uint8Array; key_id: string }>(
      'SELECT id, name, secret, nonce, key_id FROM vault.secrets WHERE name = ANY($1) ORDER BY name',
      [names],
    )

  /**
   * Runs a statement that changes vault.secrets behind the API's back: as the owner, or on the
   * Supabase-like cluster as supabase_admin (postgres may not UPDATE vault.secrets there).
   */
  const tamper = (sql: string, params: unknown[]) =>
    db.kind === 'supabase-like' ? db.admin(sql, params) : db.query(sql, params, { role: 'owner' })

  /** How each vault reports a ciphertext that fails to decrypt. */
  const decryptionFailure = compatibleVault
    ? { code: 'KW003', message: /failed to decrypt/ }
    : { code: '22000', message: /invalid ciphertext/ }

  /** Runs `work` on one session of its own (PGlite's only session, reset afterwards). */
  const inOneSession = async (
    work: (run: (sql: string, params?: unknown[]) => Promise<unknown[]>) => Promise<void>,
  ) => {
    if (db.kind === 'pglite') {
      const pglite = db.db
      try {
        await work(async (sql, params) => (await pglite.query(sql, params)).rows)
      } finally {
        await pglite.exec('RESET ROLE; RESET plan_cache_mode')
      }
      return
    }
    const client = await db.database.connect()
    try {
      await work(async (sql, params) => (await client.query(sql, params)).rows)
    } finally {
      await client.end()
    }
  }

  const withConnection = async <T>(work: (connection: SqlConnection) => Promise<T>) => {
    if (db.kind === 'pglite') return work(pgliteConnection(db.db))
    const client = await db.database.connect()
    try {
      return await work(pgConnection(client))
    } finally {
      await client.end()
    }
  }

  // --- migrations ----------------------------------------------------------------------------

  it('records its migrations where the Supabase CLI does, and applying them again changes nothing', async () => {
    const migrations = await loadMigrations()
    expect(migrations.map((migration) => migration.name)).toEqual(
      expect.arrayContaining(['roles_and_schemas', 'vault', 'secret_api']),
    )
    const recorded = await db.query<{ version: string; name: string; statements: string[] }>(
      'SELECT version, name, statements FROM supabase_migrations.schema_migrations ORDER BY version',
      [],
      { role: 'owner' },
    )
    expect(recorded).toEqual(
      migrations.map((migration) => ({
        version: migration.version,
        name: migration.name,
        statements: splitStatements(migration.sql),
      })),
    )
    const before = await counts()
    const report = await withConnection((connection) => runMigrations(connection, migrations))
    expect(report).toEqual({
      applied: [],
      skipped: migrations.map((migration) => migration.version),
    })
    expect(await counts()).toEqual(before)
  })

  // --- the seed -----------------------------------------------------------------------------

  it('runs the seed statements verbatim as service_role with the results a user expects', async () => {
    const asService = (sql: string) => db.query(sql, [], { role: 'service_role' })

    const stored = only(
      await asService("SELECT public.store_secret('github_token', 'ghp_...', 'GitHub PAT');"),
    )
    expect(stored.store_secret).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    )

    expect(await asService("SELECT public.get_secret('github_token');")).toEqual([
      { get_secret: 'ghp_...' },
    ])

    expect(
      await asService("SELECT public.rotate_secret('github_token', 'ghp_new_value');"),
    ).toHaveLength(1)

    const names = await asService('SELECT * FROM public.list_secret_names();')
    const listedRow = names.find((row) => row.name === 'github_token')
    expect(listedRow).toMatchObject({
      name: 'github_token',
      description: 'GitHub PAT',
      secret_type: 'other',
      version: 2,
    })
    expect(Object.keys(listedRow ?? {}).sort()).toEqual(
      [
        'name',
        'description',
        'secret_type',
        'version',
        'created_at',
        'updated_at',
        'last_rotated_at',
        'expires_at',
        'rotation_interval_days',
        'rotation_due_at',
        'previous_valid_until',
        'agent_visible',
        'allowed_hosts',
        'allowed_commands',
        'protected',
      ].sort(),
    )
    expect(listedRow?.last_rotated_at).toBeInstanceOf(Date)
    expect(listedRow?.previous_valid_until).toBeInstanceOf(Date)
    expectNoTrace(names, 'ghp_')

    expect(
      await asService(
        "SELECT decrypted_secret FROM vault.decrypted_secrets WHERE name = 'github_token';",
      ),
    ).toEqual([{ decrypted_secret: 'ghp_new_value' }])

    const vaultRow = only(
      await asService("SELECT * FROM vault.secrets WHERE name = 'github_token';"),
    )
    expect(Object.keys(vaultRow).sort()).toEqual(
      ['id', 'name', 'description', 'secret', 'key_id', 'nonce', 'created_at', 'updated_at'].sort(),
    )
    expect(vaultRow).toMatchObject({ name: 'github_token', description: 'GitHub PAT' })
    expect(typeof vaultRow.secret).toBe('string')
    expect(vaultRow.secret).not.toContain('ghp_')
    expect(Buffer.from(vaultRow.secret as string, 'base64').includes('ghp_')).toBe(false)
    expect(vaultRow.nonce).toBeInstanceOf(Uint8Array)

    const log = await asService(
      `SELECT secret_name, accessed_by, access_type, success, error_message, created_at
  FROM public.secret_access_log ORDER BY created_at DESC LIMIT 100;`,
    )
    expect(Object.keys(log[0] ?? {})).toEqual([
      'secret_name',
      'accessed_by',
      'access_type',
      'success',
      'error_message',
      'created_at',
    ])
    const times = log.map((row) => (row.created_at as Date).getTime())
    expect(times).toEqual([...times].sort((a, b) => b - a))
    const seedRows = log.filter((row) => row.secret_name === 'github_token')
    expect(seedRows.map((row) => row.access_type).sort()).toEqual(['read', 'rotate', 'store'])
    for (const row of seedRows) {
      expect(row).toMatchObject({ accessed_by: 'sql:postgres', success: true, error_message: null })
    }
    expectNoTrace(log, 'ghp_')
  })

  // --- roles and grants ---------------------------------------------------------------------

  it.each(API_ROLES)(
    'refuses %s everything: every function, table and view (42501)',
    async (role) => {
      const name = fresh('refused')
      await store(name, 'refused-value')
      const vaultId = only(await vaultRows([name])).id
      const before = await counts()
      const statements = [
        `SELECT public.store_secret('${name}', 'other-value')`,
        `SELECT public.get_secret('${name}')`,
        `SELECT * FROM public.get_secrets(ARRAY['${name}'])`,
        `SELECT * FROM public.rotate_secret('${name}', 'other-value')`,
        `SELECT public.delete_secret('${name}')`,
        'SELECT * FROM public.list_secret_names()',
        'SELECT * FROM public.check_expiring_secrets()',
        `SELECT public.log_secret_access_batch('[]'::jsonb)`,
        'SELECT * FROM public.query_secret_access_log()',
        'SELECT * FROM public.secret_access_log',
        `INSERT INTO public.secret_access_log (secret_name, accessed_by, access_type, success)
         VALUES ('${name}', 'forged', 'read', true)`,
        'UPDATE public.secret_access_log SET success = true',
        'DELETE FROM public.secret_access_log',
        'TRUNCATE public.secret_access_log',
        'SELECT * FROM vault.secrets',
        'SELECT * FROM vault.decrypted_secrets',
        `SELECT vault.create_secret('other-value', '${fresh('refused_create')}')`,
        `SELECT vault.update_secret('${vaultId}', 'other-value')`,
        'SELECT * FROM keywarden.secrets',
        `SELECT keywarden.audit('${name}', 'forged', 'read', true)`,
      ]
      const outcomes: Record<string, string> = {}
      for (const sql of statements) {
        outcomes[sql] = (await sqlError(db.query(sql, [], { role }))).code
      }
      expect(outcomes).toEqual(Object.fromEntries(statements.map((sql) => [sql, '42501'])))
      expect(await counts()).toEqual(before)
      expect(await get(name)).toBe('refused-value')

      // And nothing was missed: no function, table, view or schema of the API is open to the role.
      const open = await db.query<{ object: string }>(
        `SELECT p.oid::regprocedure::text AS object
         FROM pg_catalog.pg_proc p
        WHERE p.pronamespace::regnamespace::text IN ('public', 'vault', 'keywarden')
          AND pg_catalog.has_function_privilege($1::name, p.oid, 'EXECUTE')
       UNION ALL
       SELECT c.oid::regclass::text
         FROM pg_catalog.pg_class c
        WHERE c.relnamespace::regnamespace::text IN ('public', 'vault', 'keywarden', 'supabase_migrations')
          AND CASE WHEN c.relkind = 'S'
                   THEN pg_catalog.has_sequence_privilege($1::name, c.oid, 'USAGE, SELECT, UPDATE')
                   WHEN c.relkind IN ('r', 'v', 'm', 'p', 'f')
                   THEN pg_catalog.has_table_privilege($1::name, c.oid,
                          'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
                   ELSE false END
       UNION ALL
       SELECT n.nspname::text
         FROM pg_catalog.pg_namespace n
        WHERE n.nspname IN ('vault', 'keywarden', 'supabase_migrations')
          AND pg_catalog.has_schema_privilege($1::name, n.oid, 'USAGE, CREATE')`,
        [role],
        { role: 'owner' },
      )
      expect(open).toEqual([])
    },
  )

  it('grants service_role the API functions and read-only access to the audit log', async () => {
    const rows = await db.query<{ object: string; allowed: boolean }>(
      `SELECT f AS object, pg_catalog.has_function_privilege('service_role', f, 'EXECUTE') AS allowed
         FROM pg_catalog.unnest(ARRAY[
           'public.store_secret(text, text, text, text, timestamptz, interval, text, boolean, text[], text[], boolean)',
           'public.get_secret(text, text, text)',
           'public.get_secrets(text[], text, text)',
           'public.rotate_secret(text, text, interval, text)',
           'public.delete_secret(text, text)',
           'public.list_secret_names(text)',
           'public.check_expiring_secrets(integer, text, timestamptz)',
           'public.log_secret_access_batch(jsonb)',
           'public.query_secret_access_log(text, boolean, timestamptz, integer)',
           'public.vault_status()',
           'vault.create_secret(text, text, text, uuid)',
           'vault.update_secret(uuid, text, text, text, uuid)'
         ]) AS f
       UNION ALL
       SELECT 'public.secret_access_log ' || p,
              pg_catalog.has_table_privilege('service_role', 'public.secret_access_log', p)
         FROM pg_catalog.unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) AS p`,
      [],
      { role: 'owner' },
    )
    expect(Object.fromEntries(rows.map((row) => [row.object, row.allowed]))).toEqual({
      'public.store_secret(text, text, text, text, timestamptz, interval, text, boolean, text[], text[], boolean)': true,
      'public.get_secret(text, text, text)': true,
      'public.get_secrets(text[], text, text)': true,
      'public.rotate_secret(text, text, interval, text)': true,
      'public.delete_secret(text, text)': true,
      'public.list_secret_names(text)': true,
      'public.check_expiring_secrets(integer, text, timestamptz)': true,
      'public.log_secret_access_batch(jsonb)': true,
      'public.query_secret_access_log(text, boolean, timestamptz, integer)': true,
      'public.vault_status()': true,
      'vault.create_secret(text, text, text, uuid)': true,
      'vault.update_secret(uuid, text, text, text, uuid)': true,
      'public.secret_access_log SELECT': true,
      'public.secret_access_log INSERT': false,
      'public.secret_access_log UPDATE': false,
      'public.secret_access_log DELETE': false,
      'public.secret_access_log TRUNCATE': false,
    })
  })

  // --- the audit log ------------------------------------------------------------------------

  it('returns NULL for a missing secret and records the failed read', async () => {
    const name = fresh('missing')
    expect(await get(name)).toBeNull()
    expect(
      only(
        await db.query<{ value: string | null }>(
          "SELECT public.get_secret($1, accessed_by => 'agent:claude') AS value",
          [name],
        ),
      ).value,
    ).toBeNull()
    expect(await audit(name)).toMatchObject([
      {
        secret_name: name,
        accessed_by: 'sql:postgres',
        access_type: 'read',
        success: false,
        error_message: 'secret not found',
        secret_version: null,
      },
      { accessed_by: 'agent:claude', access_type: 'read', success: false },
    ])
    // A read that succeeds records the version it served.
    await store(name, 'now-it-exists')
    expect(await get(name)).toBe('now-it-exists')
    expect((await audit(name)).at(-1)).toMatchObject({
      access_type: 'read',
      success: true,
      error_message: null,
      secret_version: 1,
    })
  })

  it('refuses service_role any UPDATE, DELETE or TRUNCATE of audit rows (42501)', async () => {
    const name = fresh('append_only')
    expect(await get(name)).toBeNull()
    const before = await audit(name)
    expect(before).toHaveLength(1)
    for (const sql of [
      'UPDATE public.secret_access_log SET success = true WHERE secret_name = $1',
      'DELETE FROM public.secret_access_log WHERE secret_name = $1',
    ]) {
      expect((await sqlError(db.query(sql, [name]))).code).toBe('42501')
    }
    expect((await sqlError(db.query('TRUNCATE public.secret_access_log'))).code).toBe('42501')
    expect(await audit(name)).toEqual(before)
  })

  it('keeps audit rows append-only by trigger even for a role granted UPDATE, DELETE and TRUNCATE', async () => {
    const name = fresh('trigger')
    expect(await get(name)).toBeNull()
    const [row] = await audit(name)
    const probe = `kw_audit_probe_${randomBytes(4).toString('hex')}`
    await db.query(`CREATE ROLE ${probe} NOLOGIN`, [], { role: 'owner' })
    try {
      // On PostgreSQL 15 a non-superuser (Supabase's postgres) needs membership to SET ROLE.
      await db.query(`GRANT ${probe} TO CURRENT_USER`, [], { role: 'owner' })
      await db.query(
        `GRANT SELECT, UPDATE, DELETE, TRUNCATE ON public.secret_access_log TO ${probe}`,
        [],
        { role: 'owner' },
      )
      const attempts = [
        'UPDATE public.secret_access_log SET success = true WHERE id = $1',
        'DELETE FROM public.secret_access_log WHERE id = $1',
      ]
      for (const sql of attempts) {
        const error = await sqlError(db.query(sql, [row?.id], { role: probe }))
        expect(error.code).toBe('42501')
        expect(error.message).toMatch(/append-only/)
      }
      const truncate = await sqlError(
        db.query('TRUNCATE public.secret_access_log', [], { role: probe }),
      )
      expect(truncate).toMatchObject({
        code: '42501',
        message: expect.stringMatching(/append-only/),
      })
      expect(await audit(name)).toEqual([row])

      // The owner may still prune (retention).
      await db.query('DELETE FROM public.secret_access_log WHERE id = $1', [row?.id], {
        role: 'owner',
      })
      expect(await audit(name)).toEqual([])
    } finally {
      await db.query(`REVOKE ALL ON public.secret_access_log FROM ${probe}`, [], { role: 'owner' })
      await db.query(`DROP ROLE ${probe}`, [], { role: 'owner' })
    }
  })

  // --- encryption ---------------------------------------------------------------------------

  it('binds a ciphertext to its row: secret and nonce copied into another row fail to decrypt (KW003; 22000 on the real vault)', async () => {
    const source = fresh('copy_source')
    const target = fresh('copy_target')
    await store(source, 'source-value')
    await store(target, 'target-value')
    const copy = (columns: string) =>
      tamper(
        `UPDATE vault.secrets t SET ${columns} FROM vault.secrets s WHERE s.name = $1 AND t.name = $2`,
        [source, target],
      )

    await copy('secret = s.secret, nonce = s.nonce, key_id = s.key_id')
    for (const read of [
      () => get(target),
      () =>
        db.query('SELECT decrypted_secret FROM vault.decrypted_secrets WHERE name = $1', [target]),
      () => db.query('SELECT * FROM public.get_secrets($1)', [[target]]),
    ]) {
      const error = await sqlError(read())
      expect(error.code).toBe(decryptionFailure.code)
      expect(error.message).toMatch(decryptionFailure.message)
      expectNoTrace(error, 'source-value')
    }

    const other = fresh('copy_secret_only')
    await store(other, 'other-value')
    await tamper(
      'UPDATE vault.secrets t SET secret = s.secret FROM vault.secrets s WHERE s.name = $1 AND t.name = $2',
      [source, other],
    )
    expect((await sqlError(get(other))).code).toBe(decryptionFailure.code)
    expect(await get(source)).toBe('source-value')
  })

  it.runIf(compatibleVault)(
    'refuses a wrong root key (KW003, naming another root key) and changes nothing under it',
    async () => {
      const name = fresh('wrong_key')
      await store(name, 'right-key-value')
      const wrongKey = randomRootKey()
      const error = await sqlError(get(name, { rootKey: wrongKey }))
      expect(error.code).toBe('KW003')
      expect(error.message).toMatch(/another root key/)
      expectNoTrace(error, wrongKey)
      expectNoTrace(error, db.rootKey)
      expectNoTrace(error, 'right-key-value')
      expect(
        (
          await sqlError(
            db.query(
              'SELECT decrypted_secret FROM vault.decrypted_secrets WHERE name = $1',
              [name],
              {
                rootKey: wrongKey,
              },
            ),
          )
        ).code,
      ).toBe('KW003')

      // A write under the wrong key would leave a secret no client with the real key can read.
      const before = await counts()
      expect(
        (await sqlError(store(name, 'written-with-wrong-key', { rootKey: wrongKey }))).code,
      ).toBe('KW003')
      expect(
        (await sqlError(rotate(name, 'rotated-with-wrong-key', undefined, { rootKey: wrongKey })))
          .code,
      ).toBe('KW003')
      expect(
        (await sqlError(rotate(name, 'rotated-with-wrong-key', '0', { rootKey: wrongKey }))).code,
      ).toBe('KW003')
      expect(await counts()).toEqual(before)
      expect(await get(name)).toBe('right-key-value')
      expect((await listed(name))[0]?.version).toBe(1)
    },
  )

  it.runIf(compatibleVault)(
    'refuses to work without a root key (KW001, naming keywarden.root_key), never falling back to plaintext',
    async () => {
      const name = fresh('no_key')
      await store(name, 'keyed-value')
      const before = await counts()
      const attempts: Array<() => Promise<unknown>> = [
        () => get(name, { rootKey: null }),
        () => store(fresh('no_key_new'), 'unkeyed-value', { rootKey: null }),
        () => store(name, 'unkeyed-value', { rootKey: null }),
        () => rotate(name, 'unkeyed-value', undefined, { rootKey: null }),
        () =>
          db.query("SELECT vault.create_secret('unkeyed-value', $1)", [fresh('no_key_vault')], {
            rootKey: null,
          }),
        () =>
          db.query('SELECT decrypted_secret FROM vault.decrypted_secrets WHERE name = $1', [name], {
            rootKey: null,
          }),
      ]
      for (const attempt of attempts) {
        const error = await sqlError(attempt())
        expect(error.code).toBe('KW001')
        expect(error.message).toContain('keywarden.root_key')
        expectNoTrace(error, 'unkeyed-value')
      }
      expect(await counts()).toEqual(before)
      expect(await get(name)).toBe('keyed-value')
    },
  )

  it.runIf(compatibleVault)('refuses a malformed root key (KW002)', async () => {
    const name = fresh('bad_key')
    await store(name, 'value-under-good-key')
    const before = await counts()
    for (const badKey of ['zz'.repeat(32), 'ab'.repeat(31), 'ab'.repeat(33), 'not-a-key']) {
      expect((await sqlError(get(name, { rootKey: badKey }))).code).toBe('KW002')
      const error = await sqlError(store(fresh('bad_key_new'), 'value', { rootKey: badKey }))
      expect(error.code).toBe('KW002')
      expect(error.message).toContain('64 hex characters')
      expectNoTrace(error, badKey)
    }
    expect(await counts()).toEqual(before)
  })

  it.runIf(!compatibleVault)(
    'uses the server key on the real vault: a session key, wrong, malformed or none, changes nothing',
    async () => {
      const name = fresh('server_key')
      await store(name, 'server-key-value')
      for (const rootKey of [null, randomRootKey(), 'not-a-key']) {
        expect(await get(name, { rootKey })).toBe('server-key-value')
      }
      await store(name, 'stored-without-session-key', { rootKey: null })
      expect(await get(name)).toBe('stored-without-session-key')
      expect(await getPrevious(name)).toBeNull()
    },
  )

  it('never stores a value in plaintext in vault.secrets.secret', async () => {
    const values = {
      [fresh('plain_ascii')]: 'sk-live-0123456789abcdef',
      [fresh('plain_unicode')]: 'пароль-密钥-🔑',
      [fresh('plain_same_1')]: 'identical-value',
      [fresh('plain_same_2')]: 'identical-value',
    }
    for (const [name, value] of Object.entries(values)) await store(name, value)
    const rows = await vaultRows(Object.keys(values))
    expect(rows).toHaveLength(4)
    for (const row of rows) {
      const value = values[row.name] as string
      expect(row.secret).toMatch(/^[A-Za-z0-9+/\n]+={0,2}$/)
      expect(row.secret).not.toContain(value)
      const bytes = Buffer.from(row.secret, 'base64')
      expect(bytes.includes(Buffer.from(value, 'utf8'))).toBe(false)
      expect(row.nonce.length).toBeGreaterThanOrEqual(12)
    }
    const same = rows.filter((row) => row.name.startsWith('plain_same_'))
    expect(same[0]?.secret).not.toBe(same[1]?.secret)
  })

  // --- rotation -----------------------------------------------------------------------------

  it('rotates: the version increments and the previous value is served during the grace period', async () => {
    const name = fresh('rotating')
    await store(name, 'value-1')
    const first = await rotate(name, 'value-2')
    expect(first.secret_version).toBe(2)
    expect(first.previous_valid_until).toBeInstanceOf(Date)
    expect(await get(name)).toBe('value-2')
    expect(await getPrevious(name)).toBe('value-1')
    expect((await listed(name))[0]?.version).toBe(2)

    const second = await rotate(name, 'value-3', '1 hour')
    expect(second.secret_version).toBe(3)
    expect(await get(name)).toBe('value-3')
    expect(await getPrevious(name)).toBe('value-2')
    // Only one previous value is kept.
    expect((await vaultRows([name, `${name}@previous`])).map((row) => row.name)).toEqual([
      name,
      `${name}@previous`,
    ])

    const reads = (await audit(name)).filter((row) => row.access_type === 'read')
    expect(reads.map((row) => [row.success, row.secret_version])).toEqual([
      [true, 2],
      [true, 1],
      [true, 3],
      [true, 2],
    ])
    expect((await audit(name)).filter((row) => row.access_type === 'rotate')).toMatchObject([
      { success: true, secret_version: 2 },
      { success: true, secret_version: 3 },
    ])
  })

  it("drops the previous value at once with grace_period => '0'", async () => {
    const name = fresh('no_grace')
    await store(name, 'old-value')
    await rotate(name, 'middle-value')
    const rotated = await rotate(name, 'new-value', '0')
    expect(rotated).toMatchObject({ secret_version: 3, previous_valid_until: null })
    expect(await get(name)).toBe('new-value')
    expect(await getPrevious(name)).toBeNull()
    expect((await audit(name)).at(-1)).toMatchObject({
      access_type: 'read',
      success: false,
      error_message: 'no previous value in its grace period',
    })
    expect((await vaultRows([name, `${name}@previous`])).map((row) => row.name)).toEqual([name])
    const row = only(
      await db.query<{ previous_valid_until: Date | null }>(
        'SELECT previous_valid_until FROM public.list_secret_names() WHERE name = $1',
        [name],
      ),
    )
    expect(row.previous_valid_until).toBeNull()
  })

  it('records the version actually served when the previous value is read after a store', async () => {
    const name = fresh('previous_after_store')
    await store(name, 'version-1')
    await rotate(name, 'version-2')
    await store(name, 'version-3')
    // "previous" is the value before the last rotation: version 1.
    expect(await getPrevious(name)).toBe('version-1')
    expect((await audit(name)).at(-1)).toMatchObject({
      access_type: 'read',
      success: true,
      secret_version: 1,
    })
  })

  it('stops serving the previous value once its grace period has ended, and purges it', async () => {
    const name = fresh('grace_over')
    await store(name, 'expired-previous')
    await rotate(name, 'current-value')
    // Move the end of the grace period into the past instead of waiting for it.
    await db.query(
      "UPDATE keywarden.secrets SET previous_valid_until = now() - interval '1 second' WHERE name = $1",
      [name],
      { role: 'owner' },
    )
    expect(await getPrevious(name)).toBeNull()
    await store(fresh('grace_trigger'), 'any-write-purges')
    expect((await vaultRows([name, `${name}@previous`])).map((row) => row.name)).toEqual([name])
    expect(await get(name)).toBe('current-value')
  })

  it('refuses to rotate a missing secret (KW404) or to rotate to a bad value or grace period', async () => {
    const missing = fresh('never_stored')
    const before = await counts()
    const error = await sqlError(rotate(missing, 'some-value'))
    expect(error.code).toBe('KW404')
    expectNoTrace(error, 'some-value')
    expect(await counts()).toEqual(before)

    const name = fresh('rotate_checks')
    await store(name, 'kept-value')
    const kept = await counts()
    expect((await sqlError(rotate(name, ''))).code).toBe('KW011')
    expect((await sqlError(rotate(name, null))).code).toBe('KW011')
    expect((await sqlError(rotate(name, 'x'.repeat(65_537)))).code).toBe('KW011')
    expect((await sqlError(rotate(name, 'new-value', '-1 hour'))).code).toBe('KW012')
    expect(await counts()).toEqual(kept)
    expect(await get(name)).toBe('kept-value')
  })

  it('lists names and metadata, never values', async () => {
    const name = fresh('listed')
    const value = `listed-value-${randomBytes(6).toString('hex')}`
    await store(name, value)
    await rotate(name, `${value}-rotated`)
    const rows = await db.query('SELECT * FROM public.list_secret_names()')
    expect(rows.map((row) => row.name)).toContain(name)
    expect(rows.map((row) => row.name)).not.toContain(`${name}@previous`)
    expectNoTrace(rows, value)
    const names = rows.map((row) => row.name as string)
    expect(names).toEqual([...names].sort())
  })

  it('defaults secret_type to other and derives rotation_due_at from the type', async () => {
    const cases: Array<[string | null, string, number | null]> = [
      ['github_token', 'github_token', 90],
      ['api_key', 'api_key', 90],
      ['service_key', 'service_key', 180],
      ['signing_key', 'signing_key', null],
      ['other', 'other', null],
      [null, 'other', null],
    ]
    const names: string[] = []
    for (const [type] of cases) {
      const name = fresh(`typed_${type ?? 'default'}`)
      names.push(name)
      await db.query("SELECT public.store_secret($1, 'typed-value', secret_type => $2)", [
        name,
        type,
      ])
    }
    const custom = fresh('typed_custom')
    await db.query(
      "SELECT public.store_secret($1, 'typed-value', secret_type => 'api_key', rotation_interval => '30 days')",
      [custom],
    )
    const rows = await db.query<{
      name: string
      secret_type: string
      rotation_interval_days: number | null
      due_after: number | null
    }>(
      `SELECT name, secret_type, rotation_interval_days::float8 AS rotation_interval_days,
              extract(epoch FROM rotation_due_at - created_at)::float8 / 86400 AS due_after
         FROM public.list_secret_names() WHERE name = ANY($1)`,
      [[...names, custom]],
    )
    const byName = new Map(rows.map((row) => [row.name, row]))
    cases.forEach(([, type, interval], index) => {
      expect(byName.get(names[index] as string)).toEqual({
        name: names[index],
        secret_type: type,
        rotation_interval_days: interval,
        due_after: interval,
      })
    })
    expect(byName.get(custom)).toMatchObject({ rotation_interval_days: 30, due_after: 30 })

    // After a rotation the clock restarts from it.
    const github = names[0] as string
    await rotate(github, 'typed-value-2')
    expect(
      only(
        await db.query<{ due_after: string }>(
          `SELECT (rotation_due_at - last_rotated_at)::text AS due_after
             FROM public.list_secret_names() WHERE name = $1`,
          [github],
        ),
      ).due_after,
    ).toBe('90 days')

    const before = await counts()
    for (const sql of [
      "SELECT public.store_secret($1, 'v', secret_type => 'password')",
      "SELECT public.store_secret($1, 'v', rotation_interval => '0')",
      "SELECT public.store_secret($1, 'v', rotation_interval => '-1 day')",
    ]) {
      expect((await sqlError(db.query(sql, [fresh('typed_bad')]))).code).toBe('KW012')
    }
    expect(await counts()).toEqual(before)
  })

  it('creates no new version when the stored value is unchanged', async () => {
    const name = fresh('unchanged')
    const id = await store(name, 'same-value')
    const [before] = await vaultRows([name])
    expect(await store(name, 'same-value')).toBe(id)
    expect((await listed(name))[0]?.version).toBe(1)
    expect(await vaultRows([name])).toEqual([before])
    expect(await store(name, 'changed-value')).toBe(id)
    expect((await listed(name))[0]?.version).toBe(2)
    expect((await vaultRows([name]))[0]?.secret).not.toBe(before?.secret)
    expect(
      (await audit(name)).map((row) => [row.access_type, row.success, row.secret_version]),
    ).toEqual([
      ['store', true, 1],
      ['store', true, 1],
      ['store', true, 2],
    ])
    expect(await get(name)).toBe('changed-value')
  })

  it('reports secrets that expire or fall due within the window', async () => {
    const soon = fresh('expires_soon')
    const later = fresh('expires_later')
    const past = fresh('expired')
    const due = fresh('rotation_due')
    const insert = (name: string, extra: string) =>
      db.query(`SELECT public.store_secret($1, 'expiring-value', ${extra})`, [name])
    await insert(soon, "expires_at => now() + interval '2 days'")
    await insert(later, "expires_at => now() + interval '30 days'")
    await insert(past, "expires_at => now() - interval '1 day'")
    await insert(due, "secret_type => 'github_token'")
    const check = async (days: number) =>
      (
        await db.query<{ name: string; reason: string; overdue: boolean }>(
          'SELECT name, reason, overdue FROM public.check_expiring_secrets($1) WHERE name = ANY($2)',
          [days, [soon, later, past, due]],
        )
      ).map((row) => [row.name, row.reason, row.overdue])

    expect(await check(0)).toEqual([[past, 'expires', true]])
    expect(await check(7)).toEqual([
      [past, 'expires', true],
      [soon, 'expires', false],
    ])
    expect(await check(31)).toEqual([
      [past, 'expires', true],
      [soon, 'expires', false],
      [later, 'expires', false],
    ])
    expect(await check(91)).toEqual([
      [past, 'expires', true],
      [soon, 'expires', false],
      [later, 'expires', false],
      [due, 'rotation_due', false],
    ])
    const rows = await db.query('SELECT * FROM public.check_expiring_secrets()')
    expect(rows.map((row) => row.name)).toEqual(expect.arrayContaining([past, soon]))
    expect(rows.map((row) => row.name)).not.toContain(later)
    expectNoTrace(rows, 'expiring-value')
    expect((await sqlError(db.query('SELECT * FROM public.check_expiring_secrets(-1)'))).code).toBe(
      'KW012',
    )
  })

  // --- many at once -------------------------------------------------------------------------

  it('returns one row per distinct name in request order from get_secrets, with one audit row each', async () => {
    const a = fresh('many_a')
    const b = fresh('many_b')
    const missing = fresh('many_missing')
    await store(a, 'value-a')
    await store(b, 'value-b')
    await rotate(b, 'value-b2')
    const rows = await db.query('SELECT * FROM public.get_secrets($1)', [[b, missing, a, b, a]])
    expect(rows).toEqual([
      { secret_name: b, secret_value: 'value-b2', secret_version: 2 },
      { secret_name: missing, secret_value: null, secret_version: null },
      { secret_name: a, secret_value: 'value-a', secret_version: 1 },
    ])
    const reads = (name: string) =>
      audit(name).then((log) =>
        log
          .filter((row) => row.access_type === 'read')
          .map((row) => [row.success, row.error_message, row.secret_version]),
      )
    expect(await reads(a)).toEqual([[true, null, 1]])
    expect(await reads(b)).toEqual([[true, null, 2]])
    expect(await reads(missing)).toEqual([[false, 'secret not found', null]])

    const before = await counts()
    expect(await db.query('SELECT * FROM public.get_secrets($1)', [[]])).toEqual([])
    expect(
      (await sqlError(db.query('SELECT * FROM public.get_secrets($1)', [[a, 'Not Valid']]))).code,
    ).toBe('KW010')
    expect((await sqlError(db.query('SELECT * FROM public.get_secrets(NULL)'))).code).toBe('KW012')
    expect(await counts()).toEqual(before)
  })

  it('decrypts only the rows get_secrets is asked for, with every plan: an undecryptable row nobody asked for fails no call', async () => {
    const asked = fresh('plan_asked')
    const rotated = fresh('plan_rotated')
    const broken = fresh('plan_broken')
    const donor = fresh('plan_donor')
    await store(asked, 'asked-value')
    await store(rotated, 'old-value')
    await rotate(rotated, 'new-value')
    await store(broken, 'broken-value')
    await store(donor, 'donor-value')
    await tamper(
      'UPDATE vault.secrets t SET secret = s.secret FROM vault.secrets s WHERE s.name = $1 AND t.name = $2',
      [donor, broken],
    )
    expect((await sqlError(get(broken))).code).toBe(decryptionFailure.code)

    // One session, as PostgREST's pool and the stores keep them: after five calls PostgreSQL may
    // switch a PL/pgSQL statement to its generic plan, which force_generic_plan makes certain.
    await inOneSession(async (run) => {
      await run('SET ROLE service_role')
      for (const mode of ['auto', 'force_generic_plan']) {
        await run(`SET plan_cache_mode = ${mode}`)
        for (let call = 0; call < 8; call += 1) {
          expect(
            await run('SELECT secret_name, secret_value FROM public.get_secrets($1)', [[asked]]),
          ).toEqual([{ secret_name: asked, secret_value: 'asked-value' }])
          expect(
            await run(
              "SELECT secret_name, secret_value FROM public.get_secrets($1, NULL, 'previous')",
              [[rotated]],
            ),
          ).toEqual([{ secret_name: rotated, secret_value: 'old-value' }])
        }
      }
    })
  })

  it('reads previous values through get_secrets while their grace period lasts', async () => {
    const rotated = fresh('many_prev_rotated')
    const stored = fresh('many_prev_stored')
    await store(rotated, 'first')
    await rotate(rotated, 'second')
    await store(stored, 'only')
    const rows = await db.query('SELECT * FROM public.get_secrets($1, NULL, $2)', [
      [rotated, stored],
      'previous',
    ])
    expect(rows).toEqual([
      { secret_name: rotated, secret_value: 'first', secret_version: 1 },
      { secret_name: stored, secret_value: null, secret_version: null },
    ])
    expect((await audit(stored)).at(-1)).toMatchObject({
      success: false,
      error_message: 'no previous value in its grace period',
    })
    expect(
      (
        await sqlError(
          db.query('SELECT * FROM public.get_secrets($1, NULL, $2)', [[stored], 'older']),
        )
      ).code,
    ).toBe('KW012')
  })

  it('reports the vault and its schema without auditing anything', async () => {
    const before = await counts()
    const status = only(await db.query('SELECT * FROM public.vault_status()'))
    const newest = (await loadMigrations()).at(-1)?.version
    expect(status).toEqual({
      vault: compatibleVault ? 'keywarden_pgcrypto' : 'supabase_vault',
      secret_count: before.metadata,
      schema_version: newest,
    })
    expect(await counts()).toEqual(before)
  })

  it('writes a batch of client-side audit events in one call', async () => {
    const name = fresh('batch')
    const who = `edge-${name}`
    const events = [
      {
        secret_name: name,
        accessed_by: 'mcp:claude',
        access_type: 'cache_hit',
        success: true,
        event_count: 12,
        secret_version: 3,
        source: 'cache',
      },
      {
        secret_name: name,
        accessed_by: 'cli',
        access_type: 'env_fallback',
        success: true,
        source: 'env',
      },
      {
        secret_name: '*',
        accessed_by: who,
        access_type: 'denied',
        success: false,
        error_message: 'bearer token rejected',
        created_at: '2026-01-02T03:04:05.000Z',
      },
      ...Array.from({ length: 22 }, (_, index) => ({
        secret_name: name,
        accessed_by: `worker-${index}`,
        access_type: 'cache_hit',
        success: true,
        // Optional fields may be null.
        ...(index === 0
          ? { error_message: null, created_at: null, secret_version: null, source: null }
          : index === 1
            ? { secret_version: 0 }
            : {}),
      })),
    ]
    const before = await counts()
    expect(
      only(
        await db.query('SELECT public.log_secret_access_batch($1::jsonb) AS written', [
          JSON.stringify(events),
        ]),
      ).written,
    ).toBe(25)
    expect((await counts()).audit).toBe(before.audit + 25)
    const rows = await audit(name)
    expect(rows).toHaveLength(24)
    expect(rows[0]).toMatchObject({
      accessed_by: 'mcp:claude',
      access_type: 'cache_hit',
      success: true,
      event_count: 12,
      secret_version: 3,
      source: 'cache',
      error_message: null,
    })
    expect(rows[1]).toMatchObject({ access_type: 'env_fallback', event_count: 1, source: 'env' })
    const denied = only(
      await db.query<AuditRow>('SELECT * FROM public.secret_access_log WHERE accessed_by = $1', [
        who,
      ]),
    )
    expect(denied).toMatchObject({
      secret_name: '*',
      success: false,
      error_message: 'bearer token rejected',
    })
    // The server's clock decides created_at; a client time that far off is not kept either.
    expect(Math.abs(denied.created_at.getTime() - Date.now())).toBeLessThan(60_000)
    expect(denied.client_time).toBeNull()
    expect(
      only(await db.query("SELECT public.log_secret_access_batch('[]') AS written")).written,
    ).toBe(0)
  })

  it('refuses a batch with any malformed event (KW012) and writes none of it', async () => {
    const name = fresh('batch_bad')
    const valid = { secret_name: name, accessed_by: 'cli', access_type: 'cache_hit', success: true }
    const malformed: unknown[] = [
      { ...valid, success: undefined },
      { ...valid, success: 'true' },
      { ...valid, secret_name: 'Not Valid' },
      { ...valid, secret_name: undefined },
      { ...valid, secret_name: 5 },
      { ...valid, accessed_by: 7 },
      { ...valid, access_type: undefined },
      { ...valid, error_message: { text: 'not a string' } },
      { ...valid, source: 3 },
      { ...valid, accessed_by: '' },
      { ...valid, accessed_by: 'x'.repeat(201) },
      { ...valid, access_type: 'Cache-Hit' },
      { ...valid, error_message: 'x'.repeat(1001) },
      { ...valid, source: 'x'.repeat(33) },
      { ...valid, event_count: 0 },
      { ...valid, event_count: -3 },
      { ...valid, event_count: 1.5 },
      { ...valid, event_count: '2' },
      { ...valid, event_count: 2 ** 31 },
      { ...valid, secret_version: 'three' },
      { ...valid, secret_version: 2.5 },
      { ...valid, secret_version: -1 },
      { ...valid, secret_version: 2 ** 31 },
      { ...valid, created_at: 'not a date' },
      { ...valid, created_at: 12_345 },
      'just a string',
      null,
    ]
    const before = await counts()
    for (const event of malformed) {
      const error = await sqlError(
        db.query('SELECT public.log_secret_access_batch($1::jsonb)', [
          JSON.stringify([valid, valid, event]),
        ]),
      )
      expect({ event, code: error.code }).toEqual({ event, code: 'KW012' })
      expect(error.message).toMatch(/event 2 is malformed/)
    }
    for (const events of ['{}', 'null', '"[]"']) {
      expect(
        (await sqlError(db.query('SELECT public.log_secret_access_batch($1::jsonb)', [events])))
          .code,
      ).toBe('KW012')
    }
    expect((await sqlError(db.query('SELECT public.log_secret_access_batch(NULL)'))).code).toBe(
      'KW012',
    )
    expect(await counts()).toEqual(before)
  })

  it('answers audit queries newest first, filtered by name, failure and row count', async () => {
    const name = fresh('queried')
    await store(name, 'queried-value')
    expect(await get(name)).toBe('queried-value')
    await db.query('SELECT public.delete_secret($1)', [name])
    expect(await get(name)).toBeNull()
    const query = (sql: string, params: unknown[]) =>
      db
        .query<AuditRow>(sql, params)
        .then((rows) => rows.map((row) => [row.access_type, row.success]))
    expect(await query('SELECT * FROM public.query_secret_access_log($1)', [name])).toEqual([
      ['read', false],
      ['delete', true],
      ['read', true],
      ['store', true],
    ])
    expect(
      await query('SELECT * FROM public.query_secret_access_log($1, failed_only => true)', [name]),
    ).toEqual([['read', false]])
    expect(
      await query('SELECT * FROM public.query_secret_access_log($1, max_rows => 1)', [name]),
    ).toEqual([['read', false]])
    expect(
      (
        await sqlError(
          db.query('SELECT * FROM public.query_secret_access_log($1, max_rows => 0)', [name]),
        )
      ).code,
    ).toBe('KW012')
    expect(
      (await sqlError(db.query('SELECT * FROM public.query_secret_access_log($1)', ['Not Valid'])))
        .code,
    ).toBe('KW010')
  })

  // --- delete and compatibility --------------------------------------------------------------

  it('deletes a secret with its previous value, and reports a missing one', async () => {
    const name = fresh('deleted')
    await store(name, 'to-delete')
    await rotate(name, 'to-delete-2')
    const delete_ = async () =>
      only(
        await db.query<{ deleted: boolean }>('SELECT public.delete_secret($1) AS deleted', [name]),
      ).deleted
    expect(await delete_()).toBe(true)
    expect(await get(name)).toBeNull()
    expect(await getPrevious(name)).toBeNull()
    expect(await listed(name)).toEqual([])
    expect(await vaultRows([name, `${name}@previous`])).toEqual([])
    expect(
      await db.query('SELECT name FROM keywarden.secrets WHERE name = $1', [name], {
        role: 'owner',
      }),
    ).toEqual([])
    expect(await delete_()).toBe(false)
    expect(
      (await audit(name))
        .filter((row) => row.access_type === 'delete')
        .map((row) => [row.success, row.error_message]),
    ).toEqual([
      [true, null],
      [false, 'secret not found'],
    ])
    await store(name, 'born-again')
    expect((await listed(name))[0]?.version).toBe(1)
    expect(await get(name)).toBe('born-again')
  })

  it('deletes the staged value and every vault row of a secret whose metadata is deleted', async () => {
    const name = fresh('deleted_staged')
    await store(name, 'current')
    await rotate(name, 'current-2')
    await db.query('SELECT public.stage_rotation($1, $2)', [name, 'staged'])
    expect(
      only(
        await db.query<{ deleted: boolean }>('SELECT public.delete_secret($1) AS deleted', [name]),
      ).deleted,
    ).toBe(true)
    expect(await vaultRows([name, `${name}@previous`, `${name}@pending`])).toEqual([])

    // The metadata row itself deleted (by its owner): its trigger takes the vault rows with it.
    const other = fresh('deleted_metadata')
    await store(other, 'current')
    await rotate(other, 'current-2')
    await db.query('SELECT public.stage_rotation($1, $2)', [other, 'staged'])
    await db.query('DELETE FROM keywarden.secrets WHERE name = $1', [other], { role: 'owner' })
    expect(await vaultRows([other, `${other}@previous`, `${other}@pending`])).toEqual([])
  })

  it('settles metadata whose vault rows were deleted outside Keywarden, as the foreign keys did', async () => {
    const name = fresh('outside_delete')
    await store(name, 'first')
    await rotate(name, 'second')
    await db.query('SELECT public.stage_rotation($1, $2)', [name, 'staged'])
    // Supabase's grants let service_role delete vault rows directly (so does the dashboard).
    await db.query('DELETE FROM vault.secrets WHERE name = $1', [name])
    expect(await listed(name)).toEqual([])
    expect(
      await db.query('SELECT name FROM public.secret_metrics() WHERE name = $1', [name]),
    ).toEqual([])
    // The next write starts the name over, and the metadata's previous and pending rows went.
    await store(name, 'third')
    expect(await get(name)).toBe('third')
    expect((await listed(name))[0]?.version).toBe(1)
    expect(await getPrevious(name)).toBeNull()
    expect(
      (await vaultRows([name, `${name}@previous`, `${name}@pending`])).map((row) => row.name),
    ).toEqual([name])

    // A staged or previous row deleted outside: the pointers are cleared at the next change.
    const staged = fresh('outside_pending')
    await store(staged, 'current')
    await rotate(staged, 'current-2')
    await db.query('SELECT public.stage_rotation($1, $2)', [staged, 'staged'])
    await db.query('DELETE FROM vault.secrets WHERE name = ANY($1)', [
      [`${staged}@pending`, `${staged}@previous`],
    ])
    expect(
      (await sqlError(db.query('SELECT * FROM public.promote_staged_rotation($1)', [staged]))).code,
    ).toBe('KW404')
    expect(await getPrevious(staged)).toBeNull()
    // A write that commits settles the pointers (a refused one rolls back with its error).
    expect(
      await db.query('SELECT public.discard_staged_rotation($1) AS discarded', [staged]),
    ).toEqual([{ discarded: false }])
    expect(
      await db.query(
        `SELECT pending_vault_secret_id, pending_staged_at, previous_vault_secret_id, previous_valid_until
           FROM keywarden.secrets WHERE name = $1`,
        [staged],
        { role: 'owner' },
      ),
    ).toEqual([
      {
        pending_vault_secret_id: null,
        pending_staged_at: null,
        previous_vault_secret_id: null,
        previous_valid_until: null,
      },
    ])
    expect(await get(staged)).toBe('current-2')
  })

  it('serves and adopts a vault secret made outside Keywarden (e.g. in the Supabase dashboard)', async () => {
    const name = fresh('dashboard')
    const id = only(
      await db.query<{ id: string }>(
        "SELECT vault.create_secret('made-in-dashboard', $1, 'made outside') AS id",
        [name],
      ),
    ).id
    expect(await get(name)).toBe('made-in-dashboard')
    expect(await listed(name)).toEqual([
      { name, version: 1, secret_type: 'other', description: 'made outside' },
    ])
    expect(await store(name, 'adopted-value')).toBe(id)
    expect(await vaultRows([name])).toHaveLength(1)
    expect(await get(name)).toBe('adopted-value')
    // A new value is a new version, whoever made the first one.
    expect(await listed(name)).toEqual([
      { name, version: 2, secret_type: 'other', description: 'made outside' },
    ])
    expect((await audit(name)).map((row) => [row.access_type, row.secret_version])).toEqual([
      ['read', 1],
      ['store', 2],
      ['read', 2],
    ])

    // Adopting with the value it already has keeps version 1 and the ciphertext.
    const same = fresh('dashboard_same')
    await db.query("SELECT vault.create_secret('same-value', $1)", [same])
    const [before] = await vaultRows([same])
    await store(same, 'same-value')
    expect((await listed(same))[0]?.version).toBe(1)
    expect((await vaultRows([same]))[0]?.secret).toBe(before?.secret)
    expect(await get(same)).toBe('same-value')
  })

  // --- notifications ------------------------------------------------------------------------

  it('notifies keywarden_secrets with the name after store, rotate and delete, and only then', async () => {
    const name = fresh('notified')
    const marker = fresh('notify_marker')
    const heard: string[] = []
    let wake = () => {}
    const unlisten = await db.listen('keywarden_secrets', (payload) => {
      heard.push(payload)
      wake()
    })
    const hear = async (payload: string, times: number) => {
      while (heard.filter((entry) => entry === payload).length < times) {
        await new Promise<void>((resolve) => {
          wake = resolve
        })
      }
    }
    try {
      await store(name, 'notify-1')
      await hear(name, 1)
      await rotate(name, 'notify-2')
      await hear(name, 2)
      // Reads and failed writes notify nobody: by the time a later change is heard, they'd have been.
      expect(await get(name)).toBe('notify-2')
      await db.query('SELECT * FROM public.get_secrets($1)', [[name]])
      await sqlError(
        db.query("SELECT public.store_secret($1, 'notify-3', secret_type => 'bogus')", [name]),
      )
      await store(marker, 'marker-value')
      await hear(marker, 1)
      await db.query('SELECT public.delete_secret($1)', [name])
      await hear(name, 3)
      expect(heard).toEqual([name, name, marker, name])
      expectNoTrace(heard, 'notify-')
    } finally {
      await unlisten()
    }
  })

  // --- concurrency (PostgreSQL only: PGlite is one session) ---------------------------------

  if (kind === 'postgres') {
    it('serialises 20 concurrent connections storing and rotating one name: no version lost or repeated', async () => {
      if (db.kind !== 'postgres') throw new Error('a PostgreSQL backend was expected')
      const database = db.database
      const clients = await Promise.all(Array.from({ length: 20 }, () => database.connect()))
      try {
        const name = fresh('contended')
        const values = new Map<string, string>()
        const run = (
          label: string,
          sql: string,
          value: string,
          client: (typeof clients)[number],
        ) => {
          values.set(label, value)
          return queryAs<{ version: number | null }>(client, 'service_role', sql, [
            name,
            value,
            label,
          ])
        }
        // Creation races too: 20 first stores of a name that does not exist yet.
        await Promise.all(
          clients.map((client, index) =>
            run(
              `creator-${index}`,
              'SELECT NULL::int AS version, public.store_secret($1, $2, accessed_by => $3)',
              `first-${index}`,
              client,
            ),
          ),
        )
        // Then stores and rotations interleaved.
        const rotated = await Promise.all(
          clients.map((client, index) =>
            index % 2 === 0
              ? run(
                  `storer-${index}`,
                  'SELECT NULL::int AS version, public.store_secret($1, $2, accessed_by => $3)',
                  `second-${index}`,
                  client,
                )
              : run(
                  `rotator-${index}`,
                  'SELECT secret_version AS version FROM public.rotate_secret($1, $2, accessed_by => $3)',
                  `second-${index}`,
                  client,
                ),
          ),
        )

        const writes = (await audit(name)).filter((row) =>
          ['store', 'rotate'].includes(row.access_type),
        )
        expect(writes).toHaveLength(40)
        expect(writes.every((row) => row.success)).toBe(true)
        const versionOf = new Map(writes.map((row) => [row.accessed_by, row.secret_version]))
        expect(versionOf.size).toBe(40)
        expect([...versionOf.values()].sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(
          Array.from({ length: 40 }, (_, index) => index + 1),
        )
        // Every creator came before every second-round writer.
        for (let index = 0; index < 20; index++) {
          expect(versionOf.get(`creator-${index}`)).toBeLessThanOrEqual(20)
        }
        // What rotate returned is what it recorded.
        rotated.forEach((rows, index) => {
          if (index % 2 === 1) expect(rows[0]?.version).toBe(versionOf.get(`rotator-${index}`))
        })

        expect((await listed(name))[0]?.version).toBe(40)
        expect(await vaultRows([name])).toHaveLength(1)
        const labelOf = (version: number) =>
          [...versionOf.entries()].find(([, recorded]) => recorded === version)?.[0] ?? ''
        expect(await get(name)).toBe(values.get(labelOf(40)))
        const lastRotation = Math.max(
          ...writes
            .filter((row) => row.access_type === 'rotate')
            .map((row) => row.secret_version ?? 0),
        )
        expect(await getPrevious(name)).toBe(values.get(labelOf(lastRotation - 1)))
      } finally {
        await Promise.all(clients.map((client) => client.end()))
      }
    })
  }

  // --- input validation ---------------------------------------------------------------------

  it('refuses bad names with KW010, changing nothing and never echoing the name', async () => {
    const badNames = [
      "it's_mine",
      'semi;colon',
      "x'); drop table vault.secrets; --",
      '100%_sure',
      'under_%',
      'clé_secrète',
      '密钥',
      'key_🔑',
      'GitHub_Token',
      'UPPERCASE',
      '',
      ' padded',
      'trailing ',
      '-leading-dash',
      '.leading-dot',
      '_leading_underscore',
      'tab\tname',
      'new\nline',
      'name@previous',
      'slash/name',
      'a'.repeat(129),
      `b${'c'.repeat(200)}`,
      null,
    ]
    const calls = [
      'SELECT public.store_secret($1, $2)',
      'SELECT public.get_secret($1, $2)',
      'SELECT * FROM public.get_secrets(ARRAY[$1::text], $2)',
      'SELECT * FROM public.rotate_secret($1, $2)',
      'SELECT public.delete_secret($1, $2)',
      'SELECT * FROM public.query_secret_access_log($1, $2::text IS NULL)',
    ]
    const before = await counts()
    for (const name of badNames) {
      // A NULL name asks query_secret_access_log for every name, which is allowed.
      for (const sql of name === null ? calls.slice(0, -1) : calls) {
        const error = await sqlError(db.query(sql, [name, 'a-valid-value']))
        expect({ name, sql, code: error.code }).toEqual({ name, sql, code: 'KW010' })
        if (name) {
          for (const field of [error.message, error.detail, error.hint, error.where]) {
            expect(field ?? '').not.toContain(name)
          }
        }
      }
    }
    expect(await counts()).toEqual(before)

    // The limits themselves are accepted.
    for (const name of ['a'.repeat(128), '0', '9lives', 'a.b-c_d']) {
      await store(name, 'boundary-value')
      expect(await get(name)).toBe('boundary-value')
    }
  })

  it('refuses empty and oversized values with KW011, counting bytes, and accepts exactly 64 KiB', async () => {
    const name = fresh('sized')
    const before = await counts()
    const tooBig = [
      'x'.repeat(65_537),
      `${'é'.repeat(32_768)}x`,
      `${'🔑'.repeat(16_384)}x`,
      'é'.repeat(65_536),
    ]
    for (const value of ['', null, ...tooBig]) {
      const error = await sqlError(store(name, value))
      expect(error.code).toBe('KW011')
      if (value) expectNoTrace(error, value.slice(0, 64))
    }
    expect(await counts()).toEqual(before)

    const exact = ['y'.repeat(65_536), 'é'.repeat(32_768), '🔑'.repeat(16_384)]
    for (const value of exact) {
      expect(Buffer.byteLength(value, 'utf8')).toBe(65_536)
      const exactName = fresh('sized_exact')
      await store(exactName, value)
      expect(await get(exactName)).toBe(value)
      await rotate(exactName, 'z'.repeat(65_536))
      expect(await getPrevious(exactName)).toBe(value)
    }
  })

  it('round-trips unicode and multi-line values byte for byte', async () => {
    const values = [
      '🔑 🗝️ 👩🏽‍💻 🏳️‍🌈 family: 👨‍👩‍👧‍👦',
      '密钥・秘密鍵・비밀 키・مفتاح・סוד',
      'e\u0301 a\u0308 o\u0302\u0323 \u1100\u1161\u11a8 Z\u0351\u0315\u0300',
      '\u00e9 \u00e4 (precomposed, must not equal the decomposed form)',
      'line one\nline two\r\nline three\n\ttabbed\tcells\n',
      'old\rmac\r\n\r\n',
      'a\u200bb\ufeffc\u00ad\u2028d\u2029e',
      '  leading and trailing  \n\n',
      'it\'s "quoted"; $$dollar$$ \\backslash %percent _under -- not a comment /* nor this */',
      '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----\n',
      '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟘𝟙𝟚 \u{1F600}\u{E0041}',
    ]
    const names = values.map(() => fresh('unicode'))
    for (const [index, value] of values.entries()) await store(names[index] as string, value)

    const viaView = await db.query<{ name: string; decrypted_secret: string }>(
      'SELECT name, decrypted_secret FROM vault.decrypted_secrets WHERE name = ANY($1)',
      [names],
    )
    const viaMany = await db.query<{ secret_name: string; secret_value: string }>(
      'SELECT * FROM public.get_secrets($1)',
      [names],
    )
    for (const [index, value] of values.entries()) {
      const name = names[index] as string
      const expected = Buffer.from(value, 'utf8')
      const single = (await get(name)) ?? ''
      expect(Buffer.from(single, 'utf8').equals(expected)).toBe(true)
      expect(single).toBe(value)
      expect(viaView.find((row) => row.name === name)?.decrypted_secret).toBe(value)
      expect(viaMany.find((row) => row.secret_name === name)?.secret_value).toBe(value)
    }
    // Unicode is not normalised: the composed and decomposed é are different values.
    const composed = fresh('composed')
    await store(composed, '\u00e9')
    await store(composed, 'e\u0301')
    expect((await listed(composed))[0]?.version).toBe(2)
    expect(await get(composed)).toBe('e\u0301')

    const rotated = names[4] as string
    await rotate(rotated, values[0] as string)
    expect(await getPrevious(rotated)).toBe(values[4])
    expect(await get(rotated)).toBe(values[0])
  })

  it('never puts a secret value in an error, the audit log, the metadata or a notification', async () => {
    const canary = `kwcanary${randomBytes(8).toString('hex')}`
    const name = fresh('canary')
    const heard: string[] = []
    const unlisten = await db.listen('keywarden_secrets', (payload) => heard.push(payload))
    const errors: SqlErrorFields[] = []
    try {
      await store(name, canary)
      const wrongKey = randomRootKey()
      const failing: Array<() => Promise<unknown>> = [
        () =>
          db.query("SELECT public.store_secret($1, $2, secret_type => 'bogus')", [
            name,
            `${canary}-x`,
          ]),
        () =>
          db.query("SELECT public.store_secret($1, $2, rotation_interval => '-1 day')", [
            name,
            `${canary}-x`,
          ]),
        () => store(`${canary}!`, 'misplaced'),
        () => store(canary.toUpperCase(), 'misplaced'),
        () => get(`${canary};`),
        () => store(name, canary + 'x'.repeat(65_536)),
        () => rotate(fresh('canary_missing'), canary),
        () => rotate(name, `${canary}-x`, '-1 hour'),
        () => rotate(name, canary + 'x'.repeat(65_536)),
        // The real vault ignores the session's key: these fail on the compatible vault only.
        ...(compatibleVault
          ? [
              () => get(name, { rootKey: wrongKey }),
              () => store(name, `${canary}-x`, { rootKey: wrongKey }),
              () => rotate(name, `${canary}-x`, undefined, { rootKey: wrongKey }),
              () => get(name, { rootKey: null }),
            ]
          : []),
        () => db.query('SELECT * FROM public.get_secrets($1)', [[name, `${canary}?`]]),
        () =>
          db.query('SELECT public.log_secret_access_batch($1::jsonb)', [
            JSON.stringify([
              {
                secret_name: canary.toUpperCase(),
                accessed_by: 'x',
                access_type: 'read',
                success: true,
              },
            ]),
          ]),
      ]
      for (const attempt of failing) errors.push(await sqlError(attempt()))

      expect(await get(name)).toBe(canary)
      await db.query('SELECT * FROM public.get_secrets($1)', [[name]])
      await rotate(name, `${canary}-rotated`)
      expect(await getPrevious(name)).toBe(canary)
      await store(name, `${canary}-stored`)
      const listing = await db.query('SELECT * FROM public.list_secret_names()')
      const expiring = await db.query('SELECT * FROM public.check_expiring_secrets(3650)')
      const queried = await db.query(
        'SELECT * FROM public.query_secret_access_log(NULL, max_rows => 100000)',
      )
      const log = await db.query(
        'SELECT row_to_json(l)::text AS row FROM public.secret_access_log l',
        [],
        {
          role: 'owner',
        },
      )
      const metadata = await db.query(
        'SELECT row_to_json(m)::text AS row FROM keywarden.secrets m',
        [],
        {
          role: 'owner',
        },
      )
      const vault = await db.query(
        'SELECT id, name, description, secret, key_id, created_at, updated_at FROM vault.secrets',
      )
      await db.query('SELECT public.delete_secret($1)', [name])
      await store(fresh('canary_marker'), 'marker')

      expect(errors.length).toBe(failing.length)
      for (const haystack of [errors, listing, expiring, queried, log, metadata, vault, heard]) {
        expectNoTrace(haystack, canary)
      }
    } finally {
      await unlisten()
    }
  })
})
