/**
 * Test-only: real databases for suites, one fresh database each, so files run in parallel.
 * Nothing here is part of the package build.
 */
import { randomBytes } from 'node:crypto'
import type { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import { runMigrations } from '../migrate/index.ts'
import { pgConnection, pgliteConnection } from '../node/connections.ts'
import { loadMigrations } from '../node/migrations.ts'
import { openPglite } from '../node/pglite.ts'

/** The server the suites use: PostgreSQL at 127.0.0.1:5432 with trust auth, unless overridden. */
export const ADMIN_DATABASE_URL =
  process.env.KEYWARDEN_TEST_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'

/** A random 256-bit root key as 64 hex characters. */
export function randomRootKey(): string {
  return randomBytes(32).toString('hex')
}

/** A fresh, empty database on the real PostgreSQL server (no migrations applied). */
export interface PostgresDatabase {
  /** Connection string of the new database (no root key in it). */
  url: string
  /** Database name, `kw_test_…`. */
  name: string
  /**
   * Opens a new connection. `rootKey` sets `keywarden.root_key` for its session: omitted, the
   * database's default key (if it has one); `null`, no key at all.
   */
  connect(options?: { rootKey?: string | null }): Promise<pg.Client>
  /** Drops the database, ending its connections. */
  drop(): Promise<void>
}

/** A fresh, migrated database on the real PostgreSQL server. */
export interface PostgresTestDatabase extends PostgresDatabase {
  rootKey: string
}

/**
 * Creates an empty `kw_test_<random>` database on the server. Fails loudly when the server is
 * unreachable: suites that need PostgreSQL never skip.
 * @param options.rootKey the key {@link PostgresDatabase.connect} gives sessions by default.
 */
export async function createEmptyPostgresDatabase(
  options: { rootKey?: string } = {},
): Promise<PostgresDatabase> {
  const name = `kw_test_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL })
  try {
    await admin.connect()
  } catch (error) {
    throw new Error(
      `PostgreSQL is not reachable at ${ADMIN_DATABASE_URL}; start it with ` +
        '`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`',
      { cause: error },
    )
  }
  try {
    await admin.query(`CREATE DATABASE ${name}`)
  } finally {
    await admin.end()
  }
  const url = new URL(ADMIN_DATABASE_URL)
  url.pathname = `/${name}`

  const connect = async (connectOptions: { rootKey?: string | null } = {}) => {
    const key = connectOptions.rootKey === undefined ? options.rootKey : connectOptions.rootKey
    const client = new pg.Client({
      connectionString: url.toString(),
      ...(key === null || key === undefined ? {} : { options: `-c keywarden.root_key=${key}` }),
    })
    await client.connect()
    return client
  }

  return {
    url: url.toString(),
    name,
    connect,
    async drop() {
      const dropper = new pg.Client({ connectionString: ADMIN_DATABASE_URL })
      await dropper.connect()
      try {
        await dropper.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      } finally {
        await dropper.end()
      }
    },
  }
}

/** Options of the migrated test databases. */
export interface TestDatabaseOptions {
  /**
   * SQL run as the owner before the migrations, to set up what a platform provides before a
   * user's migrations run there (e.g. Supabase's `realtime` schema, `testing/realtime.ts`).
   */
  prepare?: string
}

/**
 * Creates `kw_test_<random>` on the server and applies the migrations. Fails loudly when the
 * server is unreachable: suites that need PostgreSQL never skip.
 */
export async function createPostgresTestDatabase(
  options: TestDatabaseOptions = {},
): Promise<PostgresTestDatabase> {
  const rootKey = randomRootKey()
  const database = await createEmptyPostgresDatabase({ rootKey })
  try {
    const migrator = await database.connect()
    try {
      if (options.prepare) await migrator.query(options.prepare)
      await runMigrations(pgConnection(migrator), await loadMigrations())
    } finally {
      await migrator.end()
    }
  } catch (error) {
    await database.drop()
    throw error
  }
  return { ...database, rootKey }
}

/** An in-memory PGlite with the migrations applied and a random root key set. */
export async function createPgliteTestDatabase(
  options: TestDatabaseOptions = {},
): Promise<{ db: PGlite; rootKey: string }> {
  const rootKey = randomRootKey()
  const db = await openPglite({ rootKey })
  if (options.prepare) await db.exec(options.prepare)
  await runMigrations(pgliteConnection(db), await loadMigrations())
  return { db, rootKey }
}
