/**
 * The dashboard's aggregations (migration 15) on every backend: each answer equals the plain
 * SQL over the same rows, counts are events (not rows), ranges are half-open and bounded, and
 * only service_role may call them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type SqlBackend, sqlBackends, sqlError } from '../testing/sql-backends.ts'

interface Seed {
  secret: string
  accessor: string
  type: string
  success: boolean
  at: string
  count?: number
  version?: number
  error?: string
}

describe.each(await sqlBackends())('dashboard aggregations on $kind', ({ create }) => {
  let db: SqlBackend

  beforeAll(async () => {
    db = await create()
  })

  afterAll(async () => {
    await db?.close()
  })

  // Rows in the past need the owner: the API stamps the server's clock.
  const seed = async (rows: Seed[]) => {
    for (const row of rows) {
      await db.query(
        `INSERT INTO public.secret_access_log
           (secret_name, accessed_by, access_type, success, error_message, created_at, event_count, secret_version)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [
          row.secret,
          row.accessor,
          row.type,
          row.success,
          row.error ?? null,
          row.at,
          row.count ?? 1,
          row.version ?? null,
        ],
        { role: 'owner' },
      )
    }
  }

  const call = async (sql: string, params: unknown[]) => {
    const [row] = await db.query<{ result: Record<string, unknown>[] }>(sql, params)
    return row?.result ?? []
  }

  it('buckets events by hour and door, counting event_count and failures', async () => {
    await seed([
      {
        secret: 'act_a',
        accessor: 'mcp:claude',
        type: 'read',
        success: true,
        at: '2026-02-01T10:05:00Z',
      },
      {
        secret: 'act_a',
        accessor: 'mcp:cursor',
        type: 'cache_hit',
        success: true,
        at: '2026-02-01T10:30:00Z',
        count: 7,
      },
      {
        secret: 'act_a',
        accessor: 'cli',
        type: 'read',
        success: false,
        at: '2026-02-01T10:59:59Z',
        error: 'secret not found',
      },
      {
        secret: 'act_b',
        accessor: 'edge',
        type: 'read',
        success: true,
        at: '2026-02-01T11:00:00Z',
      },
      // Outside [from, to): the end is exclusive.
      {
        secret: 'act_b',
        accessor: 'edge',
        type: 'read',
        success: true,
        at: '2026-02-01T12:00:00Z',
      },
    ])
    const points = await call(`SELECT public.audit_activity($1, $2, 'hour', 'door') AS result`, [
      '2026-02-01T10:00:00Z',
      '2026-02-01T12:00:00Z',
    ])
    const simple = points.map((p) => ({
      bucket: new Date(String(p.bucket)).toISOString(),
      series: p.series,
      events: Number(p.events),
      failures: Number(p.failures),
    }))
    expect(simple).toEqual([
      { bucket: '2026-02-01T10:00:00.000Z', series: 'cli', events: 1, failures: 1 },
      { bucket: '2026-02-01T10:00:00.000Z', series: 'mcp', events: 8, failures: 0 },
      { bucket: '2026-02-01T11:00:00.000Z', series: 'edge', events: 1, failures: 0 },
    ])
    const [total] = await db.query<{ events: number }>(
      `SELECT sum(event_count)::int AS events FROM public.secret_access_log
        WHERE created_at >= $1 AND created_at < $2`,
      ['2026-02-01T10:00:00Z', '2026-02-01T12:00:00Z'],
      { role: 'owner' },
    )
    expect(simple.reduce((sum, p) => sum + p.events, 0)).toBe(total?.events)

    const days = await call(
      `SELECT public.audit_activity($1, $2, 'day', 'accessor', 'act_a') AS result`,
      ['2026-02-01T00:00:00Z', '2026-02-03T00:00:00Z'],
    )
    expect(days.map((p) => [p.series, Number(p.events)])).toEqual([
      ['cli', 1],
      ['mcp:claude', 1],
      ['mcp:cursor', 7],
    ])
  })

  it('lists each accessor of each secret with first and last seen, failures and refusals', async () => {
    await seed([
      {
        secret: 'acc_a',
        accessor: 'mcp:claude',
        type: 'read',
        success: true,
        at: '2026-03-01T08:00:00Z',
      },
      {
        secret: 'acc_a',
        accessor: 'mcp:claude',
        type: 'denied',
        success: false,
        at: '2026-03-02T08:00:00Z',
        error: 'reveal refused',
      },
      {
        secret: 'acc_a',
        accessor: 'mcp:claude',
        type: 'cache_hit',
        success: true,
        at: '2026-03-03T08:00:00Z',
        count: 4,
      },
      { secret: '*', accessor: 'cli', type: 'list', success: true, at: '2026-03-02T09:00:00Z' },
    ])
    const rows = await call(`SELECT public.audit_accessors($1, $2) AS result`, [
      '2026-03-01T00:00:00Z',
      '2026-03-04T00:00:00Z',
    ])
    expect(rows).toHaveLength(1)
    const [row] = rows
    expect(row).toMatchObject({
      secret_name: 'acc_a',
      accessed_by: 'mcp:claude',
      door: 'mcp',
      events: 6,
      failures: 1,
      refusals: 1,
    })
    expect(new Date(String(row?.first_seen)).toISOString()).toBe('2026-03-01T08:00:00.000Z')
    expect(new Date(String(row?.last_seen)).toISOString()).toBe('2026-03-03T08:00:00.000Z')

    const failures = await call(`SELECT public.audit_failures($1, $2, 'acc_a') AS result`, [
      '2026-03-01T00:00:00Z',
      '2026-03-04T00:00:00Z',
    ])
    expect(failures).toMatchObject([
      { secret_name: 'acc_a', access_type: 'denied', error_message: 'reveal refused', events: 1 },
    ])
  })

  it('judges each value change against the rotation policy, and lists incident runs', async () => {
    await db.query(`SELECT public.store_secret('rot_a', 'value-one', secret_type => 'api_key')`)
    await seed([
      {
        secret: 'rot_a',
        accessor: 'cli',
        type: 'store',
        success: true,
        at: '2025-01-01T00:00:00Z',
        version: 1,
      },
      // 90 days for an api_key: due 2025-04-01, rotated 10 days late.
      {
        secret: 'rot_a',
        accessor: 'cli',
        type: 'rotate',
        success: true,
        at: '2025-04-11T00:00:00Z',
        version: 2,
      },
      // A failed rotation is no change.
      {
        secret: 'rot_a',
        accessor: 'cli',
        type: 'rotate',
        success: false,
        at: '2025-04-20T00:00:00Z',
        version: 3,
      },
      {
        secret: 'rot_a',
        accessor: 'cli',
        type: 'rotate',
        success: true,
        at: '2025-05-01T00:00:00Z',
        version: 3,
      },
      {
        secret: 'rot_a',
        accessor: 'cli',
        type: 'incident',
        success: true,
        at: '2025-05-01T00:00:00Z',
      },
    ])
    const changes = await call(`SELECT public.audit_rotations($1, $2) AS result`, [
      '2025-02-01T00:00:00Z',
      '2025-06-01T00:00:00Z',
    ])
    expect(
      changes.map((c) => [c.version, c.rotated, Number(c.interval_days), Number(c.late_seconds)]),
    ).toEqual([
      [2, true, 90, 10 * 86_400],
      [3, true, 90, 0],
    ])
    const incidents = await call(`SELECT public.audit_incidents($1, $2) AS result`, [
      '2025-02-01T00:00:00Z',
      '2025-06-01T00:00:00Z',
    ])
    expect(incidents).toMatchObject([{ secret_name: 'rot_a', accessed_by: 'cli', success: true }])
  })

  it('refuses unbounded or backward ranges and unknown buckets (KW012)', async () => {
    const bad: Array<[string, unknown[]]> = [
      [
        `SELECT public.audit_activity($1, $2) AS result`,
        ['2026-01-02T00:00:00Z', '2026-01-01T00:00:00Z'],
      ],
      [
        `SELECT public.audit_activity($1, $2, 'hour') AS result`,
        ['2025-01-01T00:00:00Z', '2026-01-01T00:00:00Z'],
      ],
      [
        `SELECT public.audit_activity($1, $2, 'minute') AS result`,
        ['2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z'],
      ],
      [`SELECT public.audit_accessors($1, $2) AS result`, [null, '2026-01-02T00:00:00Z']],
      [
        `SELECT public.audit_rotations($1, $2) AS result`,
        ['2020-01-01T00:00:00Z', '2026-01-02T00:00:00Z'],
      ],
    ]
    for (const [sql, params] of bad) {
      expect((await sqlError(db.query(sql, params))).code).toBe('KW012')
    }
  })

  it('is for service_role only', async () => {
    for (const role of ['anon', 'authenticated']) {
      const error = await sqlError(
        db.query(`SELECT public.audit_activity(now() - interval '1 day', now())`, [], { role }),
      )
      expect(error.code).toBe('42501')
    }
  })
})
