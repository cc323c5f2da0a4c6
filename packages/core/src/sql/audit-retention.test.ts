/**
 * Audit retention (issue 14): rows older than the owner's setting are pruned in batches, oldest
 * first, after an anchored checkpoint row is appended to the hash chain; verification starts
 * from that checkpoint, and an owner who edits the rows after it, the checkpoint table or the
 * checkpoint's chain row is still caught. On every SQL backend.
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

interface PruneStep {
  deleted: number
  done: boolean
  pruned_through_id: number | null
}

interface Checkpoint {
  log_id: number
  pruned_through_id: number
  pruned_through_hash: string
}

const VERIFY = `SELECT intact, rows_checked::int, first_broken_id::int, reason, last_id::int, last_hash
                  FROM public.verify_secret_access_log($1, $2)`
const PRUNE = `SELECT deleted, done, pruned_through_id::int
                 FROM public.prune_secret_access_log($1)`
const LATEST_CHECKPOINT = `SELECT log_id::int, pruned_through_id::int,
                                  encode(pruned_through_hash, 'hex') AS pruned_through_hash
                             FROM keywarden.audit_checkpoints ORDER BY id DESC LIMIT 1`
const OLD_ROWS = 25

/** Runs a statement outside any transaction block (a procedure that commits needs that). */
async function outsideTransaction(db: SqlBackend, sql: string): Promise<void> {
  if (db.kind === 'pglite') {
    await db.db.exec(sql)
    return
  }
  const client = await db.database.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

describe.each(await sqlBackends())('audit retention on $kind', ({ kind, create }) => {
  let db: SqlBackend

  beforeAll(async () => {
    db = await create()
    // The oldest rows first, as a log that has been written for years has them: 400 days old,
    // then 200 days old, then today's.
    for (const days of [400, 200]) {
      await db.query(
        `INSERT INTO public.secret_access_log (secret_name, accessed_by, access_type, success, created_at)
         SELECT 'old_' || i, 'cli', 'read', true, now() - make_interval(days => $1) + make_interval(secs => i)
           FROM generate_series(1, $2) AS i`,
        [days, OLD_ROWS],
        { role: 'owner' },
      )
    }
    await db.query("SELECT public.store_secret('kept', 'kept-value')")
    await db.query("SELECT public.get_secret('kept')")
  })

  afterAll(async () => {
    await db?.close()
  })

  const verify = async (
    anchor: { id: number; hash: string } | null = null,
    run: (sql: string, params: unknown[]) => Promise<unknown[]> = (sql, params) =>
      db.query(sql, params),
  ) => (await run(VERIFY, [anchor?.id ?? null, anchor?.hash ?? null]))[0] as Verification

  const verifyIn = (session: RolledBackSession) =>
    verify(null, (sql, params) => session.run(sql, params))

  const prune = async (batchSize: number) =>
    (await db.query<PruneStep>(PRUNE, [batchSize]))[0] as PruneStep

  const oldRows = async (days: number) =>
    (
      await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM public.secret_access_log
          WHERE secret_name LIKE 'old\\_%' AND created_at < now() - make_interval(days => $1)`,
        [days],
      )
    )[0]?.n

  const setRetention = (keep: string | null) =>
    db.query('SELECT keywarden.set_audit_retention($1::interval)', [keep], { role: 'owner' })

  it('keeps every row by default', async () => {
    expect(await prune(10)).toEqual({ deleted: 0, done: true, pruned_through_id: null })
    expect(await oldRows(300)).toBe(OLD_ROWS)
  })

  it('lets only the owner set the retention or read the checkpoints', async () => {
    expect((await sqlError(db.query("SELECT keywarden.set_audit_retention('1 day')"))).code).toBe(
      '42501',
    )
    expect((await sqlError(db.query('SELECT * FROM keywarden.audit_checkpoints'))).code).toBe(
      '42501',
    )
    expect((await sqlError(db.query('CALL keywarden.run_audit_retention()'))).code).toBe('42501')
    expect((await sqlError(db.query(PRUNE, [0]))).code).toBe('KW012')
  })

  it('prunes rows older than the retention in batches after an anchored checkpoint, and the chain still verifies', async () => {
    const before = await verify()
    expect(before.intact).toBe(true)
    const [lastOld] = await db.query<{ id: number; hash: string }>(
      `SELECT id::int, encode(row_hash, 'hex') AS hash FROM public.secret_access_log
        WHERE created_at < now() - interval '365 days' ORDER BY id DESC LIMIT 1`,
    )
    await setRetention('365 days')

    // The first step only appends the checkpoint; the next ones delete, ten rows at a time.
    const steps: PruneStep[] = []
    for (let step = await prune(10); ; step = await prune(10)) {
      steps.push(step)
      if (step.done) break
    }
    expect(steps.map((step) => step.deleted)).toEqual([0, 10, 10, 5, 0])
    expect(new Set(steps.map((step) => step.pruned_through_id))).toEqual(new Set([lastOld?.id]))
    expect(await oldRows(365)).toBe(0)
    expect(await oldRows(100)).toBe(OLD_ROWS)

    const [checkpoint] = await db.query<Checkpoint>(LATEST_CHECKPOINT, [], { role: 'owner' })
    expect(checkpoint).toEqual({
      log_id: expect.any(Number),
      pruned_through_id: lastOld?.id,
      pruned_through_hash: lastOld?.hash,
    })
    const [row] = await db.query<{ access_type: string; error_message: string }>(
      'SELECT access_type, error_message FROM public.secret_access_log WHERE id = $1',
      [checkpoint?.log_id],
    )
    expect(row).toEqual({
      access_type: 'audit_checkpoint',
      error_message: `audit checkpoint: rows through id ${lastOld?.id} pruned; the chain resumes from row_hash ${lastOld?.hash}`,
    })

    const after = await verify()
    expect(after).toMatchObject({ intact: true, reason: null })
    expect(after.rows_checked).toBe(before.rows_checked - OLD_ROWS + 1)
    // An anchor kept from before the prune: the head then is still there; the last pruned row
    // is checked against the checkpoint, and a row before it is past.
    const head = { id: before.last_id as number, hash: before.last_hash as string }
    expect((await verify(head)).intact).toBe(true)
    expect(
      (await verify({ id: lastOld?.id as number, hash: lastOld?.hash as string })).intact,
    ).toBe(true)
    expect(await verify({ id: lastOld?.id as number, hash: '0'.repeat(64) })).toMatchObject({
      intact: false,
      reason: 'anchor_mismatch',
    })
    expect((await verify({ id: 1, hash: '0'.repeat(64) })).intact).toBe(true)
  })

  it('runs the whole prune as one procedure call, committing between batches', async () => {
    await setRetention('100 days')
    await outsideTransaction(db, 'CALL keywarden.run_audit_retention(7)')
    expect(await oldRows(100)).toBe(0)
    expect(await verify()).toMatchObject({ intact: true, reason: null })
    // Nothing left to prune: one step, done.
    expect((await prune(10)).done).toBe(true)
    // The log goes on after the checkpoint.
    await db.query("SELECT public.get_secret('kept')")
    await db.query("SELECT public.get_secret('kept')")
    expect(await verify()).toMatchObject({ intact: true, reason: null })
  })

  // --- an owner tampering after a prune -------------------------------------------------------

  const latestCheckpoint = async (session: RolledBackSession) =>
    (await session.run<Checkpoint>(LATEST_CHECKPOINT))[0] as Checkpoint

  const firstRowAfter = async (session: RolledBackSession, id: number) =>
    (
      await session.run<{ id: number }>(
        'SELECT id::int FROM public.secret_access_log WHERE id > $1 ORDER BY id LIMIT 1',
        [id],
      )
    )[0]?.id

  it('catches an edited row after the checkpoint', async () => {
    await rolledBack(db, async (session) => {
      const checkpoint = await latestCheckpoint(session)
      const target = await firstRowAfter(session, checkpoint.log_id)
      await session.run(
        "UPDATE public.secret_access_log SET accessed_by = 'someone-else' WHERE id = $1",
        [target],
      )
      expect(await verifyIn(session)).toMatchObject({
        intact: false,
        first_broken_id: target,
        reason: 'hash_mismatch',
      })
    })
  })

  it('catches a checkpoint whose hash was changed, at the first row it anchors', async () => {
    await rolledBack(db, async (session) => {
      const checkpoint = await latestCheckpoint(session)
      await session.run(
        "UPDATE keywarden.audit_checkpoints SET pruned_through_hash = sha256('forged') WHERE log_id = $1",
        [checkpoint.log_id],
      )
      expect(await verifyIn(session)).toMatchObject({
        intact: false,
        first_broken_id: await firstRowAfter(session, checkpoint.pruned_through_id),
        reason: 'hash_mismatch',
      })
    })
  })

  it('catches a forged prune: more rows deleted and the checkpoint moved over them', async () => {
    await rolledBack(db, async (session) => {
      const checkpoint = await latestCheckpoint(session)
      // The rows after the checkpoint's last pruned one, up to the checkpoint's own row, go;
      // the checkpoint is moved to the last of them, with its true hash.
      const [victim] = await session.run<{ id: number; hash: string }>(
        `SELECT id::int, encode(row_hash, 'hex') AS hash FROM public.secret_access_log
          WHERE id < $1 ORDER BY id DESC LIMIT 1`,
        [checkpoint.log_id],
      )
      expect(victim?.id).toBeGreaterThan(checkpoint.pruned_through_id)
      await session.run('DELETE FROM public.secret_access_log WHERE id <= $1', [victim?.id])
      await session.run(
        `UPDATE keywarden.audit_checkpoints
            SET pruned_through_id = $1, pruned_through_hash = decode($2, 'hex') WHERE log_id = $3`,
        [victim?.id, victim?.hash, checkpoint.log_id],
      )
      expect(await verifyIn(session)).toMatchObject({
        intact: false,
        first_broken_id: checkpoint.log_id,
        reason: 'checkpoint_mismatch',
      })
    })
  })

  it('catches an edited checkpoint chain row, and a deleted one', async () => {
    await rolledBack(db, async (session) => {
      const checkpoint = await latestCheckpoint(session)
      await session.run(
        "UPDATE public.secret_access_log SET error_message = 'nothing to see' WHERE id = $1",
        [checkpoint.log_id],
      )
      expect(await verifyIn(session)).toMatchObject({
        intact: false,
        first_broken_id: checkpoint.log_id,
        reason: 'hash_mismatch',
      })
    })
    await rolledBack(db, async (session) => {
      const checkpoint = await latestCheckpoint(session)
      await session.run('DELETE FROM public.secret_access_log WHERE id >= $1', [checkpoint.log_id])
      expect(await verifyIn(session)).toMatchObject({
        intact: false,
        first_broken_id: checkpoint.log_id,
        reason: 'checkpoint_missing',
      })
    })
  })

  it('catches a deleted checkpoint, and one pointed at a row that is no checkpoint', async () => {
    await rolledBack(db, async (session) => {
      const checkpoint = await latestCheckpoint(session)
      await session.run('DELETE FROM keywarden.audit_checkpoints WHERE log_id = $1', [
        checkpoint.log_id,
      ])
      // Verification falls back to the previous checkpoint, whose hash is not the one the
      // first remaining row was chained to.
      expect(await verifyIn(session)).toMatchObject({ intact: false, reason: 'hash_mismatch' })
    })
    await rolledBack(db, async (session) => {
      const checkpoint = await latestCheckpoint(session)
      const other = await firstRowAfter(session, checkpoint.log_id)
      await session.run(
        `INSERT INTO keywarden.audit_checkpoints (log_id, pruned_through_id, pruned_through_hash)
         SELECT $1, pruned_through_id, pruned_through_hash FROM keywarden.audit_checkpoints WHERE log_id = $2`,
        [other, checkpoint.log_id],
      )
      expect(await verifyIn(session)).toMatchObject({
        intact: false,
        first_broken_id: other,
        reason: 'checkpoint_mismatch',
      })
    })
  })

  // Two sessions at once: PGlite has only one.
  it.runIf(kind !== 'pglite')(
    'deletes a batch while a reader appends its audit row, neither waiting for the other',
    async () => {
      if (db.kind === 'pglite') return
      await setRetention('1 second')
      await new Promise((resolve) => setTimeout(resolve, 1100))
      const pruner = await db.database.connect()
      const reader = await db.database.connect()
      try {
        expect((await prune(5)).deleted).toBe(0) // the checkpoint, committed
        await pruner.query('BEGIN')
        const step = await pruner.query<PruneStep>(PRUNE, [5])
        expect(step.rows[0]?.deleted).toBe(5)
        // The batch is deleted, not committed: a read and its audit row go through meanwhile.
        await reader.query('BEGIN')
        await reader.query("SET LOCAL lock_timeout = '2s'")
        await reader.query("SELECT public.get_secret('kept')")
        await reader.query('COMMIT')
        await pruner.query('COMMIT')
      } finally {
        await pruner.end()
        await reader.end()
      }
      expect(await verify()).toMatchObject({ intact: true, reason: null })
    },
  )
})
