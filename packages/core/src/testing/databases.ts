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

/**
 * The Supabase-like cluster (`npm run db:supabase-like`): the real `supabase_vault`, `postgres`
 * not a superuser. Suites connect and migrate as `postgres`, as `supabase db push` does.
 */
export const SUPABASE_LIKE_URL =
  process.env.KEYWARDEN_TEST_SUPABASE_URL ?? 'postgres://postgres@127.0.0.1:54322/postgres'

/** Its superuser (`supabase_admin`), which creates and drops the test databases. */
export const SUPABASE_LIKE_ADMIN_URL =
  process.env.KEYWARDEN_TEST_SUPABASE_ADMIN_URL ??
  'postgres://supabase_admin@127.0.0.1:54322/postgres'

/**
 * A second cluster from the same private tree where `supabase_vault` is installed but NOT in
 * shared_preload_libraries: merely available, as on a server with the package installed.
 */
export const SUPABASE_LIKE_NOPRELOAD_URL =
  process.env.KEYWARDEN_TEST_SUPABASE_NOPRELOAD_URL ??
  'postgres://supabase_admin@127.0.0.1:54323/postgres'

/** Which server a test database lives on: the plain one on 5432, or the Supabase-like one. */
export type TestServer = 'postgres' | 'supabase-like'

interface ServerEndpoints {
  /** Creates and drops databases. */
  admin: string
  /** Sessions of the test database connect as this URL's user. */
  user: string
  create(name: string): string
  unreachable: string
}

const SERVERS: Readonly<Record<TestServer, ServerEndpoints>> = {
  postgres: {
    admin: ADMIN_DATABASE_URL,
    user: ADMIN_DATABASE_URL,
    create: (name) => `CREATE DATABASE ${name}`,
    unreachable:
      'start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`',
  },
  'supabase-like': {
    admin: SUPABASE_LIKE_ADMIN_URL,
    user: SUPABASE_LIKE_URL,
    // Everything per-database Supabase sets up (extensions schema, the vault extension owned by
    // supabase_admin and its grants, default privileges) is in the template.
    create: (name) => `CREATE DATABASE ${name} OWNER postgres TEMPLATE supabase_template`,
    unreachable: 'start it with `npm run db:supabase-like`',
  },
}

/**
 * Whether the Supabase-like cluster answers. Suites run on it whenever it does, and always in
 * CI (`CI=true`), where a missing cluster fails them instead of skipping.
 */
export async function supabaseLikeReachable(): Promise<boolean> {
  const client = new pg.Client({
    connectionString: SUPABASE_LIKE_ADMIN_URL,
    connectionTimeoutMillis: 2_000,
  })
  try {
    await client.connect()
    const { rows } = await client.query(
      "SELECT 1 FROM pg_catalog.pg_database WHERE datname = 'supabase_template'",
    )
    return rows.length === 1
  } catch {
    return false
  } finally {
    await client.end().catch(() => {})
  }
}

/**
 * Whether suites include the Supabase-like cluster: in CI always (so a missing cluster fails),
 * elsewhere when it answers, saying so on stderr when it does not.
 */
export async function includeSupabaseLike(): Promise<boolean> {
  if (process.env.CI === 'true' || process.env.CI === '1') return true
  if (await supabaseLikeReachable()) return true
  console.warn(
    `[keywarden tests] the Supabase-like cluster is not running at ${SUPABASE_LIKE_URL}: its backend is skipped (npm run db:supabase-like starts it; in CI it is required)`,
  )
  return false
}

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
  /** The server it lives on. */
  server: TestServer
  /**
   * Opens a new connection. `rootKey` sets `keywarden.root_key` for its session: omitted, the
   * database's default key (if it has one); `null`, no key at all.
   */
  connect(options?: { rootKey?: string | null }): Promise<pg.Client>
  /**
   * Runs one statement in this database as the server's superuser (`postgres` on 5432,
   * `supabase_admin` on the Supabase-like cluster), e.g. to tamper with vault.secrets.
   */
  asAdmin<Row = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<Row[]>
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
  options: { rootKey?: string; server?: TestServer } = {},
): Promise<PostgresDatabase> {
  const server = SERVERS[options.server ?? 'postgres']
  const name = `kw_test_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: server.admin })
  try {
    await admin.connect()
  } catch (error) {
    throw new Error(`PostgreSQL is not reachable at ${server.admin}; ${server.unreachable}`, {
      cause: error,
    })
  }
  try {
    await admin.query(server.create(name))
  } finally {
    await admin.end()
  }
  const url = new URL(server.user)
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

  const adminUrl = new URL(server.admin)
  adminUrl.pathname = `/${name}`

  return {
    url: url.toString(),
    name,
    server: options.server ?? 'postgres',
    connect,
    async asAdmin<Row>(sql: string, params: unknown[] = []) {
      const client = new pg.Client({ connectionString: adminUrl.toString() })
      await client.connect()
      try {
        // Without parameters, the simple protocol: a script of several statements is allowed.
        const result = params.length ? await client.query(sql, params) : await client.query(sql)
        return result.rows as Row[]
      } finally {
        await client.end()
      }
    },
    async drop() {
      const dropper = new pg.Client({ connectionString: server.admin })
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
 * Creates `kw_test_<random>` on the server and applies the migrations (on the Supabase-like
 * cluster as `postgres`, a non-superuser). Fails loudly when the server is unreachable: suites
 * that need PostgreSQL never skip.
 * @param options.server default `postgres` (5432). On `supabase-like` the real vault ignores
 *   the root key sessions are given.
 */
export async function createPostgresTestDatabase(
  options: TestDatabaseOptions & { server?: TestServer } = {},
): Promise<PostgresTestDatabase> {
  const rootKey = randomRootKey()
  const database = await createEmptyPostgresDatabase({ rootKey, ...options })
  try {
    const migrator = await database.connect()
    try {
      // As the platform's superuser: on Supabase the platform, not the user, sets these up.
      if (options.prepare) await database.asAdmin(options.prepare)
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
