/**
 * `keywarden db migrate` on a fresh, empty database on the real PostgreSQL server: applies the
 * bundled migrations, then finds nothing to do; the vault then works there through the CLI.
 */
import { randomBytes } from 'node:crypto'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadMigrations } from '../../../../packages/core/src/node/migrations.ts'
import {
  createEmptyPostgresDatabase,
  type PostgresDatabase,
} from '../../../../packages/core/src/testing/databases.ts'
import { expectOneErrorLine } from '../testing/command-suite.ts'
import { runCli } from '../testing/run-cli.ts'

const PASSWORD = 'pw-never-printed-91ab'

describe('keywarden db migrate', () => {
  let database: PostgresDatabase
  let url = ''
  const rootKey = randomBytes(32).toString('hex')

  beforeAll(async () => {
    database = await createEmptyPostgresDatabase()
    // The server trusts local connections, so any password works; it must never be printed.
    const withPassword = new URL(database.url)
    withPassword.password = PASSWORD
    url = withPassword.toString()
  })
  afterAll(async () => {
    await database?.drop()
  })

  it('applies every migration once, then reports them already applied', async () => {
    // What the CLI bundles: core's copy of supabase/migrations.
    const migrations = await loadMigrations()
    expect(migrations.length).toBeGreaterThanOrEqual(3)
    const versions = migrations.map((migration) => migration.version)
    const first = await runCli(['db', 'migrate', '--database-url', url])
    expect(first.stderr).toBe('')
    expect(first.code).toBe(0)
    const lines = first.stdout.trimEnd().split('\n')
    expect(lines[0]).toMatch(
      new RegExp(
        `^Applied ${migrations.length} migrations to postgres://postgres@127\\.0\\.0\\.1:5432/kw_test_\\w+:$`,
      ),
    )
    expect(lines.slice(1)).toEqual(
      migrations.map((migration) => `  + ${migration.version}_${migration.name}`),
    )

    // Configured by the environment this time, and racing a second run: the runner's lock
    // makes one wait for the other, so nothing is applied twice.
    const env = { KEYWARDEN_DATABASE_URL: url }
    const [again, racer] = await Promise.all([
      runCli(['db', 'migrate', '--json'], { env }),
      runCli(['db', 'migrate', '--json'], { env }),
    ])
    for (const result of [again, racer]) {
      expect(result.stderr).toBe('')
      expect(result.code).toBe(0)
      expect(JSON.parse(result.stdout)).toEqual({
        database: expect.stringMatching(/^postgres:\/\/postgres@127\.0\.0\.1:5432\/kw_test_/),
        applied: [],
        alreadyApplied: versions,
        // No pg_cron on this server: nothing to schedule (the Supabase-like cluster's SQL
        // suite tests keywarden.schedule_jobs() with pg_cron).
        scheduledJobs: [],
      })
    }
    for (const result of [first, again, racer]) expect(result.stdout).not.toContain(PASSWORD)

    const client = await database.connect()
    try {
      const { rows } = await client.query(
        'SELECT version, name FROM supabase_migrations.schema_migrations ORDER BY version',
      )
      expect(rows).toEqual(
        migrations.map((migration) => ({ version: migration.version, name: migration.name })),
      )
    } finally {
      await client.end()
    }
  })

  it('uses SUPABASE_DB_URL beside the Supabase API variables', async () => {
    const result = await runCli(['db', 'migrate'], {
      env: {
        SUPABASE_URL: 'https://example.supabase.co',
        SUPABASE_SERVICE_ROLE_KEY: 'service-role-key',
        SUPABASE_DB_URL: url,
      },
    })
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/is up to date: all \d+ migrations were already applied\.\n$/)
  })

  it('reads the password from KEYWARDEN_DATABASE_PASSWORD_FILE, and refuses a file others can read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kw-db-password-'))
    try {
      const file = join(dir, 'password')
      await writeFile(file, `${PASSWORD}\n`, { mode: 0o600 })
      const env = { KEYWARDEN_DATABASE_URL: database.url, KEYWARDEN_DATABASE_PASSWORD_FILE: file }
      const result = await runCli(['db', 'migrate'], { env })
      expect(result.code).toBe(0)
      await chmod(file, 0o644)
      const loose = await runCli(['db', 'migrate'], { env })
      expect(loose.code).not.toBe(0)
      expectOneErrorLine(loose, new RegExp(`${file} is readable by other users`))
      for (const { stdout, stderr } of [result, loose]) {
        expect(stdout + stderr).not.toContain(PASSWORD)
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('refuses a Supabase API configuration without a database URL', async () => {
    const result = await runCli(['db', 'migrate'], {
      env: { SUPABASE_URL: 'https://example.supabase.co', SUPABASE_SERVICE_ROLE_KEY: 'k' },
    })
    expect(result.code).toBe(2)
    expectOneErrorLine(result, /SUPABASE_DB_URL/)
  })

  it('an unreachable server exits 4 with one line and no password', async () => {
    const result = await runCli([
      'db',
      'migrate',
      '--database-url',
      `postgres://postgres:${PASSWORD}@127.0.0.1:1/nowhere`,
    ])
    expect(result.code).toBe(4)
    expect(result.stdout).toBe('')
    expectOneErrorLine(
      result,
      /^keywarden: cannot connect to postgres:\/\/postgres@127\.0\.0\.1:1\/nowhere \(ECONNREFUSED\)\n$/,
    )
    expect(result.stderr).not.toContain(PASSWORD)
  })

  it('an unreachable vault: status shows where it points, status and get exit 4', async () => {
    const env = { KEYWARDEN_DATABASE_URL: `postgres://postgres:${PASSWORD}@127.0.0.1:1/nowhere` }
    const status = await runCli(['status'], { env })
    expect(status.code).toBe(4)
    expect(status.stdout).toBe(
      'Backend        postgres postgres://postgres@127.0.0.1:1/nowhere (VAULT_UNAVAILABLE)\nSecret source  none\n',
    )
    expectOneErrorLine(
      status,
      /cannot reach the vault at postgres:\/\/postgres@127\.0\.0\.1:1\/nowhere/,
    )
    const get = await runCli(['get', 'anything'], { env })
    expect(get.code).toBe(4)
    expect(get.stdout).toBe('')
    expectOneErrorLine(get, /the vault is unavailable \(ECONNREFUSED\)/)
    for (const result of [status, get]) {
      expect(result.stdout + result.stderr).not.toContain(PASSWORD)
    }
  })

  it('the migrated database is a working vault for the CLI', async () => {
    const env = { KEYWARDEN_DATABASE_URL: url, KEYWARDEN_ROOT_KEY: rootKey }
    const empty = await runCli(['list'], { env })
    expect(empty).toMatchObject({ code: 0, stderr: '' })
    expect(empty.stdout).toMatch(/^The vault is empty\./)
    const nothingDue = await runCli(['expiring'], { env })
    expect(nothingDue).toMatchObject({
      code: 0,
      stdout: 'Nothing expires or falls due for rotation in the next 7 days.\n',
    })
    const noFailures = await runCli(['audit', '--failed'], { env })
    expect(noFailures).toMatchObject({ code: 0, stdout: 'No audit entries match.\n' })

    const stored = await runCli(['set', 'deploy_key', '--type', 'service_key'], {
      env,
      input: 'from a migrated database',
    })
    expect(stored).toMatchObject({
      code: 0,
      stdout: 'Created deploy_key (version 1)\n',
      stderr: '',
    })
    const read = await runCli(['get', 'deploy_key'], { env })
    expect(read).toMatchObject({ code: 0, stdout: 'from a migrated database' })

    const status = JSON.parse((await runCli(['status', '--json'], { env })).stdout) as Record<
      string,
      unknown
    >
    expect(status).toMatchObject({ secret_count: 1, audit_failures_last_hour: 0 })

    // More names than one get_secrets call takes (1000): export asks in batches.
    const sql = await database.connect({ rootKey })
    try {
      await sql.query(
        "SELECT public.store_secret('bulk_' || i, 'value ' || i) FROM generate_series(1, 1001) AS i",
      )
    } finally {
      await sql.end()
    }
    const exported = await runCli(['export', '--json'], { env })
    expect(exported.code).toBe(0)
    const values = JSON.parse(exported.stdout) as Record<string, string>
    expect(Object.keys(values)).toHaveLength(1002)
    expect(values.bulk_1001).toBe('value 1001')
    expect(values.deploy_key).toBe('from a migrated database')

    // Without the root key the value cannot be read: a clear line, exit 1.
    const keyless = await runCli(['get', 'deploy_key'], { env: { KEYWARDEN_DATABASE_URL: url } })
    expect(keyless.code).toBe(1)
    expect(keyless.stdout).toBe('')
    expectOneErrorLine(keyless, /root_key/)
  })

  it('status reports the schema version, and refuses a schema newer than the CLI knows', async () => {
    const env = { KEYWARDEN_DATABASE_URL: url, KEYWARDEN_ROOT_KEY: rootKey }
    const latest = (await loadMigrations()).at(-1)?.version
    const status = await runCli(['status', '--json'], { env })
    expect(status.code, status.stderr).toBe(0)
    expect(JSON.parse(status.stdout)).toMatchObject({ schema_version: latest })
    expect((await runCli(['status'], { env })).stdout).toContain(`Schema         ${latest}\n`)

    const sql = await database.connect()
    try {
      await sql.query(
        "INSERT INTO supabase_migrations.schema_migrations (version, name) VALUES ('29991231000000', 'from_the_future')",
      )
      const newer = await runCli(['status'], { env })
      expect(newer.code).toBe(1)
      expect(newer.stdout).toBe('')
      expectOneErrorLine(
        newer,
        new RegExp(
          `^keywarden: the vault's schema \\(29991231000000\\) is newer than this keywarden knows \\(${latest}\\): upgrade it`,
        ),
      )
    } finally {
      await sql.query(
        "DELETE FROM supabase_migrations.schema_migrations WHERE version = '29991231000000'",
      )
      await sql.end()
    }
  })
})
