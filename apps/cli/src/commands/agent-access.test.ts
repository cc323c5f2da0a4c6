/**
 * `set --agent-visible / --allow-host` and their negations, seen through `list`, against the
 * real PostgreSQL server (a fresh migrated database). Needs the built CLI (`npm run build`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createPostgresTestDatabase,
  type PostgresTestDatabase,
} from '../../../../packages/core/src/testing/databases.ts'
import { type CliResult, runCli } from '../testing/run-cli.ts'

interface Listed {
  name: string
  agent_visible: boolean
  allowed_hosts: string[]
}

describe('set: agent access (postgres)', () => {
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
    expect(result).toMatchObject({ code: 0, stderr: '' })
    const secret = (JSON.parse(result.stdout) as Listed[]).find((entry) => entry.name === name)
    return { agent_visible: secret?.agent_visible, allowed_hosts: secret?.allowed_hosts }
  }

  const expectOneLine = (result: CliResult) => {
    expect(result.stdout).toBe('')
    expect(result.stderr).toMatch(/^keywarden: [^\n]+\n$/)
  }

  it('stores new secrets hidden, and without an AGENT column', async () => {
    expect(await kw(['set', 'plain_token'], 'plain-value')).toMatchObject({ code: 0 })
    expect(await listed('plain_token')).toEqual({ agent_visible: false, allowed_hosts: [] })
    const table = await kw(['list'])
    expect(table.code).toBe(0)
    expect(table.stdout).not.toContain('AGENT')
  })

  it('sets, keeps and clears agent access', async () => {
    const set = await kw(
      [
        'set',
        'github_token',
        '--agent-visible',
        '--allow-host',
        'API.github.com',
        '--allow-host',
        '*.example.com',
      ],
      'ghp_agent',
    )
    expect(set).toMatchObject({ code: 0, stdout: 'Created github_token (version 1)\n', stderr: '' })
    expect(await listed('github_token')).toEqual({
      agent_visible: true,
      allowed_hosts: ['api.github.com', '*.example.com'],
    })
    const table = await kw(['list'])
    expect(table.stdout).toMatch(/AGENT/)
    expect(table.stdout).toMatch(/github_token.*visible/)
    expect(table.stdout).toMatch(/plain_token.*hidden/)

    // Left out: kept.
    expect(await kw(['set', 'github_token', '--description', 'PAT'], 'ghp_agent')).toMatchObject({
      code: 0,
    })
    expect(await listed('github_token')).toEqual({
      agent_visible: true,
      allowed_hosts: ['api.github.com', '*.example.com'],
    })

    expect(await kw(['set', 'github_token', '--no-agent-visible'], 'ghp_agent')).toMatchObject({
      code: 0,
    })
    expect(await listed('github_token')).toEqual({
      agent_visible: false,
      allowed_hosts: ['api.github.com', '*.example.com'],
    })
    expect(await kw(['set', 'github_token', '--no-allowed-hosts'], 'ghp_agent')).toMatchObject({
      code: 0,
    })
    expect(await listed('github_token')).toEqual({ agent_visible: false, allowed_hosts: [] })
    expect((await kw(['list'])).stdout).not.toContain('AGENT')
  })

  it('refuses a bad host or contradictory flags with one line (exit 2), changing nothing', async () => {
    for (const args of [
      ['--allow-host', 'https://api.github.com/'],
      ['--allow-host', 'api.github.com/repos'],
      ['--allow-host', '*.com'],
      ['--agent-visible', '--no-agent-visible'],
      ['--allow-host', 'api.github.com', '--no-allowed-hosts'],
    ]) {
      const result = await kw(['set', 'github_token', ...args], 'ghp_changed')
      expect({ args, code: result.code }).toEqual({ args, code: 2 })
      expectOneLine(result)
    }
    const bad = await kw(['set', 'github_token', '--allow-host', 'https://api.github.com/'], 'x')
    expect(bad.stderr).not.toContain('https://')
    expect(await listed('github_token')).toEqual({ agent_visible: false, allowed_hosts: [] })
    const value = await kw(['get', 'github_token'])
    expect(value).toMatchObject({ code: 0, stdout: 'ghp_agent' })
  })

  it('documents the flags in --help', async () => {
    const help = await kw(['set', '--help'])
    expect(help.code).toBe(0)
    for (const flag of [
      '--agent-visible',
      '--no-agent-visible',
      '--allow-host',
      '--no-allowed-hosts',
    ]) {
      expect(help.stdout).toContain(flag)
    }
  })
})
