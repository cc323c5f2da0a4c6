/**
 * The entry `keywarden mcp-config --write` puts in claude_desktop_config.json works as written:
 * the file is parsed back and keywarden-mcp is spawned with exactly the entry's `command`,
 * `args` and `env` — nothing inherited, not even PATH or HOME, as Claude Desktop gives a server
 * only what its entry holds — on the embedded default and on PostgreSQL with a password in the
 * URL. A tool that uses a value (`http_request` to a local echo server) proves the server
 * opened the vault and decrypted with the right key, and the file holds no secret.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { ReadBuffer, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js'
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createVaultClient } from '../../../../packages/core/src/index.ts'
import { stopAgent } from '../../../../packages/core/src/node/index.ts'
import {
  createPostgresTestDatabase,
  type PostgresTestDatabase,
} from '../../../../packages/core/src/testing/databases.ts'
import { type EchoServer, startEchoServer } from '../../../mcp-server/src/testing/echo-server.ts'
import { runCli } from '../testing/run-cli.ts'

const CANARY = `kw-entry-canary-${randomBytes(16).toString('hex')}`
const PASSWORD = `pw-${randomBytes(12).toString('hex')}`
const SERVICE_ROLE_KEY = `eyJ-kwcanary-${randomBytes(16).toString('hex')}`

interface Entry {
  command: string
  args: string[]
  env: Record<string, string>
}

let database: PostgresTestDatabase
let echo: EchoServer
let dir: string
const homes: string[] = []

beforeAll(async () => {
  echo = await startEchoServer()
  database = await createPostgresTestDatabase()
  dir = await mkdtemp(join(tmpdir(), 'kw-mcp-entry-'))
})

afterAll(async () => {
  await database?.drop()
  for (const home of homes) await stopAgent(home)
  if (dir) await rm(dir, { recursive: true, force: true, maxRetries: 3 })
  await echo?.close()
})

/** Runs `mcp-config --write` with `env` into a fresh file; returns the file's text and entry. */
async function writeEntry(env: Record<string, string>, name: string) {
  const file = join(dir, `${name}.json`)
  const result = await runCli(['mcp-config', '--write', '--config', file], { env })
  expect(result.stderr).toBe('')
  expect(result.code).toBe(0)
  const text = await readFile(file, 'utf8')
  const entry = (JSON.parse(text) as { mcpServers: Record<string, Entry> }).mcpServers.keywarden
  if (!entry) throw new Error('no keywarden entry written')
  return { text, entry, output: result.stdout + result.stderr }
}

/** An MCP transport over a child's stdio, the SDK's own framing. */
function childTransport(child: ChildProcessWithoutNullStreams): Transport {
  const buffer = new ReadBuffer()
  const transport: Transport = {
    async start() {
      child.stdout.on('data', (chunk: Buffer) => {
        buffer.append(chunk)
        for (let message = buffer.readMessage(); message; message = buffer.readMessage()) {
          transport.onmessage?.(message)
        }
      })
      child.on('close', () => transport.onclose?.())
    },
    async send(message) {
      child.stdin.write(serializeMessage(message))
    },
    async close() {
      child.stdin.end()
    },
  }
  return transport
}

/** Starts the entry exactly as written and has it send the canary to the echo server. */
async function useValueThroughEntry(entry: Entry, tool = 'http_request'): Promise<string> {
  const child = spawn(entry.command, entry.args, { env: entry.env, stdio: 'pipe' })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk
  })
  const exited = new Promise((resolve) => child.on('close', resolve))
  const client = new Client({ name: 'claude-desktop', version: '1.0.0' })
  try {
    await client.connect(childTransport(child))
    const before = echo.received.length
    const result = await client.callTool({
      name: tool,
      arguments:
        tool === 'http_request'
          ? { url: `${echo.origin}/echo`, headers: { 'x-token': '{{secret:github_token}}' } }
          : {},
    })
    expect(stderr).not.toContain(CANARY)
    if (result.isError) return `${JSON.stringify(result.content)}\n${stderr}`
    expect(echo.received[before]?.headers['x-token']).toBe(CANARY)
    return 'ok'
  } finally {
    await client.close()
    child.kill()
    await exited
  }
}

async function storeCanary(env: Record<string, string>) {
  const vault = createVaultClient({ env, accessedBy: 'test', envFallback: false })
  try {
    await vault.storeSecret('github_token', CANARY, {
      type: 'github_token',
      allowedHosts: [echo.host],
    })
  } finally {
    await vault.close()
  }
}

describe('the entry mcp-config --write makes, started with nothing but itself', () => {
  it('works on the embedded default', async () => {
    const home = join(dir, 'embedded-home')
    homes.push(home)
    await storeCanary({ KEYWARDEN_HOME: home })
    const { entry } = await writeEntry({ KEYWARDEN_HOME: home }, 'embedded')
    expect(entry.env).toEqual({ KEYWARDEN_HOME: home })
    expect(await useValueThroughEntry(entry)).toBe('ok')
  })

  it('works on PostgreSQL with the root key and the password in 0600 files', async () => {
    const home = join(dir, 'postgres-home')
    const url = new URL(database.url)
    url.password = PASSWORD
    const env = {
      KEYWARDEN_DATABASE_URL: url.toString(),
      KEYWARDEN_ROOT_KEY: database.rootKey,
      KEYWARDEN_HOME: home,
    }
    await storeCanary(env)
    const { text, entry, output } = await writeEntry(env, 'postgres')
    const keyFile = join(home, 'mcp-root.key')
    const passwordFile = join(home, 'mcp-database.password')
    expect(entry.env).toEqual({
      KEYWARDEN_STORE: 'postgres',
      KEYWARDEN_DATABASE_URL: database.url,
      KEYWARDEN_ROOT_KEY_FILE: keyFile,
      KEYWARDEN_DATABASE_PASSWORD_FILE: passwordFile,
    })
    for (const secret of [database.rootKey, PASSWORD]) {
      expect(text).not.toContain(secret)
      expect(output).not.toContain(secret)
    }
    expect(output).toContain(`KEYWARDEN_ROOT_KEY is in ${keyFile} (mode 0600)`)
    expect(output).toContain(`The password of KEYWARDEN_DATABASE_URL is in ${passwordFile}`)
    expect(await readFile(keyFile, 'utf8')).toBe(`${database.rootKey}\n`)
    expect(await readFile(passwordFile, 'utf8')).toBe(`${PASSWORD}\n`)
    for (const path of [keyFile, passwordFile]) {
      expect((await stat(path)).mode & 0o777).toBe(0o600)
    }
    expect(await useValueThroughEntry(entry)).toBe('ok')

    // Written again: the same files are reused, the entry is unchanged.
    const written = (await stat(keyFile)).mtimeMs
    const again = await runCli(['mcp-config', '--write', '--config', join(dir, 'postgres.json')], {
      env,
    })
    expect(again.stdout).toContain('already up to date')
    expect((await stat(keyFile)).mtimeMs).toBe(written)
  })

  it('refuses a named file that others can read, and says which', async () => {
    const home = join(dir, 'postgres-home')
    const { entry } = await writeEntry(
      {
        KEYWARDEN_DATABASE_URL: database.url,
        KEYWARDEN_ROOT_KEY: database.rootKey,
        KEYWARDEN_HOME: home,
      },
      'loose',
    )
    const keyFile = entry.env.KEYWARDEN_ROOT_KEY_FILE ?? ''
    await chmod(keyFile, 0o644)
    try {
      const refused = await useValueThroughEntry(entry, 'list_secrets')
      expect(refused).toContain(`${keyFile} is readable by other users`)
      expect(refused).not.toContain(database.rootKey)
    } finally {
      await chmod(keyFile, 0o600)
    }
  })

  it('puts the Supabase service role key in a 0600 file too', async () => {
    const home = join(dir, 'supabase-home')
    const { text, entry } = await writeEntry(
      {
        SUPABASE_URL: 'https://example.supabase.co',
        SUPABASE_SERVICE_ROLE_KEY: SERVICE_ROLE_KEY,
        KEYWARDEN_HOME: home,
      },
      'supabase',
    )
    const keyFile = join(home, 'mcp-supabase-service-role.key')
    expect(entry.env).toEqual({
      KEYWARDEN_STORE: 'supabase',
      SUPABASE_URL: 'https://example.supabase.co',
      SUPABASE_SERVICE_ROLE_KEY_FILE: keyFile,
    })
    expect(text).not.toContain(SERVICE_ROLE_KEY)
    expect(await readFile(keyFile, 'utf8')).toBe(`${SERVICE_ROLE_KEY}\n`)
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600)
  })
})
