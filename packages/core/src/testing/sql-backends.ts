/**
 * Test-only: the databases the SQL contract suite runs against — the real PostgreSQL server,
 * the embedded PGlite and the Supabase-like cluster with the real `supabase_vault` — behind one
 * small interface, so that one suite states the contract once. Nothing here is part of the
 * package build.
 */
import type { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import {
  createPgliteTestDatabase,
  createPostgresTestDatabase,
  includeSupabaseLike,
  type PostgresTestDatabase,
  type TestDatabaseOptions,
  type TestServer,
} from './databases.ts'

/** How {@link SqlBackend.query} runs a statement. */
export interface QueryOptions {
  /**
   * The role the statement runs as (`SET LOCAL ROLE`): an API role such as `service_role`,
   * `anon` or `authenticated`, a role the test made, or `owner` for the user that applied the
   * migrations (`postgres`, no role switch). Default: `service_role`.
   */
  role?: string
  /**
   * The session's `keywarden.root_key` for this statement: omitted, the database's own key;
   * `null`, no key at all; a string, that key.
   */
  rootKey?: string | null
}

interface SqlBackendBase {
  /** The root key the database's secrets are encrypted under. */
  readonly rootKey: string
  /**
   * Runs one statement in a transaction of its own and returns its rows. Rows come back as
   * each driver parses them; cast intervals and counts in SQL (`::text`, `::int`) to compare.
   */
  query<Row = Record<string, unknown>>(
    sql: string,
    params?: unknown[],
    options?: QueryOptions,
  ): Promise<Row[]>
  /** Subscribes to a NOTIFY channel; the returned function unsubscribes. */
  listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>>
  /** Ends the backend's connections and drops what it created. */
  close(): Promise<void>
}

/** The real PostgreSQL server: a fresh migrated database, many sessions. */
export interface PostgresBackend extends SqlBackendBase {
  readonly kind: 'postgres'
  readonly database: PostgresTestDatabase
}

/**
 * The Supabase-like cluster: a fresh database migrated as `postgres` (not a superuser) over the
 * real `supabase_vault`, which holds its own key (`rootKey` is given to sessions but unused).
 * `owner` statements run as `postgres`, with only Supabase's grants on `vault`.
 */
export interface SupabaseLikeBackend extends SqlBackendBase {
  readonly kind: 'supabase-like'
  readonly database: PostgresTestDatabase
  /** Runs one statement as `supabase_admin` (the superuser) in the test database. */
  admin<Row = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<Row[]>
}

/** The embedded PGlite: one in-memory database, one session. */
export interface PgliteBackend extends SqlBackendBase {
  readonly kind: 'pglite'
  readonly db: PGlite
}

export type SqlBackend = PostgresBackend | PgliteBackend | SupabaseLikeBackend

/** The kinds of {@link SqlBackend}. */
export type SqlBackendKind = SqlBackend['kind']

/**
 * The backends a suite runs on, for `describe.each`: PostgreSQL and PGlite always, the
 * Supabase-like cluster in CI (required there) and wherever it is running.
 */
export async function sqlBackends(): Promise<
  { kind: SqlBackendKind; create: (options?: TestDatabaseOptions) => Promise<SqlBackend> }[]
> {
  const backends: {
    kind: SqlBackendKind
    create: (options?: TestDatabaseOptions) => Promise<SqlBackend>
  }[] = [
    { kind: 'postgres', create: createPostgresBackend },
    { kind: 'pglite', create: createPgliteBackend },
  ]
  if (await includeSupabaseLike()) {
    backends.push({ kind: 'supabase-like', create: createSupabaseLikeBackend })
  }
  return backends
}

const ROLE = /^[a-z_][a-z0-9_]*$/

function roleStatement(role: string): string | undefined {
  if (role === 'owner') return undefined
  if (!ROLE.test(role)) throw new TypeError(`not a plain role name: ${role}`)
  return `SET LOCAL ROLE ${role}`
}

/**
 * Runs `sql` as `role` in a transaction of its own on one `pg` session.
 * @param client a connection nobody else uses meanwhile.
 */
export async function queryAs<Row>(
  client: pg.ClientBase,
  role: string,
  sql: string,
  params: unknown[] = [],
): Promise<Row[]> {
  const setRole = roleStatement(role)
  await client.query('BEGIN')
  try {
    if (setRole) await client.query(setRole)
    const result = await client.query(sql, params)
    await client.query('COMMIT')
    return result.rows as Row[]
  } catch (error) {
    await client.query('ROLLBACK')
    throw error
  }
}

/** A fresh migrated database on the PostgreSQL server (fails when the server is unreachable). */
export function createPostgresBackend(options: TestDatabaseOptions = {}): Promise<PostgresBackend> {
  return createServerBackend('postgres', options)
}

/**
 * A fresh database on the Supabase-like cluster, migrated as `postgres` (fails when the cluster
 * is unreachable: `npm run db:supabase-like` starts it).
 */
export async function createSupabaseLikeBackend(
  options: TestDatabaseOptions = {},
): Promise<SupabaseLikeBackend> {
  const backend = await createServerBackend('supabase-like', options)
  return {
    ...backend,
    kind: 'supabase-like',
    admin: (sql, params) => backend.database.asAdmin(sql, params),
  }
}

async function createServerBackend(
  server: TestServer,
  options: TestDatabaseOptions,
): Promise<PostgresBackend> {
  const database = await createPostgresTestDatabase({ ...options, server })
  const pool = new pg.Pool({
    connectionString: database.url,
    options: `-c keywarden.root_key=${database.rootKey}`,
    max: 4,
  })
  // An idle client that the database's drop terminates reports it here; nothing is waiting.
  pool.on('error', () => {})
  const listeners = new Set<pg.Client>()
  return {
    kind: 'postgres',
    database,
    rootKey: database.rootKey,
    async query<Row>(sql: string, params: unknown[] = [], options: QueryOptions = {}) {
      const role = options.role ?? 'service_role'
      if (options.rootKey !== undefined) {
        // A session of its own, given the key (or none) the way users give it: at connect time.
        const client = await database.connect({ rootKey: options.rootKey })
        try {
          return await queryAs<Row>(client, role, sql, params)
        } finally {
          await client.end()
        }
      }
      const client = await pool.connect()
      let broken = false
      try {
        return await queryAs<Row>(client, role, sql, params)
      } catch (error) {
        // After a server error the session rolled back and is fine; after anything else (a
        // broken connection) it is dropped from the pool.
        broken = !(error instanceof pg.DatabaseError)
        throw error
      } finally {
        client.release(broken)
      }
    },
    async listen(channel, onPayload) {
      if (!ROLE.test(channel)) throw new TypeError(`not a plain channel name: ${channel}`)
      const client = await database.connect()
      listeners.add(client)
      client.on('notification', (message) => {
        if (message.channel === channel) onPayload(message.payload ?? '')
      })
      await client.query(`LISTEN ${channel}`)
      return async () => {
        listeners.delete(client)
        await client.end()
      }
    },
    async close() {
      await Promise.all([...listeners].map((client) => client.end()))
      await pool.end()
      await database.drop()
    },
  }
}

/** An in-memory PGlite with the migrations applied. */
export async function createPgliteBackend(
  options: TestDatabaseOptions = {},
): Promise<PgliteBackend> {
  const { db, rootKey } = await createPgliteTestDatabase(options)
  return {
    kind: 'pglite',
    db,
    rootKey,
    async query<Row>(sql: string, params: unknown[] = [], options: QueryOptions = {}) {
      const setRole = roleStatement(options.role ?? 'service_role')
      // PGlite is one session: the key is changed for this transaction only.
      return db.transaction(async (tx) => {
        if (options.rootKey === null) {
          await tx.exec('SET LOCAL keywarden.root_key TO DEFAULT')
        } else if (options.rootKey !== undefined) {
          await tx.query("SELECT set_config('keywarden.root_key', $1, true)", [options.rootKey])
        }
        if (setRole) await tx.exec(setRole)
        return (await tx.query<Row>(sql, params)).rows
      })
    },
    async listen(channel, onPayload) {
      return db.listen(channel, onPayload)
    },
    async close() {
      await db.close()
    },
  }
}

/** The fields of a PostgreSQL error, as both drivers report them. */
export interface SqlErrorFields {
  code: string
  message: string
  detail?: string
  hint?: string
  where?: string
}

/** Awaits a statement that must fail and returns its error's fields. */
export async function sqlError(promise: Promise<unknown>): Promise<SqlErrorFields> {
  try {
    await promise
  } catch (error) {
    if (!(error instanceof Error) || typeof (error as { code?: unknown }).code !== 'string') {
      throw error
    }
    const fields = error as Error & Partial<SqlErrorFields>
    return {
      code: fields.code ?? '',
      message: fields.message,
      ...(fields.detail ? { detail: fields.detail } : {}),
      ...(fields.hint ? { hint: fields.hint } : {}),
      ...(fields.where ? { where: fields.where } : {}),
    }
  }
  throw new Error('expected the statement to fail, but it succeeded')
}
