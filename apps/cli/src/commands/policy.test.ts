/**
 * `keywarden policy`, `set --allow-command / --protected` and the CLI's own door, as a real
 * process against the real PostgreSQL server (a fresh migrated database). Needs the built CLI
 * (`npm run build`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createPostgresTestDatabase,
  type PostgresTestDatabase,
} from '../../../../packages/core/src/testing/databases.ts'
import { runCli } from '../testing/run-cli.ts'

describe('keywarden policy (postgres)', () => {
  let database: PostgresTestDatabase
  let env: Record<string, string>

  beforeAll(async () => {
    database = await createPostgresTestDatabase()
    env = { KEYWARDEN_DATABASE_URL: database.url, KEYWARDEN_ROOT_KEY: database.rootKey }
  })

  afterAll(async () => {
    await database?.drop()
  })

  const kw = (args: string[], input = '') => runCli(args, { env, input })
  const listed = async (name: string) => {
    const result = await kw(['list', '--json'])
    const all = JSON.parse(result.stdout) as Array<Record<string, unknown>>
    return all.find((entry) => entry.name === name)
  }

  it('refuses a code-running --allow-command unless the user says it reveals', async () => {
    const refused = await kw(['set', 'do_token', '--allow-command', 'doctl,git'], 'do-value')
    expect(refused.code).toBe(2)
    expect(refused.stderr).toMatch(
      /^keywarden: --allow-command git: it runs code .*the same as revealing it\. Add --i-understand-this-reveals to allow it anyway\n$/,
    )
    expect(await listed('do_token')).toBeUndefined()

    const set = await kw(
      ['set', 'do_token', '--allow-command', 'doctl', '--allow-command', '/usr/bin/git'],
      'do-value',
    )
    expect(set.code).toBe(2)
    const allowed = await kw(
      [
        'set',
        'do_token',
        '--allow-command',
        'doctl,/usr/bin/git',
        '--i-understand-this-reveals',
        '--protected',
      ],
      'do-value',
    )
    // doctl is not installed here: allowed, with a warning (the MCP server's PATH may differ).
    expect(allowed.code).toBe(0)
    expect(allowed.stderr).toBe(
      "keywarden: warning: --allow-command doctl is not on this PATH; run_command finds it only if it is on the MCP server's PATH\n",
    )
    expect(await listed('do_token')).toMatchObject({
      allowed_commands: ['doctl', '/usr/bin/git'],
      protected: true,
    })
    expect((await kw(['list'])).stdout).toContain('hidden, protected')
    const cleared = await kw(
      ['set', 'do_token', '--no-allowed-commands', '--no-protected'],
      'do-value',
    )
    expect(cleared.code).toBe(0)
    expect(await listed('do_token')).toMatchObject({ allowed_commands: [], protected: false })
  })

  it('shows, sets, checks and removes rules', async () => {
    const empty = await kw(['policy'])
    expect(empty.code).toBe(0)
    expect(empty.stdout).toContain('No rules: every door has its defaults.')
    expect(empty.stdout).toContain(
      'agent doors (edge, mcp:*) may read-metadata, use-hosts, use-commands, reveal, create',
    )

    const set = await kw([
      'policy',
      'set',
      'mcp:claude-desktop',
      'github_*',
      '--allow',
      'write',
      '--deny',
      'reveal,use-commands',
      '--json',
    ])
    expect(set.code).toBe(0)
    expect(JSON.parse(set.stdout)).toEqual({
      door: 'mcp:claude-desktop',
      secret: 'github_*',
      rights: {
        read_metadata: true,
        use_hosts: true,
        use_commands: false,
        reveal: false,
        write: true,
        create: true,
      },
    })
    const shown = JSON.parse((await kw(['policy', 'show', '--json'])).stdout) as {
      rules: Array<{ door: string; secret: string; updated_by: string }>
    }
    expect(shown.rules).toMatchObject([
      { door: 'mcp:claude-desktop', secret: 'github_*', updated_by: 'cli' },
    ])
    const checked = await kw(['policy', 'check', 'mcp:claude-desktop', 'github_token', '--json'])
    expect(JSON.parse(checked.stdout)).toMatchObject({
      rule: { door: 'mcp:claude-desktop', secret: 'github_*' },
      rights: { write: true, reveal: false },
      floor: null,
    })
    const floor = await kw(['policy', 'check', 'edge', 'cron_bearer_token'])
    expect(floor.stdout).toContain(
      "cron_bearer_token is one of Keywarden's own credentials: edge may never write",
    )
    expect((await kw(['policy', 'rm', 'mcp:claude-desktop', 'github_*'])).code).toBe(0)
    expect((await kw(['policy', 'rm', 'mcp:claude-desktop', 'github_*'])).code).toBe(1)

    for (const bad of [
      ['policy', 'set', 'mcp:x', 'a'],
      ['policy', 'set', 'MCP X', 'a', '--allow', 'write'],
      ['policy', 'set', 'mcp:x', 'a', '--allow', 'everything'],
      ['policy', 'frobnicate'],
    ]) {
      const result = await kw(bad)
      expect(result.code, bad.join(' ')).toBe(2)
      expect(result.stderr).toMatch(/^keywarden: [^\n]+\n$/)
    }
  })

  it('binds the CLI itself when a cli rule says so, and says how to undo it', async () => {
    expect((await kw(['set', 'locked_one'], 'v1')).code).toBe(0)
    expect((await kw(['policy', 'set', 'cli', 'locked_*', '--deny', 'write'])).code).toBe(0)
    const refused = await kw(['set', 'locked_one'], 'v2')
    expect(refused.code).toBe(1)
    expect(refused.stderr).toContain(
      'the door policy does not let cli change or delete locked_one; the user can allow it with `keywarden policy set cli locked_one --allow write`',
    )
    expect((await kw(['get', 'locked_one'])).stdout).toBe('v1')
    expect((await kw(['policy', 'rm', 'cli', 'locked_*'])).code).toBe(0)
    expect((await kw(['set', 'locked_one'], 'v2')).code).toBe(0)
  })
})
