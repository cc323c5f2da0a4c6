/** `keywarden db migrate`: applies the bundled migrations to the configured PostgreSQL. */
import {
  describeDatabaseUrl,
  errorFromDatabase,
  isKeywardenError,
  KeywardenError,
  resolveStoreConfig,
  runMigrations,
} from '@keywarden/core'
import { loadMigrations, pgConnection, readSecretFile } from '@keywarden/core/node'
import pg from 'pg'
import type { CommandModule } from '../context.ts'
import { UsageError } from '../errors.ts'

export const options: CommandModule['options'] = {}

export const help = `Usage: keywarden db migrate [--database-url URL] [--json]

Applies Keywarden's SQL migrations (the ones in supabase/migrations, bundled with the CLI) to a
PostgreSQL or Supabase database, each in its own transaction, and records them in
supabase_migrations.schema_migrations as the Supabase CLI does, so \`supabase db push\` sees them
as applied. Running it again applies only what is new. The embedded vault migrates itself.
Then it runs keywarden.schedule_jobs(), which schedules Keywarden's pg_cron jobs where pg_cron
is installed (on Supabase, enable pg_cron first, then run this again).

The database: --database-url, else KEYWARDEN_DATABASE_URL, SUPABASE_DB_URL or POSTGRES_URL.

Options:
  --database-url URL   the database to migrate
  --json               {"database", "applied": [...], "alreadyApplied": [...] (versions),
                        "scheduledJobs": [...] (pg_cron job names)}

Examples:
  keywarden db migrate --database-url postgres://postgres@127.0.0.1:5432/postgres
  SUPABASE_DB_URL=postgresql://postgres:...@db.<project>.supabase.co:5432/postgres keywarden db migrate`

export const run: CommandModule['run'] = async (context, { positionals }) => {
  const [task, ...extra] = positionals
  if (task !== 'migrate' || extra.length > 0) {
    throw new UsageError(
      task === undefined
        ? 'db needs a task: keywarden db migrate'
        : `unknown db task ${task}; the one task is keywarden db migrate`,
    )
  }
  const connectionString = await withPasswordFile(databaseConfig(context.env))
  const database = describeDatabaseUrl(connectionString)
  // Read before connecting: a broken install should not look like a database problem.
  const migrations = await loadMigrations()
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 10_000 })
  // A connection dropped while idle must not crash the process with an unhandled 'error'.
  client.on('error', () => {})
  try {
    await client.connect()
  } catch (error) {
    const mapped = errorFromDatabase(error)
    // The mapped message names a code or class, never the URL, so the password stays out.
    const reason = /^the vault is unavailable \((.+)\)$/.exec(mapped.message)?.[1]
    throw new KeywardenError(
      mapped.code,
      reason === undefined
        ? `cannot connect to ${database}: ${mapped.message}`
        : `cannot connect to ${database} (${reason})`,
    )
  }
  let report: Awaited<ReturnType<typeof runMigrations>>
  let scheduledJobs: string[]
  try {
    report = await runMigrations(pgConnection(client), migrations)
    scheduledJobs = await scheduleJobs(client)
  } catch (error) {
    throw migrationError(error)
  } finally {
    await client.end().catch(() => {})
  }
  const { out } = context
  if (out.json) {
    out.printJson({
      database,
      applied: report.applied,
      alreadyApplied: report.skipped,
      scheduledJobs,
    })
    return 0
  }
  if (scheduledJobs.length > 0) {
    out.line(`pg_cron jobs scheduled: ${scheduledJobs.join(', ')}`)
  }
  const names = new Map(migrations.map((migration) => [migration.version, migration.name]))
  const label = (version: string) => `${version}_${names.get(version) ?? ''}`
  if (report.applied.length === 0) {
    out.line(
      `${database} is up to date: all ${report.skipped.length} migrations were already applied.`,
    )
    return 0
  }
  out.line(
    `Applied ${report.applied.length} migration${report.applied.length === 1 ? '' : 's'} to ${database}:`,
  )
  for (const version of report.applied) out.line(`  ${out.paint.green('+')} ${label(version)}`)
  if (report.skipped.length > 0) {
    out.line(`Already applied: ${report.skipped.length} (${report.skipped.map(label).join(', ')})`)
  }
  return 0
}

/**
 * Schedules the pg_cron jobs (none without pg_cron): pg_cron is often enabled after the
 * migrations ran, so every run schedules them again (idempotently).
 */
async function scheduleJobs(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ jobs: string[] }>(
    'SELECT keywarden.schedule_jobs() AS jobs',
  )
  return rows[0]?.jobs ?? []
}

/** The URL with the password from `KEYWARDEN_DATABASE_PASSWORD_FILE`, as every door reads it. */
async function withPasswordFile(config: { connectionString: string; passwordFile?: string }) {
  if (config.passwordFile === undefined) return config.connectionString
  const url = new URL(config.connectionString)
  url.password = encodeURIComponent(
    await readSecretFile(config.passwordFile, 'KEYWARDEN_DATABASE_PASSWORD_FILE'),
  )
  return url.toString()
}

/** The PostgreSQL configuration, or a usage error saying how to give one. */
function databaseConfig(env: Record<string, string | undefined>) {
  let config = resolveStoreConfig(env)
  // Supabase's own variables win for the vault client (it talks to PostgREST), but a migration
  // needs SQL: use the database URL that sits beside them when there is one.
  if (
    config.kind === 'supabase' &&
    ['KEYWARDEN_DATABASE_URL', 'SUPABASE_DB_URL', 'POSTGRES_URL'].some((name) => env[name]?.trim())
  ) {
    config = resolveStoreConfig({ ...env, KEYWARDEN_STORE: 'postgres' })
  }
  if (config.kind !== 'postgres') {
    throw new UsageError(
      config.kind === 'embedded'
        ? 'db migrate needs a PostgreSQL database: pass --database-url or set KEYWARDEN_DATABASE_URL (the embedded vault migrates itself)'
        : 'db migrate needs a PostgreSQL connection, not the Supabase API: set SUPABASE_DB_URL (Project Settings > Database) or pass --database-url',
    )
  }
  return config
}

/** The runner names the failing migration; add why, as a code, not the server's detail. */
function migrationError(error: unknown): KeywardenError {
  if (isKeywardenError(error)) return error
  if (error instanceof Error && error.message.startsWith('migration ')) {
    const cause = errorFromDatabase(error.cause)
    return new KeywardenError(cause.code, `${error.message}: ${cause.message}`, { cause: error })
  }
  return errorFromDatabase(error)
}
