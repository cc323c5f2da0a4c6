/**
 * `keywarden-mcp` as Claude Desktop runs it: the built `dist/bin.js` spawned by the SDK's
 * StdioClientTransport, on the embedded default (a temporary KEYWARDEN_HOME, no database
 * configuration) and against a fresh database on the real PostgreSQL server.
 */
import { execFile, spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import {
  type CallToolResult,
  LoggingMessageNotificationSchema,
} from '@modelcontextprotocol/sdk/types.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createVaultClient } from '../../../packages/core/src/index.ts'
import { stopAgent } from '../../../packages/core/src/node/index.ts'
import {
  createPostgresTestDatabase,
  type PostgresTestDatabase,
} from '../../../packages/core/src/testing/databases.ts'
import { type EchoServer, startEchoServer } from './testing/echo-server.ts'

const run = promisify(execFile)
const packageJson = JSON.parse(
  await readFile(new URL('../package.json', import.meta.url), 'utf8'),
) as { version: string; bin: Record<string, string> }
/** The built entry point; tests need `npm run build` first. */
const binPath = fileURLToPath(new URL(`../${packageJson.bin['keywarden-mcp']}`, import.meta.url))

const CANARY = `kw-stdio-canary-${crypto.randomUUID()}`
const MASK = '[REDACTED:github_token]'

let database: PostgresTestDatabase
let home: string
let echo: EchoServer
/** The server's environment per store. */
const stores: Record<'postgres' | 'embedded', Record<string, string>> = {
  postgres: {},
  embedded: {},
}
let env: Record<string, string>

async function storeCanary(storeEnv: Record<string, string>) {
  const vault = createVaultClient({ env: storeEnv, accessedBy: 'test', envFallback: false })
  try {
    await vault.storeSecret('github_token', CANARY, {
      type: 'github_token',
      allowedHosts: [echo.host],
      allowedCommands: [process.execPath],
    })
  } finally {
    await vault.close()
  }
}

beforeAll(async () => {
  echo = await startEchoServer()
  database = await createPostgresTestDatabase()
  home = await mkdtemp(join(tmpdir(), 'kw-mcp-home-'))
  const base = {
    PATH: process.env.PATH ?? '',
    KEYWARDEN_MCP_ALLOWED_COMMANDS: process.execPath,
    // node runs code from its arguments: allowed here only because the test says so.
    KEYWARDEN_MCP_UNSAFE_COMMANDS: process.execPath,
  }
  stores.postgres = {
    ...base,
    KEYWARDEN_DATABASE_URL: database.url,
    KEYWARDEN_ROOT_KEY: database.rootKey,
  }
  stores.embedded = { ...base, KEYWARDEN_HOME: home }
  env = stores.postgres
  await Promise.all(Object.values(stores).map(storeCanary))
})

afterAll(async () => {
  await database?.drop()
  if (home) {
    await stopAgent(home)
    await rm(home, { recursive: true, force: true, maxRetries: 3 })
  }
  await echo?.close()
})

describe('keywarden-mcp bin', () => {
  it('prints its version and help without starting the server', async () => {
    const { stdout } = await run(process.execPath, [binPath, '--version'])
    expect(stdout).toBe(`${packageJson.version}\n`)
    const help = await run(process.execPath, [binPath, '--help'])
    expect(help.stdout).toContain('Usage: keywarden-mcp')
  })

  it('refuses an unknown argument with exit code 2', async () => {
    await expect(run(process.execPath, [binPath, 'anything'])).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('unknown argument'),
    })
  })

  it('shows the cause of a failed start only with KEYWARDEN_DEBUG=1', async () => {
    const broken = { PATH: process.env.PATH ?? '', KEYWARDEN_STORE: 'postgres' }
    const plain = run(process.execPath, [binPath], { env: broken })
    await expect(plain).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('CONFIGURATION_ERROR'),
    })
    await expect(plain).rejects.toMatchObject({ stderr: expect.not.stringContaining('    at ') })
    await expect(
      run(process.execPath, [binPath], { env: { ...broken, KEYWARDEN_DEBUG: '1' } }),
    ).rejects.toMatchObject({ code: 1, stderr: expect.stringMatching(/\n {4}at \S/) })
  })

  it('exits cleanly when stdin ends, and on SIGTERM', async () => {
    const start = () => {
      const child = spawn(process.execPath, [binPath], { env, stdio: ['pipe', 'pipe', 'pipe'] })
      let stderr = ''
      let stdout = ''
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk
      })
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        stdout += chunk
      })
      const exited = new Promise<{ code: number | null; stderr: string; stdout: string }>(
        (resolve) => child.on('close', (code) => resolve({ code, stderr, stdout })),
      )
      const listening = new Promise<void>((resolve) => {
        const check = () => (stderr.includes('listening on stdio') ? resolve() : undefined)
        child.stderr.on('data', check)
      })
      return { child, exited, listening }
    }
    const byStdin = start()
    await byStdin.listening
    byStdin.child.stdin.end()
    expect(await byStdin.exited).toMatchObject({ code: 0, stdout: '' })
    expect((await byStdin.exited).stderr).toContain('shutting down (stdin closed)')

    const bySignal = start()
    await bySignal.listening
    bySignal.child.kill('SIGTERM')
    expect(await bySignal.exited).toMatchObject({ code: 0, stdout: '' })
    expect((await bySignal.exited).stderr).toContain('shutting down (SIGTERM)')
  })
})

describe.each(['embedded', 'postgres'] as const)('keywarden-mcp over stdio on %s', (store) => {
  it('serves the tools, audited as mcp:<client name>, and never shows the canary', async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [binPath],
      env: stores[store],
      stderr: 'pipe',
    })
    let stderr = ''
    transport.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8')
    })
    const client = new Client({ name: 'Claude Desktop', version: '1.0.0' })
    const logMessages: unknown[] = []
    client.setNotificationHandler(LoggingMessageNotificationSchema, (notification) => {
      logMessages.push(notification.params)
    })
    await client.connect(transport)
    const results: CallToolResult[] = []
    const call = async (name: string, args: Record<string, unknown> = {}) => {
      const result = (await client.callTool({ name, arguments: args })) as CallToolResult
      results.push(result)
      return result
    }
    try {
      expect(client.getServerVersion()).toEqual({ name: 'keywarden', version: packageJson.version })
      expect(client.getServerCapabilities()?.logging).toEqual({})
      const { tools } = await client.listTools()
      expect(tools.map((tool) => tool.name)).toEqual(
        expect.arrayContaining(['reveal_secret', 'http_request', 'run_command']),
      )

      expect((await call('list_secrets')).structuredContent).toMatchObject({
        count: 1,
        secrets: [{ name: 'github_token', agent_visible: false, allowed_hosts: [echo.host] }],
      })
      const stored = await call('store_secret', { name: 'new_key', value: `${CANARY}-new` })
      expect(stored.structuredContent).toMatchObject({ name: 'new_key', stored: true })
      // The door policy over real stdio: no overwrite of an existing secret, and never one of
      // Keywarden's own credentials.
      const overwrite = await call('store_secret', { name: 'new_key', value: 'replaced' })
      expect(overwrite.content).toEqual([
        {
          type: 'text',
          text: expect.stringContaining(
            'ACCESS_DENIED: the door policy does not let mcp:claude-desktop change or delete new_key; the user can allow it with `keywarden policy set mcp:claude-desktop new_key --allow write`',
          ),
        },
      ])
      const takeover = await call('store_secret', { name: 'cron_bearer_token', value: 'mine' })
      expect(JSON.stringify(takeover.content)).toContain("Keywarden's own credentials")
      expect((await call('reveal_secret', { name: 'github_token' })).isError).toBe(true)
      expect((await call('vault_health')).structuredContent).toMatchObject({
        accessed_by: 'mcp:claude-desktop',
        backend: { kind: store, reachable: true },
      })

      const before = echo.received.length
      const http = await call('http_request', {
        url: `${echo.origin}/echo`,
        headers: { 'x-token': '{{secret:github_token}}' },
      })
      expect(echo.received[before]?.headers['x-token']).toBe(CANARY)
      const echoed = JSON.parse((http.structuredContent as { body: string }).body)
      expect(echoed.forms).toEqual({
        raw: MASK,
        base64: MASK,
        base64url: MASK,
        url: MASK,
        hex: MASK,
      })
      const refused = await call('http_request', {
        url: 'https://example.com/',
        headers: { 'x-token': '{{secret:github_token}}' },
      })
      expect(refused.isError).toBe(true)

      const run = await call('run_command', {
        command: process.execPath,
        args: ['-e', 'console.log(process.env.GITHUB_TOKEN)'],
        secrets: ['github_token'],
      })
      expect(run.structuredContent).toMatchObject({ exit_code: 0, stdout: `${MASK}\n` })

      const audit = await call('query_audit_log', { secret: 'new_key' })
      // The refused overwrite's `denied` row may or may not be written yet (client buffer).
      const records = (audit.structuredContent as { records: unknown[] }).records
      expect(records).toContainEqual(
        expect.objectContaining({
          access_type: 'store',
          accessed_by: 'mcp:claude-desktop',
          success: true,
        }),
      )
      // A malformed call is a tool error, and the server keeps answering.
      expect((await call('get_secret_metadata', { name: 42 })).isError).toBe(true)
      expect((await call('list_secrets')).isError).toBeFalsy()
    } finally {
      await client.close()
    }
    expect(stderr).toContain('listening on stdio; run_command allows')
    expect(stderr).toContain('warning: http_request: ACCESS_DENIED')
    expect(logMessages).toContainEqual(
      expect.objectContaining({ level: 'warning', data: expect.stringContaining('reveal_secret') }),
    )
    const everything = JSON.stringify({ results, logMessages, stderr })
    for (const form of [
      CANARY,
      Buffer.from(CANARY).toString('base64'),
      Buffer.from(CANARY).toString('hex'),
      encodeURIComponent(CANARY),
    ]) {
      expect(everything).not.toContain(form)
    }
  })
})
