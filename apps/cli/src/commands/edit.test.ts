/**
 * `keywarden edit`, spawned as a user runs it, against a fresh database on the real
 * PostgreSQL server; and every hint an agent door prints that suggests a `keywarden` command,
 * run exactly as printed. Needs the built CLI and MCP server (`npm run build`).
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EXIT_CODES } from '@keywarden/core'
import { createKeywardenMcpServer } from '@keywarden/mcp-server'
import { createNodeCommandRunner } from '@keywarden/mcp-server/node'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createVaultClient, type VaultClient } from '../../../../packages/core/src/index.ts'
import {
  createPostgresTestDatabase,
  type PostgresTestDatabase,
} from '../../../../packages/core/src/testing/databases.ts'
import { runCli } from '../testing/run-cli.ts'

const VALUE = `value-${crypto.randomUUID()}`

let database: PostgresTestDatabase
let env: Record<string, string>
let agentVault: VaultClient
let mcp: Client
let scratch: string

const kw = (args: readonly string[], input = '', extraEnv: Record<string, string> = {}) =>
  runCli(args, { env: { ...env, ...extraEnv }, input })

interface Listed {
  name: string
  version: number
  description: string | null
  agent_visible: boolean
  allowed_hosts: string[]
  allowed_commands: string[]
  protected: boolean
  expires_at: string | null
}
const listed = async (name: string): Promise<Listed | undefined> => {
  const result = await kw(['list', '--json'])
  expect(result.code).toBe(0)
  return (JSON.parse(result.stdout) as Listed[]).find((secret) => secret.name === name)
}

const call = async (name: string, args: Record<string, unknown>) =>
  (await mcp.callTool({ name, arguments: args })) as CallToolResult
const textOf = (result: CallToolResult) =>
  result.content.map((part) => (part.type === 'text' ? part.text : '')).join('\n')

/** The `keywarden ...` commands a refusal suggests, split into arguments as a shell would. */
const hintedCommands = (text: string): string[][] =>
  [...text.matchAll(/`(keywarden [^`]+)`/g)].map((match) =>
    (match[1] as string).split(' ').slice(1),
  )

beforeAll(async () => {
  database = await createPostgresTestDatabase()
  env = { KEYWARDEN_DATABASE_URL: database.url, KEYWARDEN_ROOT_KEY: database.rootKey }
  scratch = await mkdtemp(join(tmpdir(), 'kw-edit-'))
  agentVault = createVaultClient({ env, envFallback: false, accessedBy: 'mcp:test' })
  const server = createKeywardenMcpServer(agentVault, {
    name: 'kw',
    version: '0.0.0',
    policyTtlMs: 0,
    runCommand: {
      allowedCommands: ['sh', 'terraform'],
      unsafeCommands: ['sh'],
      runner: createNodeCommandRunner(),
      timeoutMs: 30_000,
      maxOutputChars: 4096,
    },
  })
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair()
  await server.connect(serverTransport)
  mcp = new Client({ name: 'vitest', version: '0.0.0' })
  await mcp.connect(clientTransport)
})

afterAll(async () => {
  await mcp?.close()
  await agentVault?.close()
  await database?.drop()
  if (scratch) await rm(scratch, { recursive: true, force: true })
})

describe('keywarden edit', () => {
  it('changes metadata with nothing on stdin, keeping the value and version', async () => {
    expect(await kw(['set', 'gh_token', '--description', 'before'], VALUE)).toMatchObject({
      code: 0,
    })
    const edited = await kw([
      'edit',
      'gh_token',
      '--description',
      'after',
      '--allow-host',
      'api.github.com',
      '--expires-in',
      '30d',
    ])
    expect(edited).toMatchObject({ code: 0, stderr: '' })
    expect(edited.stdout).toContain('Updated gh_token')
    expect(await listed('gh_token')).toMatchObject({
      version: 1,
      description: 'after',
      allowed_hosts: ['api.github.com'],
    })
    expect(await kw(['get', 'gh_token'])).toMatchObject({ code: 0, stdout: VALUE })
  })

  it('needs an option, and exits 3 for a secret that does not exist', async () => {
    const bare = await kw(['edit', 'gh_token'])
    expect(bare.code).toBe(2)
    expect(bare.stderr).toMatch(/^keywarden: edit needs at least one option/)
    const missing = await kw(['edit', 'no_such_secret', '--description', 'x'])
    expect(missing.code).toBe(3)
    expect(missing.stderr).toContain('does not exist')
  })

  it('refuses an expiry in the past, at edit and at set', async () => {
    for (const args of [
      ['edit', 'gh_token', '--expires-at', '2001-01-01'],
      ['set', 'gh_token', '--expires-at', '2001-01-01'],
    ]) {
      const result = await kw(args, VALUE)
      expect(result.code, args.join(' ')).toBe(2)
      expect(result.stderr).toMatch(/^keywarden: --expires-at 2001-01-01 is in the past/)
    }
    expect((await listed('gh_token'))?.expires_at).not.toContain('2001')
  })

  it('refuses an absolute --allow-command that does not exist, and warns about one not on PATH', async () => {
    const absent = await kw(['edit', 'gh_token', '--allow-command', '/no/such/tool'])
    expect(absent.code).toBe(2)
    expect(absent.stderr).toContain('no executable file is at that path')
    const tool = join(scratch, 'mytool')
    await writeFile(tool, '#!/bin/sh\n')
    await chmod(tool, 0o755)
    const absolute = await kw(['edit', 'gh_token', '--allow-command', tool])
    expect(absolute).toMatchObject({ code: 0, stderr: '' })
    const offPath = await kw(['edit', 'gh_token', '--allow-command', 'kw-not-on-path-tool'])
    expect(offPath.code).toBe(0)
    expect(offPath.stderr).toContain('kw-not-on-path-tool is not on this PATH')
    const onPath = await kw(['edit', 'gh_token', '--allow-command', 'mytool'], '', {
      PATH: `${scratch}:${process.env.PATH ?? ''}`,
    })
    expect(onPath).toMatchObject({ code: 0, stderr: '' })
    expect((await listed('gh_token'))?.allowed_commands).toEqual(['mytool'])
  })

  it('answers an invalid name as INVALID_NAME at set, edit and get', async () => {
    for (const args of [
      ['set', 'Bad Name'],
      ['edit', 'Bad Name', '--description', 'x'],
      ['get', 'Bad Name'],
    ]) {
      const result = await kw(args, VALUE)
      expect(result.code, args.join(' ')).toBe(EXIT_CODES.INVALID_NAME)
      expect(result.stderr).toMatch(/^keywarden: invalid secret name \(8 characters\)/)
      expect(result.stderr).toContain('starting with a letter or digit, at most 128')
    }
  })
})

describe('the same value again', () => {
  it('set reports unchanged, and rotate refuses the current value', async () => {
    const again = await kw(['set', 'gh_token', '--json'], VALUE)
    expect(again.code).toBe(0)
    expect(JSON.parse(again.stdout)).toMatchObject({ outcome: 'unchanged', version: 1 })
    const text = await kw(['set', 'gh_token'], VALUE)
    expect(text.stdout).toMatch(/^Unchanged gh_token/)
    const rotated = await kw(['rotate', 'gh_token'], VALUE)
    expect(rotated.code).not.toBe(0)
    expect(rotated.stderr).toContain('already has this value')
    expect(rotated.stderr).not.toContain(VALUE)
    const replaced = await kw(['set', 'gh_token', '--json'], `${VALUE}-2`)
    expect(JSON.parse(replaced.stdout)).toMatchObject({ outcome: 'replaced', version: 2 })
  })
})

describe('hints work as printed', () => {
  it("reveal_secret's refusal: keywarden edit NAME --agent-visible", async () => {
    await kw(['set', 'hidden_token'], VALUE)
    const refused = await call('reveal_secret', { name: 'hidden_token' })
    const [hint, ...others] = hintedCommands(textOf(refused))
    expect(others).toEqual([])
    expect(hint).toEqual(['edit', 'hidden_token', '--agent-visible'])
    expect(await kw(hint as string[])).toMatchObject({ code: 0 })
    const revealed = await call('reveal_secret', { name: 'hidden_token' })
    expect(revealed.structuredContent).toMatchObject({ value: VALUE })
  })

  it("http_request's refusal: keywarden edit NAME --allow-host HOST", async () => {
    await kw(['set', 'nowhere_token'], VALUE)
    const refused = await call('http_request', {
      url: 'https://api.example.com/',
      headers: { authorization: 'Bearer {{secret:nowhere_token}}' },
    })
    const [hint] = hintedCommands(textOf(refused))
    expect(hint).toEqual(['edit', 'nowhere_token', '--allow-host', 'HOST'])
    const filled = (hint as string[]).map((arg) => (arg === 'HOST' ? 'api.example.com' : arg))
    expect(await kw(filled)).toMatchObject({ code: 0 })
    expect((await listed('nowhere_token'))?.allowed_hosts).toEqual(['api.example.com'])
  })

  it("run_command's refusal keeps the list and acknowledges an unsafe executable", async () => {
    await kw(['set', 'tf_token'], VALUE)
    await kw(['edit', 'tf_token', '--allow-command', 'terraform'])
    const refused = await call('run_command', {
      command: 'sh',
      args: ['-c', 'true'],
      secrets: ['tf_token'],
    })
    const [hint] = hintedCommands(textOf(refused))
    expect(hint).toEqual([
      'edit',
      'tf_token',
      '--allow-command',
      'terraform,sh',
      '--i-understand-this-reveals',
    ])
    const ran = await kw(hint as string[])
    expect(ran.code).toBe(0)
    expect((await listed('tf_token'))?.allowed_commands).toEqual(['terraform', 'sh'])
  })

  it("a protected secret's refusal: keywarden edit NAME --no-protected", async () => {
    await kw(['set', 'locked_token', '--protected'], VALUE)
    const refused = await call('reveal_secret', { name: 'locked_token' })
    const hints = hintedCommands(textOf(refused))
    const lift = hints.find((args) => args.includes('--no-protected'))
    expect(lift).toEqual(['edit', 'locked_token', '--no-protected'])
    expect(await kw(lift as string[])).toMatchObject({ code: 0 })
    expect((await listed('locked_token'))?.protected).toBe(false)
  })
})

describe('a vault migrated by a newer Keywarden', () => {
  it('fails every command with one line saying to upgrade', async () => {
    const newer = await createPostgresTestDatabase()
    try {
      await newer.asAdmin(
        "INSERT INTO supabase_migrations.schema_migrations (version, name, statements) VALUES ('29991231000000', 'future', '{}')",
      )
      const newerEnv = { KEYWARDEN_DATABASE_URL: newer.url, KEYWARDEN_ROOT_KEY: newer.rootKey }
      for (const args of [['list'], ['edit', 'x', '--description', 'y']]) {
        const result = await runCli(args, { env: newerEnv })
        expect(result.code, args.join(' ')).toBe(EXIT_CODES.SCHEMA_TOO_NEW)
        expect(result.stderr).toMatch(
          /^keywarden: the vault's schema \(29991231000000\) is newer than this Keywarden knows \(\d{14}\): upgrade Keywarden/,
        )
      }
    } finally {
      await newer.drop()
    }
  })
})
