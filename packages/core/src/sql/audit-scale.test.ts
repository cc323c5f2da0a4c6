/**
 * Migration 13 made secret_alerts and secret_metrics cheaper at scale (issue 14) without
 * changing an answer: here both run beside the definitions they replaced (taken verbatim from
 * migrations 11 and 5, renamed into a scratch schema) over one seeded log with spikes, short
 * histories, empty hours, new accessors and failure bursts, for several windows. On every SQL
 * backend.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadMigrations } from '../node/migrations.ts'
import {
  createPostgresBackend,
  type PostgresBackend,
  type SqlBackend,
  sqlBackends,
} from '../testing/sql-backends.ts'

/** A function's CREATE statement from a migration, renamed into schema `kw_old`. */
async function previousDefinition(version: string, name: string): Promise<string> {
  const migration = (await loadMigrations()).find((entry) => entry.version === version)
  const start = migration?.sql.search(
    new RegExp(`CREATE (OR REPLACE )?FUNCTION public\\.${name}\\(`),
  )
  if (migration === undefined || start === undefined || start < 0) {
    throw new Error(`no ${name} in migration ${version}`)
  }
  const end = migration.sql.indexOf('\n  $$;', start)
  return migration.sql
    .slice(start, end + '\n  $$;'.length)
    .replace(`FUNCTION public.${name}(`, `FUNCTION kw_old.${name}(`)
}

// Times relative to one instant, so every backend seeds the same log.
const SEED = `
  INSERT INTO public.secret_access_log
    (secret_name, accessed_by, access_type, success, error_message, created_at, event_count)
  SELECT 'k' || (i % 6),
         'agent-' || (i * 7 % 5),
         CASE WHEN i % 11 = 0 THEN 'cache_hit' WHEN i % 13 = 0 THEN 'list' ELSE 'read' END,
         i % 17 <> 0,
         CASE WHEN i % 17 = 0 THEN 'secret not found' END,
         $1::timestamptz - make_interval(mins => (i * 7919) % (12 * 24 * 60)),
         CASE WHEN i % 11 = 0 THEN 1 + i % 9 ELSE 1 END
    FROM generate_series(1, 3000) AS i`

const EVENTS = `
  INSERT INTO public.secret_access_log
    (secret_name, accessed_by, access_type, success, error_message, created_at, event_count)
  VALUES
    -- spikes on a long history, and on a secret first seen 30 hours before
    ('k1', 'agent-1', 'read', true, NULL, $1::timestamptz - interval '5 hours', 60),
    ('k1', 'agent-2', 'cache_hit', true, NULL, $1::timestamptz - interval '5 hours 10 minutes', 40),
    ('fresh', 'agent-3', 'read', true, NULL, $1::timestamptz - interval '30 hours', 1),
    ('fresh', 'agent-3', 'read', true, NULL, $1::timestamptz - interval '2 hours', 50),
    ('k2', 'agent-4', 'cache_hit', true, NULL, $1::timestamptz - interval '50 hours', 90),
    -- a newcomer
    ('k3', 'newbie', 'read', true, NULL, $1::timestamptz - interval '3 hours', 1),
    ('k4', 'newbie', 'read', true, NULL, $1::timestamptz - interval '60 hours', 2)`

const WINDOWS: [string | null, string][] = [
  [null, '0 hours'],
  ['3 days', '0 hours'],
  ['9 days', '0 hours'],
  [null, '2 days'],
  ['2 hours', '4 hours'],
]

describe.each(await sqlBackends())('alerts and metrics at scale on $kind', ({ create }) => {
  let db: SqlBackend
  let now: string

  beforeAll(async () => {
    db = await create()
    const [row] = await db.query<{ now: string }>(
      'SELECT to_char(now() AT TIME ZONE \'UTC\', \'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\') AS now',
    )
    now = row?.now as string
    for (const name of ['k0', 'k1', 'k2', 'k3', 'k4', 'idle', 'fresh']) {
      await db.query('SELECT public.store_secret($1, $2)', [name, `${name}-value`])
    }
    await db.query(SEED, [now], { role: 'owner' })
    await db.query(EVENTS, [now], { role: 'owner' })
    // Medians at the edge of the empty hours: `half` used every other hour (as many empty
    // hours as not), `dense` three times an hour; then spikes on both.
    await db.query(
      `INSERT INTO public.secret_access_log (secret_name, accessed_by, access_type, success, created_at, event_count)
       SELECT 'half', 'agent-1', 'read', true, $1::timestamptz - make_interval(hours => h), 1
         FROM generate_series(1, 240, 2) AS h
       UNION ALL
       SELECT 'dense', 'agent-2', 'read', true, $1::timestamptz - make_interval(mins => m * 20), 1
         FROM generate_series(1, 720) AS m
       UNION ALL
       SELECT s, 'agent-3', 'cache_hit', true, $1::timestamptz - make_interval(hours => h::int), 40
         FROM unnest(ARRAY['half', 'half', 'dense', 'dense']) WITH ORDINALITY AS x (s, h)`,
      [now],
      { role: 'owner' },
    )
    // A burst of refusals by one prober, and an old use of `idle` only.
    await db.query(
      `INSERT INTO public.secret_access_log (secret_name, accessed_by, access_type, success, error_message, created_at)
       SELECT 'k5', 'prober', 'read', false, 'refused', $1::timestamptz - interval '7 hours' + make_interval(mins => i)
         FROM generate_series(1, 8) AS i
       UNION ALL
       SELECT 'idle', 'agent-1', 'read', true, NULL, $1::timestamptz - interval '20 days'`,
      [now],
      { role: 'owner' },
    )
    await db.query('CREATE SCHEMA kw_old', [], { role: 'owner' })
    await db.query(await previousDefinition('20261203000011', 'secret_alerts'), [], {
      role: 'owner',
    })
    await db.query(await previousDefinition('20261129000005', 'secret_metrics'), [], {
      role: 'owner',
    })
  })

  afterAll(async () => {
    await db?.close()
  })

  const alerts = (schema: string, since: string | null, before: string) =>
    db.query<{ alert: Record<string, unknown> }>(
      `SELECT to_jsonb(a) AS alert
         FROM ${schema}.secret_alerts($1::timestamptz - $3::interval - $2::interval, $1::timestamptz - $3::interval) AS a`,
      [now, since ?? '24 hours', before],
      { role: 'owner' },
    )

  it.each(WINDOWS)(
    'secret_alerts answers as before (since %s before p_now, p_now %s ago)',
    async (since, before) => {
      const current = await alerts('public', since, before)
      expect(current).toEqual(await alerts('kw_old', since, before))
    },
  )

  it('finds every kind of alert in the seeded log (so the comparison is not vacuous)', async () => {
    const kinds = new Set<unknown>()
    for (const [since, before] of WINDOWS) {
      for (const { alert } of await alerts('public', since, before)) kinds.add(alert.kind)
    }
    expect([...kinds].sort()).toEqual(['access_spike', 'failed_access_burst', 'new_accessor'])
    const spikes = await alerts('public', '3 days', '0 hours')
    expect(spikes.map(({ alert }) => alert.secret_name)).toEqual(
      expect.arrayContaining(['dense', 'fresh', 'half', 'k1', 'k2']),
    )
  })

  it.each(['0 hours', '2 days', '15 days'])(
    'secret_metrics answers as before (p_now %s ago)',
    async (before) => {
      const metrics = (schema: string) =>
        db.query(
          `SELECT to_jsonb(m) AS metric FROM ${schema}.secret_metrics($1::timestamptz - $2::interval) AS m`,
          [now, before],
          { role: 'owner' },
        )
      const current = await metrics('public')
      expect(current).toHaveLength(7)
      expect(current).toEqual(await metrics('kw_old'))
    },
  )
})

// Each index on the audit log costs bytes and time on every audited access, so each must be
// the one a query takes: over a log large enough for the planner to prefer indexes, the
// functions that read the log (the dashboard's included) use every index the table has (a new index nothing uses fails
// here). PostgreSQL's own statistics count the scans, on the real server.
describe('the audit log indexes, each used', () => {
  let db: PostgresBackend

  beforeAll(async () => {
    db = await createPostgresBackend()
    await db.query("SELECT public.store_secret('k1', 'k1-value')")
    await db.query(
      SEED.replace('generate_series(1, 3000)', 'generate_series(1, 60000)'),
      [new Date().toISOString()],
      { role: 'owner' },
    )
    await db.query('ANALYZE public.secret_access_log', [], { role: 'owner' })
  })

  afterAll(async () => {
    await db?.close()
  })

  it('by the audit queries, metrics and alerts', async () => {
    const session = await db.database.connect()
    try {
      for (const sql of [
        'SELECT count(*) FROM public.query_secret_access_log()',
        "SELECT count(*) FROM public.query_secret_access_log('k1')",
        'SELECT count(*) FROM public.query_secret_access_log(failed_only => true)',
        "SELECT count(*) FROM public.query_secret_access_log(since => now() - interval '1 hour')",
        'SELECT count(*) FROM public.secret_metrics()',
        'SELECT count(*) FROM public.secret_alerts()',
        'SELECT row_hash FROM public.secret_access_log ORDER BY id DESC LIMIT 1',
        // The dashboard's and the report's aggregations (migration 15).
        "SELECT public.audit_activity(now() - interval '7 days', now(), 'hour', 'door')",
        "SELECT public.audit_rotations(now() - interval '30 days', now())",
        "SELECT public.audit_incidents(now() - interval '30 days', now())",
      ]) {
        await session.query(sql)
      }
      await session.query('SELECT pg_stat_force_next_flush()')
      await session.query('SELECT 1')
      const { rows } = await session.query<{ index: string; scans: number }>(
        `SELECT indexrelname AS index, idx_scan::int AS scans FROM pg_stat_user_indexes
          WHERE relid = 'public.secret_access_log'::regclass ORDER BY indexrelname`,
      )
      expect(rows.map((row) => row.index)).toEqual([
        'secret_access_log_created_at_idx',
        'secret_access_log_failures_idx',
        'secret_access_log_lifecycle_idx',
        'secret_access_log_pkey',
        'secret_access_log_secret_accessor_idx',
        'secret_access_log_secret_name_idx',
      ])
      expect(rows.filter((row) => row.scans === 0)).toEqual([])
    } finally {
      await session.end()
    }
  })
})
