/**
 * Which vault the migrations take (migration 2): the real `supabase_vault` only where it is
 * really usable — preloaded, with its server key — and Keywarden's compatible vault where it is
 * merely available. Run on the Supabase-like cluster (preloaded, port 54322), on its sibling
 * where the extension is installed but not preloaded (54323), and on the plain server (5432),
 * which must not see the extension at all.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'
import { errorFromDatabase } from '../errors/index.ts'
import { runMigrations } from '../migrate/index.ts'
import { pgConnection } from '../node/connections.ts'
import { loadMigrations } from '../node/migrations.ts'
import {
  ADMIN_DATABASE_URL,
  includeSupabaseLike,
  randomRootKey,
  SUPABASE_LIKE_ADMIN_URL,
  SUPABASE_LIKE_NOPRELOAD_URL,
} from '../testing/databases.ts'
import { sqlError } from '../testing/sql-backends.ts'

/** Databases this file created, dropped at the end: [server URL, name]. */
const created: [string, string][] = []

async function connect(server: string, database: string, rootKey?: string): Promise<pg.Client> {
  const url = new URL(server)
  url.pathname = `/${database}`
  const client = new pg.Client({
    connectionString: url.toString(),
    ...(rootKey === undefined ? {} : { options: `-c keywarden.root_key=${rootKey}` }),
  })
  await client.connect()
  return client
}

/** A new database on `server` (as its superuser), copied from `template`. */
async function createDatabase(server: string, template: string): Promise<string> {
  const name = `kw_test_${randomBytes(6).toString('hex')}`
  const admin = await connect(server, 'postgres')
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${template}`)
  } finally {
    await admin.end()
  }
  created.push([server, name])
  return name
}

async function migrate(client: pg.Client): Promise<void> {
  await runMigrations(pgConnection(client), await loadMigrations())
}

afterAll(async () => {
  for (const [server, name] of created) {
    const admin = await connect(server, 'postgres')
    try {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    } finally {
      await admin.end()
    }
  }
})

describe('the plain server on 5432', () => {
  it('does not see supabase_vault or pg_cron (they live in the Supabase-like cluster’s own tree)', async () => {
    const client = await connect(ADMIN_DATABASE_URL, 'postgres')
    try {
      const { rows } = await client.query(
        "SELECT name FROM pg_catalog.pg_available_extensions WHERE name IN ('supabase_vault', 'pg_cron')",
      )
      expect(rows).toEqual([])
    } finally {
      await client.end()
    }
  })
})

describe.runIf(await includeSupabaseLike())(
  'choosing the vault on the Supabase-like clusters',
  () => {
    it('takes the compatible vault where supabase_vault is available but not preloaded, even for a superuser', async () => {
      const name = await createDatabase(SUPABASE_LIKE_NOPRELOAD_URL, 'template1')
      const rootKey = randomRootKey()
      const client = await connect(SUPABASE_LIKE_NOPRELOAD_URL, name, rootKey)
      try {
        const available = await client.query(
          "SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = 'supabase_vault'",
        )
        expect(available.rows).toHaveLength(1)
        await migrate(client)
        const status = await client.query('SELECT vault FROM public.vault_status()')
        expect(status.rows).toEqual([{ vault: 'keywarden_pgcrypto' }])
        await client.query("SELECT public.store_secret('detected', 'compatible-value')")
        const read = await client.query("SELECT public.get_secret('detected') AS value")
        expect(read.rows).toEqual([{ value: 'compatible-value' }])
      } finally {
        await client.end()
      }
    })

    it('refuses, naming the preload, an installed supabase_vault without its server key (KW001)', async () => {
      const name = await createDatabase(SUPABASE_LIKE_NOPRELOAD_URL, 'template1')
      const client = await connect(SUPABASE_LIKE_NOPRELOAD_URL, name)
      try {
        await client.query('CREATE EXTENSION supabase_vault')
        // What every store would meet there, mapped by the core as a missing key.
        const store = await sqlError(client.query("SELECT vault.create_secret('never-stored')"))
        expect(store.code).toBe('22000')
        expect(errorFromDatabase(store).code).toBe('ROOT_KEY_MISSING')

        const error = await migrate(client).then(
          () => {
            throw new Error('the migrations applied over a vault without its key')
          },
          (failure: Error) => failure,
        )
        const cause = error.cause as { code?: string; message?: string; hint?: string }
        expect(cause.code).toBe('KW001')
        expect(cause.message).toMatch(/supabase_vault is installed but has no server key/)
        expect(cause.hint).toMatch(/shared_preload_libraries/)
        // Migration 1 applied in its own transaction; nothing from the vault migration on.
        const [first] = await loadMigrations()
        const recorded = await client.query(
          'SELECT version FROM supabase_migrations.schema_migrations ORDER BY version',
        )
        expect(recorded.rows).toEqual([{ version: first?.version }])
      } finally {
        await client.end()
      }
    })

    it('creates the preloaded extension where a superuser migrates, and gives service_role Supabase’s grants', async () => {
      // template1: no vault yet, none of Supabase's after-create grants.
      const name = await createDatabase(SUPABASE_LIKE_ADMIN_URL, 'template1')
      const client = await connect(SUPABASE_LIKE_ADMIN_URL, name)
      try {
        await migrate(client)
        const status = await client.query('SELECT vault FROM public.vault_status()')
        expect(status.rows).toEqual([{ vault: 'supabase_vault' }])
        const grants = await client.query(
          `SELECT pg_catalog.has_schema_privilege('service_role', 'vault', 'USAGE') AS usage,
                pg_catalog.has_table_privilege('service_role', 'vault.decrypted_secrets', 'SELECT, DELETE') AS view,
                pg_catalog.has_table_privilege('service_role', 'vault.secrets', 'SELECT, DELETE') AS tab,
                pg_catalog.has_table_privilege('service_role', 'vault.secrets', 'INSERT') AS tab_insert,
                pg_catalog.has_function_privilege('service_role',
                  'vault.create_secret(text, text, text, uuid)', 'EXECUTE') AS create_secret`,
        )
        expect(grants.rows).toEqual([
          { usage: true, view: true, tab: true, tab_insert: false, create_secret: true },
        ])
        // The seed's statements, as service_role, on the real vault.
        await client.query('SET ROLE service_role')
        await client.query("SELECT public.store_secret('seeded', 'real-vault-value')")
        const direct = await client.query(
          "SELECT decrypted_secret FROM vault.decrypted_secrets WHERE name = 'seeded'",
        )
        expect(direct.rows).toEqual([{ decrypted_secret: 'real-vault-value' }])
      } finally {
        await client.end()
      }
    })
  },
)
