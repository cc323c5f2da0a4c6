/**
 * Audit first, attacked as issue 12 (item 6) did: the built `keywarden-mcp` over real stdio on
 * a real PostgreSQL database, SIGKILLed — by the model's own `run_command`, and at random
 * moments while it answers tools. Every use, reveal and refusal the server answered (or whose
 * value it handed to a command) must be in the audit log afterwards: the doors commit those
 * rows before the value leaves the process, never through the 1-second buffer.
 */
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createVaultClient } from '../../../packages/core/src/index.ts'
import {
  createPostgresTestDatabase,
  type PostgresTestDatabase,
} from '../../../packages/core/src/testing/databases.ts'
import { type EchoServer, startEchoServer } from './testing/echo-server.ts'

const packageJson = JSON.parse(
  await readFile(new URL('../package.json', import.meta.url), 'utf8'),
) as { bin: Record<string, string> }
/** The built entry point; tests need `npm run build` first. */
const binPath = fileURLToPath(new URL(`../${packageJson.bin['keywarden-mcp']}`, import.meta.url))

const RUNS = 10
const PROBE = 'probe_token'
const VISIBLE = 'visible_key'
const HIDDEN = 'hidden_key'

let database: PostgresTestDatabase
let echo: EchoServer
let reader: pg.Client
let env: Record<string, string>

beforeAll(async () => {
  echo = await startEchoServer()
  database = await createPostgresTestDatabase()
  env = {
    PATH: process.env.PATH ?? '',
    KEYWARDEN_DATABASE_URL: database.url,
    KEYWARDEN_ROOT_KEY: database.rootKey,
    KEYWARDEN_MCP_ALLOWED_COMMANDS: 'kill',
  }
  const vault = createVaultClient({ env, accessedBy: 'test', envFallback: false })
  try {
    await vault.storeSecret(PROBE, `probe-${crypto.randomUUID()}`, {
      allowedHosts: [echo.host],
      allowedCommands: ['kill'],
    })
    await vault.storeSecret(VISIBLE, `visible-${crypto.randomUUID()}`, { agentVisible: true })
    await vault.storeSecret(HIDDEN, `hidden-${crypto.randomUUID()}`)
  } finally {
    await vault.close()
  }
  reader = await database.connect()
})

afterAll(async () => {
  await reader?.end()
  await database?.drop()
  await echo?.close()
})

/** Starts the server as `mcp:<clientName>`; resolves once it answered `initialize`. */
async function startServer(clientName: string) {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [binPath],
    env,
    stderr: 'pipe',
  })
  const client = new Client({ name: clientName, version: '1.0.0' })
  await client.connect(transport)
  const pid = transport.pid
  if (pid === null) throw new Error('the server has no pid')
  return { client, transport, pid }
}

/** Rows by (access_type, success), for one accessor. */
async function auditCounts(accessor: string) {
  const { rows } = await reader.query<{ access_type: string; success: boolean; n: number }>(
    `SELECT access_type, success, count(*)::int AS n FROM public.secret_access_log
      WHERE accessed_by = $1 GROUP BY access_type, success`,
    [accessor],
  )
  return (type: string, success: boolean) =>
    rows.find((row) => row.access_type === type && row.success === success)?.n ?? 0
}

describe('keywarden-mcp audit under SIGKILL', () => {
  it("keeps the use row when the model's run_command kills its own server", async () => {
    const { client, pid } = await startServer('kill-self')
    // The model's attack: a command it may run, aimed at the server's own pid.
    await client
      .callTool({
        name: 'run_command',
        arguments: { command: 'kill', args: ['-KILL', String(pid)], secrets: [PROBE] },
      })
      .catch(() => undefined) // the server dies before it answers
    await client.close().catch(() => undefined)
    const count = await auditCounts('mcp:kill-self')
    expect(count('use', true)).toBe(1)
  })

  it(`loses no answered use, reveal or refusal when killed at random, over ${RUNS} runs`, async () => {
    for (let run = 0; run < RUNS; run++) {
      const name = `sigkill-${run}`
      const { client, pid } = await startServer(name)
      const answered = { use: 0, reveal: 0, denied: 0 }
      let killed = false
      const calls = (async () => {
        while (!killed) {
          const http = (await client.callTool({
            name: 'http_request',
            arguments: {
              url: `${echo.origin}/echo`,
              headers: { 'x-token': `{{secret:${PROBE}}}` },
            },
          })) as CallToolResult
          if (!http.isError) answered.use++
          const shown = (await client.callTool({
            name: 'reveal_secret',
            arguments: { name: VISIBLE },
          })) as CallToolResult
          if (!shown.isError) answered.reveal++
          const refused = (await client.callTool({
            name: 'reveal_secret',
            arguments: { name: HIDDEN },
          })) as CallToolResult
          if (refused.isError) answered.denied++
        }
      })().catch(() => undefined) // the kill ends the loop mid-call
      // Within the audit buffer's first second or so, where the issue measured its losses.
      await new Promise((resolve) => setTimeout(resolve, 100 + Math.floor(Math.random() * 1200)))
      killed = true
      process.kill(pid, 'SIGKILL')
      await calls
      await client.close().catch(() => undefined)

      const count = await auditCounts(`mcp:${name}`)
      const context = `run ${run}: ${JSON.stringify(answered)}`
      expect(count('use', true), context).toBeGreaterThanOrEqual(answered.use)
      expect(count('reveal', true), context).toBeGreaterThanOrEqual(answered.reveal)
      expect(count('denied', false), context).toBeGreaterThanOrEqual(answered.denied)
    }
  }, 180_000)
})
