/**
 * Migration 8's contract: allowed_commands and protected on each secret, and the door policy
 * table behind list_door_policies / set_door_policy / delete_door_policy, on the real
 * PostgreSQL server and on PGlite.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createPgliteBackend,
  createPostgresBackend,
  type SqlBackend,
  sqlError,
} from '../testing/sql-backends.ts'

const FUNCTIONS = [
  'public.store_secret(text, text, text, text, timestamptz, interval, text, boolean, text[], text[], boolean)',
  'public.list_secret_names(text)',
  'public.list_door_policies()',
  'public.set_door_policy(text, text, boolean, boolean, boolean, boolean, boolean, boolean, text)',
  'public.delete_door_policy(text, text, text)',
]

describe.each([
  { kind: 'postgres', create: createPostgresBackend },
  { kind: 'pglite', create: createPgliteBackend },
] as const)('door policy on $kind', ({ create }) => {
  let db: SqlBackend

  beforeAll(async () => {
    db = await create()
  })

  afterAll(async () => {
    await db?.close()
  })

  it('keeps the seed calls valid and stores allowed_commands and protected', async () => {
    await db.query("SELECT public.store_secret('seeded', 'value', 'a description')", [])
    await db.query(
      "SELECT public.store_secret('commanded', 'value', allowed_commands => ARRAY['gh', '/usr/bin/terraform'], protected => true)",
      [],
    )
    const rows = await db.query<{ name: string; allowed_commands: string[]; protected: boolean }>(
      `SELECT name, allowed_commands, protected FROM public.list_secret_names()
        WHERE name IN ('seeded', 'commanded') ORDER BY name`,
      [],
    )
    expect(rows).toEqual([
      { name: 'commanded', allowed_commands: ['gh', '/usr/bin/terraform'], protected: true },
      { name: 'seeded', allowed_commands: [], protected: false },
    ])
  })

  it('refuses a command entry with arguments, naming it by position and length only', async () => {
    const error = await sqlError(
      db.query(
        "SELECT public.store_secret('bad_cmd', 'value', allowed_commands => ARRAY['gh', 'sh -c id'])",
        [],
      ),
    )
    expect(error.code).toBe('KW012')
    expect(error.message).toContain('entry 2 (8 characters)')
    expect(error.message).not.toContain('sh -c')
  })

  it('sets, replaces, lists and removes rules, auditing each change', async () => {
    const set = (can: boolean) =>
      db.query('SELECT public.set_door_policy($1, $2, true, true, false, $3, $3, true, $4)', [
        'mcp:*',
        'github_*',
        can,
        'cli',
      ])
    await set(false)
    await set(true)
    const rules = await db.query<Record<string, unknown>>(
      'SELECT door_pattern, secret_pattern, can_use_commands, can_reveal, can_write, updated_by FROM public.list_door_policies()',
      [],
    )
    expect(rules).toEqual([
      {
        door_pattern: 'mcp:*',
        secret_pattern: 'github_*',
        can_use_commands: false,
        can_reveal: true,
        can_write: true,
        updated_by: 'cli',
      },
    ])
    const bad = await sqlError(
      db.query(
        "SELECT public.set_door_policy('MCP X', '*', true, true, true, true, true, true)",
        [],
      ),
    )
    expect(bad.code).toBe('KW012')
    const removed = await db.query<{ removed: boolean }>(
      "SELECT public.delete_door_policy('mcp:*', 'github_*', 'cli') AS removed",
      [],
    )
    expect(removed).toEqual([{ removed: true }])
    const audit = await db.query<{ access_type: string; error_message: string }>(
      "SELECT access_type, error_message FROM public.secret_access_log WHERE access_type = 'policy' ORDER BY id",
      [],
    )
    expect(audit.map((row) => row.error_message)).toEqual([
      'set mcp:* github_*',
      'set mcp:* github_*',
      'removed mcp:* github_*',
    ])
  })

  it('grants the functions to service_role only, and the table to nobody', async () => {
    for (const role of ['service_role', 'anon', 'authenticated']) {
      const rows = await db.query<{ allowed: boolean }>(
        `SELECT pg_catalog.has_function_privilege($1, f, 'EXECUTE') AS allowed
           FROM pg_catalog.unnest($2::text[]) AS f`,
        [role, FUNCTIONS],
        { role: 'owner' },
      )
      expect(rows.map((row) => row.allowed)).toEqual(FUNCTIONS.map(() => role === 'service_role'))
      const table = await db.query<{ allowed: boolean }>(
        `SELECT pg_catalog.has_table_privilege($1, 'keywarden.door_policies', 'SELECT, INSERT, UPDATE, DELETE') AS allowed`,
        [role],
        { role: 'owner' },
      )
      expect(table).toEqual([{ allowed: false }])
    }
  })
})
