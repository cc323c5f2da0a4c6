/**
 * Upgrading an install made before migration 6, when migrations 3 and 5 still created foreign
 * keys to vault.secrets (which Supabase's `postgres` may not create): migration 6 drops them,
 * and deletes keep cleaning up what their ON DELETE used to.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Migration, runMigrations } from '../migrate/index.ts'
import { pgConnection } from '../node/connections.ts'
import { loadMigrations } from '../node/migrations.ts'
import {
  createEmptyPostgresDatabase,
  type PostgresDatabase,
  randomRootKey,
} from '../testing/databases.ts'

/** Migrations 3 and 5 as they were: with the foreign keys. */
function withForeignKeys(migration: Migration): Migration {
  const replacements: [string, string][] = [
    [
      'vault_secret_id uuid NOT NULL UNIQUE,',
      'vault_secret_id uuid NOT NULL UNIQUE REFERENCES vault.secrets (id) ON DELETE CASCADE,',
    ],
    [
      'previous_vault_secret_id uuid,',
      'previous_vault_secret_id uuid REFERENCES vault.secrets (id) ON DELETE SET NULL,',
    ],
    [
      'ADD COLUMN pending_vault_secret_id uuid,',
      'ADD COLUMN pending_vault_secret_id uuid REFERENCES vault.secrets (id) ON DELETE SET NULL,',
    ],
  ]
  let sql = migration.sql
  for (const [now, before] of replacements) sql = sql.replace(now, before)
  return { ...migration, sql }
}

describe('migration 6 on an install that has foreign keys to vault.secrets', () => {
  let database: PostgresDatabase

  beforeAll(async () => {
    database = await createEmptyPostgresDatabase({ rootKey: randomRootKey() })
  })

  afterAll(async () => {
    await database?.drop()
  })

  it('drops them, and deleting a secret still removes its vault rows and metadata', async () => {
    const migrations = await loadMigrations()
    const compat = migrations.findIndex((migration) => migration.name === 'supabase_compat')
    expect(compat).toBeGreaterThan(0)
    const client = await database.connect()
    try {
      await runMigrations(pgConnection(client), migrations.slice(0, compat).map(withForeignKeys))
      const foreignKeys = () =>
        client.query<{ count: number }>(
          `SELECT count(*)::int AS count FROM pg_catalog.pg_constraint
            WHERE conrelid = 'keywarden.secrets'::regclass AND contype = 'f'
              AND confrelid = 'vault.secrets'::regclass`,
        )
      expect((await foreignKeys()).rows).toEqual([{ count: 3 }])
      await client.query("SELECT public.store_secret('upgraded', 'first')")
      await client.query("SELECT public.rotate_secret('upgraded', 'second')")
      await client.query("SELECT public.stage_rotation('upgraded', 'staged')")

      const report = await runMigrations(pgConnection(client), migrations)
      expect(report.applied).toEqual(migrations.slice(compat).map((migration) => migration.version))
      expect((await foreignKeys()).rows).toEqual([{ count: 0 }])

      expect((await client.query("SELECT public.get_secret('upgraded') AS value")).rows).toEqual([
        { value: 'second' },
      ])
      await client.query("SELECT public.delete_secret('upgraded')")
      const left = await client.query(
        `SELECT (SELECT count(*)::int FROM vault.secrets WHERE name LIKE 'upgraded%') AS vault,
                (SELECT count(*)::int FROM keywarden.secrets WHERE name = 'upgraded') AS metadata`,
      )
      expect(left.rows).toEqual([{ vault: 0, metadata: 0 }])
    } finally {
      await client.end()
    }
  })
})
