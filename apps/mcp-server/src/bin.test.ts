/**
 * `keywarden-mcp` as Claude Desktop runs it: the built `dist/bin.js` spawned by the SDK's
 * StdioClientTransport, against a fresh database on the real PostgreSQL server.
 */
import { execFile, spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createVaultClient } from '../../../packages/core/src/index.ts'
import {
  createPostgresTestDatabase,
  type PostgresTestDatabase,
} from '../../../packages/core/src/testing/databases.ts'

const run = promisify(execFile)
const packageJson = JSON.parse(
  await readFile(new URL('../package.json', import.meta.url), 'utf8'),
) as { version: string; bin: Record<string, string> }
/** The built entry point; tests need `npm run build` first. */
const binPath = fileURLToPath(new URL(`../${packageJson.bin['keywarden-mcp']}`, import.meta.url))

const CANARY = `kw-stdio-canary-${crypto.randomUUID()}`

let database: PostgresTestDatabase
let env: Record<string, string>

beforeAll(async () => {
  database = await createPostgresTestDatabase()
  env = {
    PATH: process.env.PATH ?? '',
    KEYWARDEN_DATABASE_URL: database.url,
    KEYWARDEN_ROOT_KEY: database.rootKey,
  }
  const vault = createVaultClient({ env, accessedBy: 'test', envFallback: false })
  try {
    await vault.storeSecret('github_token', CANARY, { type: 'github_token' })
  } finally {
    await vault.close()
  }
})

afterAll(async () => {
  await database?.drop()
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

  it('serves the tools over real stdio, audited as mcp:<client name>', async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [binPath],
      env,
      stderr: 'pipe',
    })
    let stderr = ''
    transport.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8')
    })
    const client = new Client({ name: 'Claude Desktop', version: '1.0.0' })
    await client.connect(transport)
    try {
      expect(client.getServerVersion()).toEqual({ name: 'keywarden', version: packageJson.version })
      const { tools } = await client.listTools()
      expect(tools.map((tool) => tool.name)).toContain('reveal_secret')

      const call = async (name: string, args: Record<string, unknown> = {}) =>
        (await client.callTool({ name, arguments: args })) as CallToolResult
      const results: CallToolResult[] = []
      const list = await call('list_secrets')
      results.push(list)
      expect(list.structuredContent).toMatchObject({
        count: 1,
        secrets: [{ name: 'github_token', agent_visible: false }],
      })
      const stored = await call('store_secret', { name: 'new_key', value: `${CANARY}-new` })
      results.push(stored)
      expect(stored.structuredContent).toMatchObject({ name: 'new_key', stored: true })
      const refused = await call('reveal_secret', { name: 'github_token' })
      results.push(refused)
      expect(refused.isError).toBe(true)
      const health = await call('vault_health')
      results.push(health)
      expect(health.structuredContent).toMatchObject({
        accessed_by: 'mcp:claude-desktop',
        backend: { kind: 'postgres', reachable: true },
      })
      const audit = await call('query_audit_log', { secret: 'new_key' })
      results.push(audit)
      expect(audit.structuredContent).toMatchObject({
        records: [{ access_type: 'store', accessed_by: 'mcp:claude-desktop', success: true }],
      })
      expect(JSON.stringify(results)).not.toContain(CANARY)
    } finally {
      await client.close()
    }
    expect(stderr).toContain('listening on stdio')
    expect(stderr).not.toContain(CANARY)
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
