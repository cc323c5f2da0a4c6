/**
 * The audit log's integrity against the roles that write it (issue 11): a caller of
 * log_secret_access_batch cannot choose a row's time, an absurd count or an accessor that is not
 * a label; and every row is hash-chained, so that an owner who edits or deletes rows behind the
 * append-only trigger is caught by public.verify_secret_access_log(), and a cut-off tail is
 * caught against an anchor kept outside the database. On the real PostgreSQL server and PGlite.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RolledBackSession, rolledBack } from '../testing/rolled-back.ts'
import { type SqlBackend, sqlBackends, sqlError } from '../testing/sql-backends.ts'

interface Verification {
  intact: boolean
  rows_checked: number
  first_broken_id: number | null
  reason: string | null
  last_id: number | null
  last_hash: string | null
}

let sequence = 0
function fresh(base: string): string {
  sequence += 1
  return `${base}_${sequence}`
}

const VERIFY = `SELECT intact, rows_checked::int, first_broken_id::int, reason, last_id::int, last_hash
                  FROM public.verify_secret_access_log($1, $2)`

describe.each(await sqlBackends())('the audit log on $kind', ({ kind, create }) => {
  let db: SqlBackend

  beforeAll(async () => {
    db = await create()
  })

  afterAll(async () => {
    await db?.close()
  })

  const batch = (events: unknown[]) =>
    db.query<{ written: number }>('SELECT public.log_secret_access_batch($1::jsonb) AS written', [
      JSON.stringify(events),
    ])

  const event = (name: string, extra: Record<string, unknown> = {}) => ({
    secret_name: name,
    accessed_by: 'cli',
    access_type: 'cache_hit',
    success: true,
    ...extra,
  })

  const rowsOf = (name: string) =>
    db.query<{
      id: number
      created_at: Date
      client_time: Date | null
      event_count: number
      accessed_by: string
    }>(
      'SELECT id::int, created_at, client_time, event_count, accessed_by FROM public.secret_access_log WHERE secret_name = $1 ORDER BY id',
      [name],
    )

  const verify = async (
    anchor: { id: number; hash: string } | null = null,
    run: (sql: string, params: unknown[]) => Promise<unknown[]> = (sql, params) =>
      db.query(sql, params),
  ) => (await run(VERIFY, [anchor?.id ?? null, anchor?.hash ?? null]))[0] as Verification

  const verifyIn = (
    session: RolledBackSession,
    anchor: { id: number; hash: string } | null = null,
  ) => verify(anchor, (sql, params) => session.run(sql, params))

  // --- forged rows ---------------------------------------------------------------------------

  it("takes the server's clock for created_at, and keeps a client time only near it", async () => {
    const name = fresh('clock')
    const recent = new Date(Date.now() - 60_000).toISOString()
    await batch([
      event(name, { created_at: '2001-01-01T00:00:00Z' }),
      event(name, { created_at: '2999-01-01T00:00:00Z' }),
      event(name, { created_at: recent }),
    ])
    const rows = await rowsOf(name)
    expect(rows).toHaveLength(3)
    for (const row of rows)
      expect(Math.abs(row.created_at.getTime() - Date.now())).toBeLessThan(60_000)
    expect(rows.map((row) => row.client_time?.toISOString() ?? null)).toEqual([null, null, recent])
  })

  it('bounds event_count to 1..1,000,000 (KW012), writing nothing of a bad batch', async () => {
    const name = fresh('count')
    for (const count of [2_147_483_647, 1_000_001, 0]) {
      expect((await sqlError(batch([event(name), event(name, { event_count: count })]))).code).toBe(
        'KW012',
      )
    }
    await batch([event(name, { event_count: 1_000_000 })])
    expect((await rowsOf(name)).map((row) => row.event_count)).toEqual([1_000_000])
  })

  it('takes only label-like accessors, from the batch and from every function (KW012)', async () => {
    const name = fresh('accessor')
    const bad = [
      '<script>alert(1)</script>',
      'two words',
      'esc\u001b[31m',
      'new\nline',
      '-dash',
      'x'.repeat(201),
    ]
    for (const accessed_by of bad) {
      expect((await sqlError(batch([event(name, { accessed_by })]))).code).toBe('KW012')
      expect(
        (await sqlError(db.query('SELECT public.get_secret($1, $2)', [name, accessed_by]))).code,
      ).toBe('KW012')
    }
    // What the front doors write stays valid.
    const good = [
      'cli',
      'mcp:claude-desktop',
      'chatgpt-plugin',
      'edge:203.0.113.9',
      'edge:2001:db8::1',
      'sql:postgres',
      'agent:read-many',
      'x'.repeat(200),
    ]
    await batch(good.map((accessed_by) => event(name, { accessed_by })))
    expect((await rowsOf(name)).map((row) => row.accessed_by)).toEqual(good)
  })

  // --- the hash chain ------------------------------------------------------------------------

  it('chains every row: verification walks all of them and ends at the newest', async () => {
    const name = fresh('chained')
    await db.query('SELECT public.store_secret($1, $2)', [name, 'value-1'])
    await db.query('SELECT public.get_secret($1)', [name])
    await db.query('SELECT * FROM public.get_secrets($1)', [[name, fresh('missing')]])
    await batch([event(name), event(name, { access_type: 'env_fallback' })])
    const result = await verify()
    const [count] = await db.query<{ n: number; last_id: number; last_hash: string }>(
      `SELECT (SELECT pg_catalog.count(*)::int FROM public.secret_access_log) AS n,
              l.id::int AS last_id, pg_catalog.encode(l.row_hash, 'hex') AS last_hash
         FROM public.secret_access_log l ORDER BY l.id DESC LIMIT 1`,
    )
    expect(result).toEqual({
      intact: true,
      rows_checked: count?.n,
      first_broken_id: null,
      reason: null,
      last_id: count?.last_id,
      last_hash: count?.last_hash,
    })
    expect(result.last_hash).toMatch(/^[0-9a-f]{64}$/)
    // The anchor a user keeps checks out.
    expect(
      (await verify({ id: result.last_id as number, hash: result.last_hash as string })).intact,
    ).toBe(true)
  })

  it('ignores chain values an inserter supplies', async () => {
    const name = fresh('supplied')
    await rolledBack(db, async (session) => {
      await session.run(
        `INSERT INTO public.secret_access_log (secret_name, accessed_by, access_type, success, id, row_hash)
         OVERRIDING SYSTEM VALUE VALUES ($1, 'owner', 'read', true, 1, '\\x00')`,
        [name],
      )
      expect((await verifyIn(session)).intact).toBe(true)
    })
  })

  it('catches an owner who disables the append-only trigger and edits a row', async () => {
    const name = fresh('edited')
    await batch([event(name), event(name), event(name)])
    const [, middle] = await rowsOf(name)
    await rolledBack(db, async (session) => {
      await session.run(
        'ALTER TABLE public.secret_access_log DISABLE TRIGGER secret_access_log_append_only',
      )
      await session.run(
        "UPDATE public.secret_access_log SET accessed_by = 'someone-else' WHERE id = $1",
        [middle?.id],
      )
      expect(await verifyIn(session)).toMatchObject({
        intact: false,
        first_broken_id: middle?.id,
        reason: 'hash_mismatch',
      })
    })
    expect((await verify()).intact).toBe(true)
  })

  it('catches a deleted row at the row after it', async () => {
    const name = fresh('deleted')
    await batch([event(name), event(name), event(name)])
    const [, middle, last] = await rowsOf(name)
    await rolledBack(db, async (session) => {
      await session.run(
        'ALTER TABLE public.secret_access_log DISABLE TRIGGER secret_access_log_append_only',
      )
      await session.run('DELETE FROM public.secret_access_log WHERE id = $1', [middle?.id])
      expect(await verifyIn(session)).toMatchObject({
        intact: false,
        first_broken_id: last?.id,
        reason: 'hash_mismatch',
      })
    })
  })

  it('catches a cut-off tail against an anchor, which the chain alone cannot', async () => {
    const name = fresh('tail')
    await batch([event(name)])
    const anchor = await verify()
    expect(anchor.intact).toBe(true)
    await batch([event(name), event(name)])
    const anchorRef = { id: anchor.last_id as number, hash: anchor.last_hash as string }
    await rolledBack(db, async (session) => {
      await session.run('DELETE FROM public.secret_access_log WHERE id >= $1', [anchorRef.id])
      // What is left still chains: only the anchor knows rows are gone.
      expect((await verifyIn(session)).intact).toBe(true)
      expect(await verifyIn(session, anchorRef)).toMatchObject({
        intact: false,
        reason: 'anchor_missing',
      })
    })
    // A rewritten history keeps the anchored row but not its hash.
    await rolledBack(db, async (session) => {
      await session.run(
        "UPDATE public.secret_access_log SET accessed_by = 'rewritten' WHERE id = $1",
        [anchorRef.id],
      )
      await session.run(
        `UPDATE public.secret_access_log l SET row_hash = keywarden.audit_row_hash(
           p.row_hash, l.id, l.secret_name, l.accessed_by, l.access_type, l.success,
           l.error_message, l.created_at, l.event_count, l.secret_version, l.source, l.client_time)
           FROM public.secret_access_log p
          WHERE l.id = $1
            AND p.id = (SELECT pg_catalog.max(o.id) FROM public.secret_access_log o WHERE o.id < l.id)`,
        [anchorRef.id],
      )
      const result = await verifyIn(session, anchorRef)
      expect(result.intact).toBe(false)
      expect(result.first_broken_id).toBeGreaterThanOrEqual(anchorRef.id)
    })
  })

  it('refuses to chain under REPEATABLE READ, whose snapshot could miss the end of the chain', async () => {
    await rolledBack(db, async (session) => {
      await session.run('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ')
      expect((await sqlError(session.run("SELECT public.get_secret('rr_probe')"))).code).toBe(
        '0A000',
      )
    })
  })

  it('refuses half an anchor or a malformed hash (KW012)', async () => {
    expect((await sqlError(db.query(VERIFY, [1, null]))).code).toBe('KW012')
    expect((await sqlError(db.query(VERIFY, [1, 'not-hex']))).code).toBe('KW012')
  })

  it.runIf(kind !== 'pglite')('chains correctly under concurrent writers', async () => {
    if (db.kind !== 'postgres') return
    const name = fresh('concurrent')
    await db.query('SELECT public.store_secret($1, $2)', [name, 'value'])
    const clients = await Promise.all(
      Array.from({ length: 8 }, () => (db.kind === 'postgres' ? db.database.connect() : null)),
    )
    try {
      await Promise.all(
        clients.map(async (client, index) => {
          if (!client) return
          await client.query('SET ROLE service_role')
          for (let i = 0; i < 25; i++) {
            if (i % 2 === 0) await client.query('SELECT public.get_secret($1)', [name])
            else
              await client.query('SELECT public.log_secret_access_batch($1::jsonb)', [
                JSON.stringify([event(name, { accessed_by: `worker-${index}` }), event(name)]),
              ])
          }
        }),
      )
    } finally {
      await Promise.all(clients.map((client) => client?.end()))
    }
    const [counted] = await db.query<{ n: number; mine: number }>(
      `SELECT pg_catalog.count(*)::int AS n,
              pg_catalog.count(*) FILTER (WHERE secret_name = $1)::int AS mine
         FROM public.secret_access_log`,
      [name],
    )
    // 8 writers × (13 reads + 12 batches of 2), plus the store.
    expect(counted?.mine).toBe(8 * (13 + 24) + 1)
    expect(await verify()).toMatchObject({ intact: true, rows_checked: counted?.n })
  })
})
