/**
 * `keywarden audit verify [--anchor FILE]`, spawned as a user runs it against a fresh database
 * on the real PostgreSQL server, where the database's owner then tampers with the audit log.
 */
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createPostgresTestDatabase,
  type PostgresTestDatabase,
} from '../../../../packages/core/src/testing/databases.ts'
import { runCli } from '../testing/run-cli.ts'

describe('keywarden audit verify on PostgreSQL', () => {
  let database: PostgresTestDatabase
  let dir: string
  let env: Record<string, string>

  beforeAll(async () => {
    database = await createPostgresTestDatabase()
    dir = await mkdtemp(join(tmpdir(), 'kw-audit-verify-'))
    env = { KEYWARDEN_DATABASE_URL: database.url, KEYWARDEN_ROOT_KEY: database.rootKey }
  })

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
    await database?.drop()
  })

  const cli = (args: string[]) => runCli(args, { env })

  /** Runs statements as the database's owner, who may change the log behind the trigger. */
  const asOwner = async (sql: string) => {
    const client = await database.connect()
    try {
      await client.query(sql)
    } finally {
      await client.end()
    }
  }

  it('records an anchor (0600) when intact, and fails with exit 1 once the tail is cut', async () => {
    const anchor = join(dir, 'audit.anchor')
    // A listing writes an audit row: the log is not empty.
    expect((await cli(['list'])).code).toBe(0)
    const first = await cli(['audit', 'verify', '--anchor', anchor])
    expect(first.stdout).toMatch(/audit log intact: \d+ rows checked/)
    expect(first.code).toBe(0)
    const recorded = JSON.parse(await readFile(anchor, 'utf8')) as { id: number; hash: string }
    expect(recorded.hash).toMatch(/^[0-9a-f]{64}$/)
    expect((await stat(anchor)).mode & 0o777).toBe(0o600)

    // The anchor moves on with the log.
    expect((await cli(['list'])).code).toBe(0)
    expect((await cli(['audit', 'verify', '--anchor', anchor])).code).toBe(0)
    const moved = JSON.parse(await readFile(anchor, 'utf8')) as { id: number; hash: string }
    expect(moved.id).toBeGreaterThan(recorded.id)

    // The owner cuts the newest rows: what is left still chains, only the anchor can tell.
    await asOwner(`DELETE FROM public.secret_access_log WHERE id >= ${moved.id}`)
    expect((await cli(['audit', 'verify'])).code).toBe(0)
    const cut = await cli(['audit', 'verify', '--anchor', anchor, '--json'])
    expect(cut.code).toBe(1)
    expect(JSON.parse(cut.stdout)).toMatchObject({
      intact: false,
      reason: 'anchor_missing',
      anchor_checked: true,
      anchor_recorded: false,
    })
    // A broken log never moves the anchor.
    expect(JSON.parse(await readFile(anchor, 'utf8'))).toEqual(moved)
  })

  it('names the first edited row, and refuses a malformed anchor file (exit 2)', async () => {
    await asOwner(
      `ALTER TABLE public.secret_access_log DISABLE TRIGGER secret_access_log_append_only;
       UPDATE public.secret_access_log SET accessed_by = 'someone-else'
        WHERE id = (SELECT pg_catalog.min(id) FROM public.secret_access_log);
       ALTER TABLE public.secret_access_log ENABLE TRIGGER secret_access_log_append_only`,
    )
    const broken = await cli(['audit', 'verify'])
    expect(broken.code).toBe(1)
    expect(broken.stdout).toMatch(/audit log BROKEN at row \d+: its content or hash was changed/)

    const bad = join(dir, 'bad.anchor')
    await writeFile(bad, 'not json')
    const refused = await cli(['audit', 'verify', '--anchor', bad])
    expect(refused.code).toBe(2)
    expect(refused.stderr).toContain('is not {"id"')
  })
})
