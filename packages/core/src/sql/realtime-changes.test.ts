/**
 * Migration 9's change feed, database half: where Supabase's `realtime.send` exists, a change of
 * a secret's version or vault row is broadcast as `{name, version, op}` on `keywarden:secrets`.
 * The Realtime server cannot run here, so `testing/realtime.ts` provides `realtime.send` with
 * Supabase's signature, recording each call into `realtime.messages` — created before the
 * migrations, as Supabase has it. Runs on every backend; without the `realtime` schema the
 * migrations must add no trigger at all.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  RECORDED_BROADCASTS_SQL,
  type RecordedBroadcast,
  SUPABASE_REALTIME_SEND_SQL,
  SUPABASE_REALTIME_SQL,
} from '../testing/realtime.ts'
import { type SqlBackend, sqlBackends, sqlError } from '../testing/sql-backends.ts'

let sequence = 0
function fresh(base: string): string {
  sequence += 1
  return `${base}_${sequence}`
}

const BACKENDS = await sqlBackends()

describe.each(BACKENDS)('the Realtime change feed on $kind', ({ create }) => {
  let db: SqlBackend
  let seen = 0

  beforeAll(async () => {
    db = await create({ prepare: SUPABASE_REALTIME_SQL })
  })

  afterAll(async () => {
    await db?.close()
  })

  /** The broadcasts recorded since the last call. */
  const broadcasts = async (): Promise<RecordedBroadcast[]> => {
    const rows = await db.query<RecordedBroadcast>(RECORDED_BROADCASTS_SQL, [seen], {
      role: 'owner',
    })
    seen = rows.at(-1)?.id ?? seen
    return rows
  }

  it('broadcasts each new version, rotation and deletion, with name, version and op only', async () => {
    const name = fresh('feed')
    await broadcasts()
    const value = `canary-${Math.random().toString(36).slice(2)}`
    await db.query('SELECT public.store_secret($1, $2, $3)', [name, value, 'a description'])
    await db.query('SELECT public.store_secret($1, $2)', [name, `${value}-2`])
    await db.query('SELECT * FROM public.rotate_secret($1, $2)', [name, `${value}-3`])
    await db.query('SELECT public.delete_secret($1)', [name])

    const sent = await broadcasts()
    expect(
      sent.map(({ topic, event, private: isPrivate, payload }) => ({
        topic,
        event,
        isPrivate,
        payload,
      })),
    ).toEqual([
      {
        topic: 'keywarden:secrets',
        event: 'secret_changed',
        isPrivate: true,
        payload: { name, version: 1, op: 'insert' },
      },
      {
        topic: 'keywarden:secrets',
        event: 'secret_changed',
        isPrivate: true,
        payload: { name, version: 2, op: 'update' },
      },
      {
        topic: 'keywarden:secrets',
        event: 'secret_changed',
        isPrivate: true,
        payload: { name, version: 3, op: 'update' },
      },
      {
        topic: 'keywarden:secrets',
        event: 'secret_changed',
        isPrivate: true,
        payload: { name, version: 3, op: 'delete' },
      },
    ])
    // Never a value or a description, in any form.
    const recorded = JSON.stringify(sent)
    expect(recorded).not.toContain('canary-')
    expect(recorded).not.toContain('a description')
  })

  it('sends nothing for a change that leaves the version and the vault row as they are', async () => {
    const name = fresh('quiet')
    await db.query('SELECT public.store_secret($1, $2)', [name, 'v'])
    await broadcasts()
    await db.query(
      `UPDATE keywarden.secrets SET description = 'edited', expires_at = now() + interval '1 day',
              version = version WHERE name = $1`,
      [name],
      { role: 'owner' },
    )
    await db.query('SELECT public.stage_rotation($1, $2)', [name, 'staged'])
    await db.query('SELECT public.discard_staged_rotation($1)', [name])
    expect(await broadcasts()).toEqual([])
  })

  it('sends nothing for a write that rolls back', async () => {
    const name = fresh('rolled_back')
    await broadcasts()
    await sqlError(db.query('SELECT public.store_secret($1, $2), 1 / 0', [name, 'v']))
    expect(await broadcasts()).toEqual([])
    expect(
      await db.query('SELECT name FROM keywarden.secrets WHERE name = $1', [name], {
        role: 'owner',
      }),
    ).toEqual([])
  })

  /** Runs `sql` as whoever owns Supabase's `realtime` schema (the platform's superuser). */
  const asPlatform = async (sql: string) => {
    if (db.kind === 'supabase-like') await db.admin(sql)
    else await db.query(sql, [], { role: 'owner' })
  }

  it('keeps the write when realtime.send fails', async () => {
    const name = fresh('send_fails')
    await asPlatform(
      `CREATE OR REPLACE FUNCTION realtime.send(payload jsonb, event text, topic text,
                                                private boolean DEFAULT true)
       RETURNS void LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'realtime is down'; END $$`,
    )
    try {
      await db.query('SELECT public.store_secret($1, $2)', [name, 'kept'])
      expect(await db.query('SELECT public.get_secret($1) AS value', [name])).toEqual([
        { value: 'kept' },
      ])
    } finally {
      await asPlatform(SUPABASE_REALTIME_SEND_SQL)
    }
    await db.query('SELECT * FROM public.rotate_secret($1, $2)', [name, 'next'])
    expect((await broadcasts()).map((each) => each.payload)).toEqual([
      { name, version: 2, op: 'update' },
    ])
  })
})

describe.each(BACKENDS)('without Realtime on $kind', ({ create }) => {
  let db: SqlBackend

  beforeAll(async () => {
    db = await create()
  })

  afterAll(async () => {
    await db?.close()
  })

  it('adds no trigger and no broadcast function', async () => {
    expect(
      await db.query(
        `SELECT tgname FROM pg_catalog.pg_trigger
          WHERE tgrelid = 'keywarden.secrets'::regclass AND tgname LIKE 'secrets_broadcast%'`,
        [],
        { role: 'owner' },
      ),
    ).toEqual([])
    expect(
      await db.query(
        "SELECT pg_catalog.to_regproc('keywarden.broadcast_secret_change') IS NULL AS absent",
        [],
        { role: 'owner' },
      ),
    ).toEqual([{ absent: true }])
    await db.query('SELECT public.store_secret($1, $2)', [fresh('plain'), 'v'])
  })
})
