/**
 * The migration runner: applies `supabase/migrations` in file-name order, each in its own
 * transaction, and records them in `supabase_migrations.schema_migrations` exactly where the
 * Supabase CLI keeps its own history, so `supabase db push` later sees them as applied.
 *
 * Runtime-neutral: it needs only a {@link SqlConnection}, which both `pg`'s Client and PGlite
 * satisfy through small adapters.
 */

/**
 * The newest migration this release ships (the last file of `supabase/migrations`; a test
 * keeps the two equal). A vault migrated past it was migrated by a newer Keywarden, whose
 * functions this client may call wrongly: the client refuses it (SCHEMA_TOO_NEW).
 */
export const LATEST_SCHEMA_VERSION = '20261203000013'

/** One connection (not a pool: the runner's BEGIN and COMMIT must reach the same session). */
export interface SqlConnection {
  /** Runs one statement with `$1`-style parameters. */
  query<Row = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: Row[] }>
  /** Runs a script of one or more statements without parameters. */
  exec(sql: string): Promise<void>
}

/** A migration file: `YYYYMMDDHHMMSS_name.sql`. */
export interface Migration {
  /** The 14-digit timestamp prefix, Supabase's `version`. */
  version: string
  /** The part of the file name after the version, without `.sql`. */
  name: string
  sql: string
}

/** What {@link runMigrations} did. */
export interface MigrationReport {
  /** Versions applied by this run, in order. */
  applied: string[]
  /** Versions found already recorded and left alone. */
  skipped: string[]
}

const MIGRATION_FILE = /^(\d{14})_([A-Za-z0-9_-]+)\.sql$/

// Any fixed number: concurrent runners on one database queue behind it instead of racing.
const MIGRATION_LOCK_KEY = 4_721_903_386

/**
 * Builds a {@link Migration} from a file name and its contents.
 * @throws {TypeError} when the name is not `YYYYMMDDHHMMSS_name.sql`.
 */
export function parseMigration(fileName: string, sql: string): Migration {
  const match = MIGRATION_FILE.exec(fileName)
  if (!match?.[1] || !match[2]) {
    throw new TypeError(
      `migration file "${fileName}" is not named YYYYMMDDHHMMSS_name.sql (letters, digits, "_" and "-")`,
    )
  }
  return { version: match[1], name: match[2], sql }
}

/**
 * Applies every migration not yet recorded, in version order. Running it again changes
 * nothing. A failing migration is rolled back whole and stops the run; the error names it.
 */
export async function runMigrations(
  db: SqlConnection,
  migrations: readonly Migration[],
): Promise<MigrationReport> {
  const ordered = [...migrations].sort((a, b) => a.version.localeCompare(b.version))
  assertUniqueVersions(ordered)
  await inTransaction(db, async () => {
    await db.exec(`
      CREATE SCHEMA IF NOT EXISTS supabase_migrations;
      CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations (
        version text NOT NULL PRIMARY KEY,
        statements text[],
        name text
      );`)
  })

  const report: MigrationReport = { applied: [], skipped: [] }
  for (const migration of ordered) {
    const applied = await inTransaction(db, async () => {
      const recorded = await db.query(
        'SELECT 1 FROM supabase_migrations.schema_migrations WHERE version = $1',
        [migration.version],
      )
      if (recorded.rows.length > 0) return false
      try {
        await db.exec(migration.sql)
      } catch (error) {
        throw new Error(`migration ${migration.version}_${migration.name}.sql failed`, {
          cause: error,
        })
      }
      await db.query(
        'INSERT INTO supabase_migrations.schema_migrations (version, name, statements) VALUES ($1, $2, $3)',
        [migration.version, migration.name, splitStatements(migration.sql)],
      )
      return true
    })
    report[applied ? 'applied' : 'skipped'].push(migration.version)
  }
  return report
}

async function inTransaction<T>(db: SqlConnection, work: () => Promise<T>): Promise<T> {
  await db.exec('BEGIN')
  try {
    await db.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY])
    const result = await work()
    await db.exec('COMMIT')
    return result
  } catch (error) {
    await db.exec('ROLLBACK')
    throw error
  }
}

function assertUniqueVersions(migrations: readonly Migration[]): void {
  for (let index = 1; index < migrations.length; index++) {
    const version = migrations[index]?.version
    if (version === migrations[index - 1]?.version) {
      throw new TypeError(`two migrations share the version ${version}`)
    }
  }
}

/**
 * Splits a SQL script into its statements, as the Supabase CLI records them: semicolons inside
 * quotes, quoted identifiers, dollar-quoted bodies and comments do not split. Statements are
 * trimmed and have no trailing semicolon; empty and comment-only pieces are dropped.
 */
export function splitStatements(sql: string): string[] {
  const statements: string[] = []
  let start = 0
  let hasCode = false
  let index = 0
  const flush = (end: number) => {
    const text = sql.slice(start, end).trim()
    if (hasCode && text) statements.push(text)
    start = end + 1
    hasCode = false
  }
  while (index < sql.length) {
    const char = sql[index]
    const next = sql[index + 1]
    if (char === '-' && next === '-') {
      const end = sql.indexOf('\n', index)
      index = end === -1 ? sql.length : end + 1
    } else if (char === '/' && next === '*') {
      index = skipBlockComment(sql, index)
    } else if (char === "'") {
      const escapes = /[eE]/.test(sql[index - 1] ?? '') && !/\w/.test(sql[index - 2] ?? '')
      index = skipQuoted(sql, index, "'", escapes)
      hasCode = true
    } else if (char === '"') {
      index = skipQuoted(sql, index, '"', false)
      hasCode = true
    } else if (char === '$') {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(index))?.[0]
      if (tag && !/\w/.test(sql[index - 1] ?? '')) {
        const end = sql.indexOf(tag, index + tag.length)
        index = end === -1 ? sql.length : end + tag.length
      } else {
        index++
      }
      hasCode = true
    } else if (char === ';') {
      flush(index)
      index++
    } else {
      if (char !== undefined && !/\s/.test(char)) hasCode = true
      index++
    }
  }
  flush(sql.length)
  return statements
}

function skipBlockComment(sql: string, from: number): number {
  let depth = 0
  let index = from
  while (index < sql.length) {
    if (sql.startsWith('/*', index)) {
      depth++
      index += 2
    } else if (sql.startsWith('*/', index)) {
      depth--
      index += 2
      if (depth === 0) return index
    } else {
      index++
    }
  }
  return index
}

function skipQuoted(sql: string, from: number, quote: string, backslashEscapes: boolean): number {
  let index = from + 1
  while (index < sql.length) {
    const char = sql[index]
    if (backslashEscapes && char === '\\') {
      index += 2
    } else if (char === quote) {
      if (sql[index + 1] !== quote) return index + 1
      index += 2
    } else {
      index++
    }
  }
  return index
}
