import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPostgresTestDatabase, type PostgresTestDatabase } from '../testing/databases.ts'

// Reads commit without waiting for the WAL flush, but only when that cannot weaken anything
// else the transaction did (docs/sql-api.md, "Durability of read audit rows").
describe('the commit mode of a read', () => {
  let database: PostgresTestDatabase
  let client: pg.Client

  const commitModeAfter = async (statements: string[]) => {
    await client.query('BEGIN')
    try {
      for (const statement of statements) await client.query(statement)
      const { rows } = await client.query<{ mode: string }>(
        "SELECT current_setting('synchronous_commit') AS mode",
      )
      return rows[0]?.mode
    } finally {
      await client.query('ROLLBACK')
    }
  }

  beforeAll(async () => {
    database = await createPostgresTestDatabase()
    client = await database.connect()
    await client.query("SELECT public.store_secret('github_token', 'ghp_read_commit')")
    await client.query('CREATE TABLE caller_data (n int)')
  })

  afterAll(async () => {
    await client?.end()
    await database?.drop()
  })

  it('is asynchronous for a transaction that only reads', async () => {
    expect(await commitModeAfter(["SELECT public.get_secret('github_token')"])).toBe('off')
    expect(await commitModeAfter(["SELECT * FROM public.get_secrets(ARRAY['github_token'])"])).toBe(
      'off',
    )
  })

  it("leaves a transaction that already wrote something of the caller's synchronous", async () => {
    expect(
      await commitModeAfter([
        'INSERT INTO caller_data VALUES (1)',
        "SELECT public.get_secret('github_token')",
      ]),
    ).toBe('on')
  })

  it('stays synchronous with keywarden.durable_read_audit on', async () => {
    expect(
      await commitModeAfter([
        'SET LOCAL keywarden.durable_read_audit = on',
        "SELECT public.get_secret('github_token')",
      ]),
    ).toBe('on')
  })

  it('does not touch writes: a store stays synchronous', async () => {
    expect(
      await commitModeAfter(["SELECT public.store_secret('other_secret', 'value-other')"]),
    ).toBe('on')
  })
})
