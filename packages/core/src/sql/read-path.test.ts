import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rolledBack } from '../testing/rolled-back.ts'
import { type SqlBackend, sqlBackends } from '../testing/sql-backends.ts'

// Migration 20261203000012_read_path: the same reads, audited the same way, for less.

/** Characters around every class boundary of the checks, and a few that no check allows. */
const CHARACTERS = [
  ...'azmAZ09_.-:@/+=',
  ...' \t\n\'"%*\\',
  'é',
  'ß',
  'İ',
  '😀',
  'ﬀ',
  '\u00a0',
  ...'0123456789abcdefABCDEFgG',
]

/** Strings of every length up to past `limit`, most of them near it. */
function candidates(limit: number) {
  const unit = fc.constantFrom(...CHARACTERS)
  const text = fc.oneof(
    fc.string({ unit, maxLength: 12 }),
    fc.string({ unit, minLength: limit - 3, maxLength: limit + 3 }),
    // Long runs of allowed characters with one odd one anywhere.
    fc
      .tuple(fc.integer({ min: 1, max: limit + 2 }), fc.constantFrom('a', 'A', '0', '_'), unit)
      .chain(([length, fill, odd]) =>
        fc
          .integer({ min: 0, max: length })
          .map((at) => fill.repeat(length).slice(0, at) + odd + fill.repeat(length).slice(at + 1)),
      ),
  )
  return fc.array(fc.option(text, { nil: null, freq: 20 }), { minLength: 1, maxLength: 100 })
}

describe.each(await sqlBackends())('the read path on $kind', ({ kind, create }) => {
  let db: SqlBackend
  const compatibleVault = kind !== 'supabase-like'

  beforeAll(async () => {
    db = await create()
  })

  afterAll(async () => {
    await db?.close()
  })

  /**
   * Asserts on generated strings that `check(s)` (the new, cheap expression) and `bounded(s)`
   * (the bounded-repetition pattern it replaced) give the same answer.
   */
  const sameAnswers = (check: string, bounded: string, limit: number) =>
    fc.assert(
      fc.asyncProperty(candidates(limit), async (values) => {
        const differing = await db.query<{ value: string | null }>(
          `SELECT s AS value FROM unnest($1::text[]) AS s
            WHERE (${check}) IS DISTINCT FROM (${bounded})`,
          [values],
          { role: 'owner' },
        )
        expect(differing).toEqual([])
      }),
      { numRuns: 60 },
    )

  it('accepts exactly the names the bounded pattern accepted', async () => {
    await sameAnswers(
      'keywarden.is_valid_name(s)',
      "s IS NOT NULL AND s ~ '^[a-z0-9][a-z0-9_.-]{0,127}$'",
      128,
    )
  })

  it('accepts exactly the accessors the bounded pattern accepted', async () => {
    await sameAnswers(
      'keywarden.is_valid_accessor(s)',
      "s IS NOT NULL AND s ~ '^[A-Za-z0-9][A-Za-z0-9_.:@/+=-]{0,199}$'",
      200,
    )
  })

  it("accepts exactly the access types the audit log's bounded CHECK accepted", async () => {
    await sameAnswers('keywarden.is_access_type(s)', "s ~ '^[a-z][a-z_]{0,31}$'", 32)
    const error = await db
      .query(
        `INSERT INTO public.secret_access_log (secret_name, accessed_by, access_type, success)
         VALUES ('x', 'test', $1, true)`,
        ['a'.repeat(33)],
        { role: 'owner' },
      )
      .catch((caught: { code?: string }) => caught)
    expect((error as { code?: string }).code).toBe('23514')
  })

  it.runIf(compatibleVault)(
    'accepts exactly the root keys the bounded pattern accepted',
    async () => {
      await sameAnswers('vault._is_root_key(s)', "s ~ '^[0-9a-fA-F]{64}$'", 64)
    },
  )

  /** The audit rows written by `read`, oldest first. */
  const auditOf = async (read: () => Promise<unknown>) => {
    const [row] = await db.query<{ last: string }>(
      'SELECT coalesce(max(id), 0)::text AS last FROM public.secret_access_log',
      [],
      { role: 'owner' },
    )
    const last = row?.last ?? '0'
    await read()
    return db.query(
      `SELECT secret_name, accessed_by, access_type, success, error_message, secret_version
         FROM public.secret_access_log WHERE id > $1 ORDER BY id`,
      [last],
      { role: 'owner' },
    )
  }

  const sqlState = (promise: Promise<unknown>) =>
    promise.then(
      () => 'no error',
      (error: { code?: string }) => error.code,
    )

  it('get_secret_row reads and audits exactly what get_secrets(ARRAY[name]) does', async () => {
    await db.query("SELECT public.store_secret('row_read', 'first-value')")
    await db.query("SELECT public.rotate_secret('row_read', 'second-value')")
    for (const [name, version] of [
      ['row_read', 'current'],
      ['row_read', 'previous'],
      ['row_missing', 'current'],
      ['row_missing', 'previous'],
    ] as const) {
      let single: unknown
      let batch: unknown
      const singleAudit = await auditOf(async () => {
        single = await db.query('SELECT * FROM public.get_secret_row($1, $2, $3)', [
          name,
          'test:row',
          version,
        ])
      })
      const batchAudit = await auditOf(async () => {
        batch = await db.query(
          'SELECT secret_value, secret_version FROM public.get_secrets(ARRAY[$1], $2, $3)',
          [name, 'test:row', version],
        )
      })
      expect(single).toEqual(batch)
      expect(singleAudit).toEqual(batchAudit)
      expect(singleAudit).toHaveLength(1)
    }
    expect(await db.query("SELECT * FROM public.get_secret_row('row_read', 'test:row')")).toEqual([
      { secret_value: 'second-value', secret_version: 2 },
    ])
    expect(await db.query("SELECT public.get_secret('row_read') AS value")).toEqual([
      { value: 'second-value' },
    ])
    expect(await sqlState(db.query("SELECT * FROM public.get_secret_row('Not A Name')"))).toBe(
      'KW010',
    )
    expect(
      await sqlState(db.query("SELECT * FROM public.get_secret_row('row_read', NULL, 'older')")),
    ).toBe('KW012')
    expect(
      await sqlState(db.query("SELECT * FROM public.get_secret_row('row_read', 'bad accessor')")),
    ).toBe('KW012')
  })

  it('keeps get_secret_row from the API roles', async () => {
    for (const role of ['anon', 'authenticated']) {
      expect(
        await sqlState(db.query("SELECT * FROM public.get_secret_row('row_read')", [], { role })),
      ).toBe('42501')
    }
  })

  it.runIf(compatibleVault)(
    'reads a missing secret without a root key, and refuses a found one (KW001)',
    async () => {
      await db.query("SELECT public.store_secret('row_keyed', 'keyed-value')")
      expect(
        await db.query("SELECT * FROM public.get_secret_row('row_nowhere')", [], {
          rootKey: null,
        }),
      ).toEqual([{ secret_value: null, secret_version: null }])
      expect(
        await sqlState(
          db.query("SELECT * FROM public.get_secrets(ARRAY['row_nowhere', 'row_keyed'])", [], {
            rootKey: null,
          }),
        ),
      ).toBe('KW001')
    },
  )

  it('commits list_secret_names like a read: relaxed, durable under keywarden.durable_read_audit, audited either way', async () => {
    // The mode a transaction commits with, against the session's own default (the
    // Supabase-like cluster runs with synchronous_commit off).
    const commitMode = async (statements: string[]) => {
      let mode: { before?: string; after?: string } = {}
      await rolledBack(db, async (session) => {
        const read = async () =>
          (
            await session.run<{ mode: string }>(
              "SELECT current_setting('synchronous_commit') AS mode",
            )
          )[0]?.mode
        const before = await read()
        for (const statement of statements) await session.run(statement)
        mode = { before, after: await read() }
      })
      return mode
    }
    expect((await commitMode(['SELECT * FROM public.list_secret_names()'])).after).toBe('off')
    for (const statements of [
      ['SET LOCAL keywarden.durable_read_audit = on', 'SELECT * FROM public.list_secret_names()'],
      [
        "SELECT public.store_secret('row_written_first', 'written-value')",
        'SELECT * FROM public.list_secret_names()',
      ],
    ]) {
      const { before, after } = await commitMode(statements)
      expect(after).toBe(before)
    }
    expect(
      (
        await commitMode([
          'SET LOCAL synchronous_commit = on',
          'SET LOCAL keywarden.durable_read_audit = on',
          'SELECT * FROM public.list_secret_names()',
        ])
      ).after,
    ).toBe('on')
    expect(
      await auditOf(() => db.query("SELECT * FROM public.list_secret_names('test:list')")),
    ).toEqual([
      {
        secret_name: '*',
        accessed_by: 'test:list',
        access_type: 'list',
        success: true,
        error_message: null,
        secret_version: null,
      },
    ])
  })

  it("lists the rotation policy's interval once per secret, and skips vault rows with invalid names", async () => {
    await db.query(
      "SELECT public.store_secret('row_listed_token', 'listed-value', NULL, 'github_token')",
    )
    await db.query(
      "SELECT vault.create_secret('outside-value', 'Not A Keywarden Name', 'made outside')",
      [],
      { role: kind === 'supabase-like' ? 'service_role' : 'owner' },
    )
    const rows = await db.query<{ name: string; days: string; due: boolean }>(
      `SELECT name, rotation_interval_days::text AS days,
              rotation_due_at = created_at + interval '90 days' AS due
         FROM public.list_secret_names() WHERE name IN ('row_listed_token', 'Not A Keywarden Name')`,
    )
    expect(rows).toEqual([{ name: 'row_listed_token', days: '90', due: true }])
    const names = (
      await db.query<{ name: string }>('SELECT name FROM public.list_secret_names()')
    ).map((row) => row.name)
    expect(names.some((name) => name.includes('@'))).toBe(false)
  })
})
