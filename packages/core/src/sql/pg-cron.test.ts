/**
 * pg_cron on the Supabase-like cluster, enabled after the migrations as Supabase users do from
 * the dashboard: `keywarden.schedule_jobs()` then schedules the purge and retention jobs,
 * idempotently; the purge job's command purges previous values whose grace period ended, and
 * the retention job's prunes audit rows older than the retention.
 *
 * pg_cron can only be created in the one database `cron.database_name` names (`kw_cron` on that
 * cluster, see scripts/supabase-like/start.sh), so this file recreates that database for itself,
 * under a cluster-wide advisory lock that keeps two runs out of each other's way. The job is not
 * waited for (pg_cron 1.4 runs at most once a minute): its command runs as the job's user.
 */
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runMigrations } from '../migrate/index.ts'
import { pgConnection } from '../node/connections.ts'
import { loadMigrations } from '../node/migrations.ts'
import {
  includeSupabaseLike,
  SUPABASE_LIKE_ADMIN_URL,
  SUPABASE_LIKE_URL,
} from '../testing/databases.ts'

const CRON_DATABASE = 'kw_cron'
const JOB = 'keywarden-purge-expired-previous'
const RETENTION_JOB = 'keywarden-audit-retention'

function urlFor(base: string, database: string): string {
  const url = new URL(base)
  url.pathname = `/${database}`
  return url.toString()
}

async function connect(base: string, database: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: urlFor(base, database) })
  await client.connect()
  return client
}

describe.runIf(await includeSupabaseLike())('pg_cron on the Supabase-like cluster', () => {
  let lock: pg.Client
  let admin: pg.Client
  let owner: pg.Client

  beforeAll(async () => {
    lock = await connect(SUPABASE_LIKE_ADMIN_URL, 'postgres')
    await lock.query(
      "SELECT pg_catalog.pg_advisory_lock(pg_catalog.hashtext('keywarden-test:kw_cron'))",
    )
    await recreateCronDatabase()
    // As `supabase db push` does: the migrations run as postgres, a non-superuser.
    owner = await connect(SUPABASE_LIKE_URL, CRON_DATABASE)
    await runMigrations(pgConnection(owner), await loadMigrations())
    admin = await connect(SUPABASE_LIKE_ADMIN_URL, CRON_DATABASE)
  })

  afterAll(async () => {
    await owner?.end()
    await admin?.end()
    // Left empty rather than dropped: pg_cron's launcher would retry a missing database every
    // second, for as long as the cluster runs.
    await recreateCronDatabase().catch(() => {})
    await lock?.end()
  })

  async function recreateCronDatabase() {
    await lock.query(`DROP DATABASE IF EXISTS ${CRON_DATABASE} WITH (FORCE)`)
    await lock.query(`CREATE DATABASE ${CRON_DATABASE} OWNER postgres TEMPLATE supabase_template`)
  }

  const scheduleJobs = async () =>
    (await owner.query<{ jobs: string[] }>('SELECT keywarden.schedule_jobs() AS jobs')).rows[0]
      ?.jobs

  it('schedules the purge and retention jobs once pg_cron is enabled after the migrations; their commands purge ended grace periods and prune old audit rows', async () => {
    expect(await scheduleJobs()).toEqual([])

    // Enabling pg_cron from the dashboard: supabase_admin creates it and grants postgres the schema.
    await admin.query('CREATE EXTENSION pg_cron')
    await admin.query('GRANT USAGE ON SCHEMA cron TO postgres')
    await admin.query('GRANT ALL ON ALL TABLES IN SCHEMA cron TO postgres')

    expect(await scheduleJobs()).toEqual([JOB, RETENTION_JOB])
    expect(await scheduleJobs()).toEqual([JOB, RETENTION_JOB])
    const jobs = await admin.query<{
      jobname: string
      schedule: string
      command: string
      username: string
      database: string
    }>('SELECT jobname, schedule, command, username, database FROM cron.job ORDER BY jobid')
    expect(jobs.rows).toEqual([
      {
        jobname: JOB,
        schedule: '*/15 * * * *',
        command: 'SELECT public.purge_expired_previous()',
        username: 'postgres',
        database: CRON_DATABASE,
      },
      {
        jobname: RETENTION_JOB,
        schedule: '23 3 * * *',
        command: 'CALL keywarden.run_audit_retention()',
        username: 'postgres',
        database: CRON_DATABASE,
      },
    ])

    // One previous value whose grace period has ended, one still in its grace period.
    await owner.query('SET ROLE service_role')
    for (const name of ['cron_ended', 'cron_running']) {
      await owner.query('SELECT public.store_secret($1, $2)', [name, `${name}-old`])
      await owner.query('SELECT public.rotate_secret($1, $2)', [name, `${name}-new`])
    }
    await owner.query('RESET ROLE')
    await admin.query(
      "UPDATE keywarden.secrets SET previous_valid_until = now() - interval '1 minute' WHERE name = 'cron_ended'",
    )

    // The job's command, as the job's user would run it.
    const [job, retention] = jobs.rows
    expect(job?.username).toBe('postgres')
    const result = await owner.query(job?.command ?? '')
    expect(result.rows).toEqual([{ purge_expired_previous: 1 }])

    const vaultNames = await admin.query<{ name: string }>(
      "SELECT name FROM vault.secrets WHERE name LIKE 'cron\\_%' ORDER BY name",
    )
    expect(vaultNames.rows.map((row) => row.name)).toEqual([
      'cron_ended',
      'cron_running',
      'cron_running@previous',
    ])
    const metadata = await admin.query<{ name: string; previous: boolean }>(
      "SELECT name, previous_vault_secret_id IS NOT NULL AS previous FROM keywarden.secrets WHERE name LIKE 'cron\\_%' ORDER BY name",
    )
    expect(metadata.rows).toEqual([
      { name: 'cron_ended', previous: false },
      { name: 'cron_running', previous: true },
    ])

    // The retention job's command, as its user runs it (outside a transaction block: the
    // procedure commits between batches): a row older than the retention goes, after a
    // checkpoint, and the chain still verifies.
    expect(retention?.username).toBe('postgres')
    await owner.query('TRUNCATE public.secret_access_log')
    await owner.query(
      `INSERT INTO public.secret_access_log (secret_name, accessed_by, access_type, success, created_at)
       VALUES ('cron_ended', 'cli', 'read', true, now() - interval '400 days')`,
    )
    await owner.query("SELECT public.get_secret('cron_running')")
    await owner.query("SELECT keywarden.set_audit_retention('365 days')")
    await owner.query(retention?.command ?? '')
    const kinds = await owner.query<{ access_type: string }>(
      'SELECT access_type FROM public.secret_access_log ORDER BY id',
    )
    expect(kinds.rows.map((row) => row.access_type)).toEqual(['read', 'audit_checkpoint'])
    const verified = await owner.query<{ intact: boolean }>(
      'SELECT intact FROM public.verify_secret_access_log()',
    )
    expect(verified.rows).toEqual([{ intact: true }])
  })
})
