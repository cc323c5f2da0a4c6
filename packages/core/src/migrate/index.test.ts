import type pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { pgConnection } from '../node/connections.ts'
import { loadMigrations } from '../node/migrations.ts'
import { createEmptyPostgresDatabase, type PostgresDatabase } from '../testing/databases.ts'
import { type Migration, parseMigration, runMigrations, splitStatements } from './index.ts'

describe('parseMigration', () => {
  it('reads the version and name from YYYYMMDDHHMMSS_name.sql', () => {
    expect(parseMigration('20261128000003_secret_api.sql', 'SELECT 1')).toEqual({
      version: '20261128000003',
      name: 'secret_api',
      sql: 'SELECT 1',
    })
    expect(parseMigration('20260101000000_with-dash_2.sql', '').name).toBe('with-dash_2')
  })

  it.each([
    'secret_api.sql',
    '2026112800000_short.sql',
    '202611280000031_long.sql',
    '20261128000003_.sql',
    '20261128000003-secret_api.sql',
    '20261128000003_secret api.sql',
    '20261128000003_secret_api.SQL',
    '20261128000003_secret_api.sql.bak',
    '20261128000003_secret_api',
  ])('refuses the file name %j, naming it', (fileName) => {
    expect(() => parseMigration(fileName, 'SELECT 1')).toThrow(TypeError)
    expect(() => parseMigration(fileName, 'SELECT 1')).toThrow(fileName)
  })
})

describe('splitStatements', () => {
  it('splits on semicolons, trims, and drops empty pieces', () => {
    expect(splitStatements('SELECT 1; SELECT 2;')).toEqual(['SELECT 1', 'SELECT 2'])
    expect(splitStatements('  SELECT 1  ;\n\n  SELECT 2  ')).toEqual(['SELECT 1', 'SELECT 2'])
    expect(splitStatements(';;  ;\n;')).toEqual([])
    expect(splitStatements('')).toEqual([])
  })

  it('keeps dollar-quoted bodies whole, with or without tags, nested in one another', () => {
    const fn = `CREATE FUNCTION f() RETURNS text LANGUAGE plpgsql AS $body$
BEGIN
  PERFORM 1; -- a comment; inside
  RETURN $$;$$ || $x$ ; ' " $$ $x$ || $X$;$X$;
END
$body$`
    expect(splitStatements(`${fn};\nSELECT 2;`)).toEqual([fn, 'SELECT 2'])
    expect(splitStatements('DO $$ BEGIN PERFORM 1; END $$; SELECT 2')).toEqual([
      'DO $$ BEGIN PERFORM 1; END $$',
      'SELECT 2',
    ])
    expect(splitStatements('DO $_a1$ x; $a1$ y; $_a1$; SELECT 2')).toEqual([
      'DO $_a1$ x; $a1$ y; $_a1$',
      'SELECT 2',
    ])
    // Tags are case-sensitive: $A$ does not close $a$.
    expect(splitStatements('SELECT $a$ ; $A$ ; $a$; SELECT 2')).toEqual([
      'SELECT $a$ ; $A$ ; $a$',
      'SELECT 2',
    ])
  })

  it('does not take parameters or identifiers containing $ for dollar quotes', () => {
    expect(splitStatements('SELECT $1; SELECT $2')).toEqual(['SELECT $1', 'SELECT $2'])
    expect(splitStatements('SELECT a$b$c; SELECT 2')).toEqual(['SELECT a$b$c', 'SELECT 2'])
    expect(splitStatements('SELECT price$; SELECT $$;$$')).toEqual([
      'SELECT price$',
      'SELECT $$;$$',
    ])
  })

  it("keeps strings whole, with ';' and '' escapes inside", () => {
    expect(splitStatements("SELECT 'a;b''c;'; SELECT ''';'''")).toEqual([
      "SELECT 'a;b''c;'",
      "SELECT ''';'''",
    ])
    expect(
      splitStatements("SELECT '-- not a comment; /* nor this; */ $$ nor; this'; SELECT 2"),
    ).toEqual(["SELECT '-- not a comment; /* nor this; */ $$ nor; this'", 'SELECT 2'])
    // Multi-line strings too.
    expect(splitStatements("INSERT INTO t VALUES ('a;\nb;\r\nc'); SELECT 2")).toEqual([
      "INSERT INTO t VALUES ('a;\nb;\r\nc')",
      'SELECT 2',
    ])
  })

  it("reads backslash escapes in E'' strings only", () => {
    expect(splitStatements("SELECT E'it\\'s; fine'; SELECT 2")).toEqual([
      "SELECT E'it\\'s; fine'",
      'SELECT 2',
    ])
    expect(splitStatements("SELECT e'\\\\'; SELECT 2")).toEqual(["SELECT e'\\\\'", 'SELECT 2'])
    expect(splitStatements("SELECT (E'a\\';b'); SELECT 2")).toEqual([
      "SELECT (E'a\\';b')",
      'SELECT 2',
    ])
    // In a standard string a backslash is an ordinary character, so 'C:\' ends at its quote.
    expect(splitStatements("SELECT 'C:\\'; SELECT 2")).toEqual(["SELECT 'C:\\'", 'SELECT 2'])
    // A word ending in e before a quote is not an E prefix.
    expect(splitStatements("SELECT date'2026-01-01', some'\\'; SELECT 2")).toEqual([
      "SELECT date'2026-01-01', some'\\'",
      'SELECT 2',
    ])
  })

  it('keeps quoted identifiers whole, with "" escapes', () => {
    expect(splitStatements('SELECT 1 AS "semi;colon", 2 AS "say ""hi;"""; SELECT 2')).toEqual([
      'SELECT 1 AS "semi;colon", 2 AS "say ""hi;"""',
      'SELECT 2',
    ])
  })

  it('ignores semicolons, quotes and dollars in comments, and drops comment-only pieces', () => {
    expect(splitStatements("-- header; it's $$ not code\nSELECT 1; SELECT 2")).toEqual([
      "-- header; it's $$ not code\nSELECT 1",
      'SELECT 2',
    ])
    expect(splitStatements("/* it's; $$ */ SELECT 1; SELECT 2")).toEqual([
      "/* it's; $$ */ SELECT 1",
      'SELECT 2',
    ])
    expect(splitStatements('SELECT 1; -- trailing; comment')).toEqual(['SELECT 1'])
    expect(splitStatements('SELECT 1;\r\n-- one\r\n/* two; */\r\n;\n')).toEqual(['SELECT 1'])
    expect(splitStatements('SELECT 1 -- why; not\n, 2; SELECT 3')).toEqual([
      'SELECT 1 -- why; not\n, 2',
      'SELECT 3',
    ])
  })

  it('handles nested block comments', () => {
    expect(splitStatements('/* outer /* inner; */ still comment; */ SELECT 1; SELECT 2')).toEqual([
      '/* outer /* inner; */ still comment; */ SELECT 1',
      'SELECT 2',
    ])
    expect(splitStatements('/* a /* b /* c; */ d; */ e; */;SELECT 1')).toEqual(['SELECT 1'])
  })

  it('takes an unterminated quote or comment to the end of the script', () => {
    expect(splitStatements("SELECT 'open; SELECT 2")).toEqual(["SELECT 'open; SELECT 2"])
    expect(splitStatements('SELECT $$ open; SELECT 2')).toEqual(['SELECT $$ open; SELECT 2'])
    expect(splitStatements('SELECT 1; /* open; SELECT 2')).toEqual(['SELECT 1'])
  })
})

describe('runMigrations on PostgreSQL', () => {
  const databases: PostgresDatabase[] = []
  const clients: pg.Client[] = []

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.end()))
    await Promise.all(databases.map((database) => database.drop()))
  })

  const emptyDatabase = async () => {
    const database = await createEmptyPostgresDatabase()
    databases.push(database)
    return database
  }

  const connect = async (database: PostgresDatabase) => {
    const client = await database.connect()
    clients.push(client)
    return client
  }

  const recorded = async (client: pg.Client) =>
    (
      await client.query<{ version: string; name: string; statements: string[] }>(
        'SELECT version, name, statements FROM supabase_migrations.schema_migrations ORDER BY version',
      )
    ).rows

  const tableExists = async (client: pg.Client, table: string) =>
    (await client.query<{ found: boolean }>('SELECT to_regclass($1) IS NOT NULL AS found', [table]))
      .rows[0]?.found

  const migration = (version: string, name: string, sql: string): Migration => ({
    version,
    name,
    sql,
  })

  it('applies the migrations once, records them as the Supabase CLI does, and applies nothing the second time', async () => {
    const client = await connect(await emptyDatabase())
    const migrations = await loadMigrations()
    const versions = migrations.map((entry) => entry.version)

    expect(await runMigrations(pgConnection(client), migrations)).toEqual({
      applied: versions,
      skipped: [],
    })
    const rows = await recorded(client)
    expect(rows).toEqual(
      migrations.map((entry) => ({
        version: entry.version,
        name: entry.name,
        statements: splitStatements(entry.sql),
      })),
    )
    expect(await tableExists(client, 'public.secret_access_log')).toBe(true)

    expect(await runMigrations(pgConnection(client), migrations)).toEqual({
      applied: [],
      skipped: versions,
    })
    expect(await recorded(client)).toEqual(rows)
  })

  it('applies migrations in version order whatever order they are given in', async () => {
    const client = await connect(await emptyDatabase())
    const migrations = [
      migration('20260101000003', 'third', 'INSERT INTO ordered VALUES (3)'),
      migration('20260101000001', 'first', 'CREATE TABLE ordered (n int)'),
      migration('20260101000002', 'second', 'INSERT INTO ordered VALUES (2)'),
    ]
    expect(await runMigrations(pgConnection(client), migrations)).toEqual({
      applied: ['20260101000001', '20260101000002', '20260101000003'],
      skipped: [],
    })
    expect((await client.query('SELECT n FROM ordered ORDER BY n')).rows).toEqual([
      { n: 2 },
      { n: 3 },
    ])
    // A migration added later is applied on the next run, the others skipped.
    expect(
      await runMigrations(pgConnection(client), [
        ...migrations,
        migration('20260101000004', 'fourth', 'INSERT INTO ordered VALUES (4)'),
      ]),
    ).toEqual({
      applied: ['20260101000004'],
      skipped: ['20260101000001', '20260101000002', '20260101000003'],
    })
  })

  it('records every statement of a migration, split as the Supabase CLI splits them', async () => {
    const client = await connect(await emptyDatabase())
    const sql = `-- A migration with the awkward parts.
CREATE TABLE awkward (id int, note text);
CREATE FUNCTION awkward_note() RETURNS text LANGUAGE plpgsql AS $fn$
BEGIN
  RETURN 'semi;colon' || $$;$$; /* nested /* comment; */ here */
END
$fn$;
INSERT INTO awkward VALUES (1, E'it\\'s; here'), (2, 'it''s; there');
`
    await runMigrations(pgConnection(client), [migration('20260101000001', 'awkward', sql)])
    expect(await recorded(client)).toEqual([
      { version: '20260101000001', name: 'awkward', statements: splitStatements(sql) },
    ])
    expect(splitStatements(sql)).toHaveLength(3)
    expect((await client.query('SELECT awkward_note() AS note')).rows).toEqual([
      { note: 'semi;colon;' },
    ])
    expect((await client.query('SELECT note FROM awkward ORDER BY id')).rows).toEqual([
      { note: "it's; here" },
      { note: "it's; there" },
    ])
  })

  it("splits Keywarden's own migrations into statements that apply one by one", async () => {
    const client = await connect(await emptyDatabase())
    const migrations = await loadMigrations()
    await client.query('BEGIN')
    try {
      for (const entry of migrations) {
        for (const statement of splitStatements(entry.sql)) await client.query(statement)
      }
      const functions = await client.query<{ name: string }>(
        `SELECT p.proname AS name FROM pg_proc p
          WHERE p.pronamespace = 'public'::regnamespace ORDER BY p.proname`,
      )
      expect(functions.rows.map((row) => row.name)).toEqual([
        'audit_accessors',
        'audit_activity',
        'audit_failures',
        'audit_incidents',
        'audit_rotations',
        'check_expiring_secrets',
        'check_expiring_secrets_json',
        'claim_notifications',
        'delete_door_policy',
        'delete_secret',
        'discard_staged_rotation',
        'get_secret',
        'get_secret_row',
        'get_secrets',
        'get_staged_secret',
        'keywarden_schema_version',
        'list_door_policies',
        'list_secret_names',
        'list_secret_names_json',
        'log_secret_access_batch',
        'oauth_call',
        'promote_staged_rotation',
        'prune_secret_access_log',
        'purge_expired_previous',
        'query_secret_access_log',
        'query_secret_access_log_json',
        'release_notifications',
        'rotate_secret',
        'secret_alerts',
        'secret_alerts_json',
        'secret_metrics',
        'secret_metrics_json',
        'set_door_policy',
        'stage_rotation',
        'store_secret',
        'update_secret_metadata',
        'vault_status',
        'verify_secret_access_log',
      ])
    } finally {
      await client.query('ROLLBACK')
    }
  })

  it('rolls a failing migration back whole, names its file, and stops the run', async () => {
    const client = await connect(await emptyDatabase())
    const first = migration('20260101000001', 'first', 'CREATE TABLE kept (n int)')
    const broken = migration(
      '20260101000002',
      'breaks_halfway',
      'CREATE TABLE half_done (n int);\nINSERT INTO half_done VALUES (1);\nSELECT 1 / 0;',
    )
    const third = migration('20260101000003', 'third', 'CREATE TABLE never_reached (n int)')

    const error = await runMigrations(pgConnection(client), [first, broken, third]).then(
      () => undefined,
      (reason: unknown) => reason,
    )
    expect(error).toBeInstanceOf(Error)
    expect((error as Error).message).toContain('20260101000002_breaks_halfway.sql')
    expect(((error as Error).cause as { code?: string } | undefined)?.code).toBe('22012')

    expect(await tableExists(client, 'kept')).toBe(true)
    expect(await tableExists(client, 'half_done')).toBe(false)
    expect(await tableExists(client, 'never_reached')).toBe(false)
    expect((await recorded(client)).map((row) => row.version)).toEqual(['20260101000001'])
    // The session is usable afterwards (no transaction left open).
    expect((await client.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }])

    const fixed = { ...broken, sql: 'CREATE TABLE half_done (n int)' }
    expect(await runMigrations(pgConnection(client), [first, fixed, third])).toEqual({
      applied: ['20260101000002', '20260101000003'],
      skipped: ['20260101000001'],
    })
  })

  it('refuses two migrations with one version before applying anything', async () => {
    const client = await connect(await emptyDatabase())
    await expect(
      runMigrations(pgConnection(client), [
        migration('20260101000001', 'one', 'CREATE TABLE one (n int)'),
        migration('20260101000001', 'other', 'CREATE TABLE other (n int)'),
      ]),
    ).rejects.toThrow(/20260101000001/)
    expect(await tableExists(client, 'supabase_migrations.schema_migrations')).toBe(false)
    expect(await tableExists(client, 'one')).toBe(false)
  })

  it('lets two runners on one database at once both succeed, applying each migration once', async () => {
    const database = await emptyDatabase()
    const [a, b] = await Promise.all([connect(database), connect(database)])
    if (!a || !b) throw new Error('two connections were expected')
    const migrations = await loadMigrations()
    const versions = migrations.map((entry) => entry.version)

    const [first, second] = await Promise.all([
      runMigrations(pgConnection(a), migrations),
      runMigrations(pgConnection(b), migrations),
    ])
    // Keywarden's migrations are not idempotent (CREATE SCHEMA keywarden, CREATE TABLE ...), so
    // applying one twice would have failed.
    expect([...first.applied, ...second.applied].sort()).toEqual(versions)
    expect([...first.skipped, ...second.skipped].sort()).toEqual(versions)
    expect((await recorded(a)).map((row) => row.version)).toEqual(versions)
  })
})
