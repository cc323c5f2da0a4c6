/**
 * The Keywarden MCP tools in-process: the SDK's Client over an InMemoryTransport, against a
 * vault client on a fresh database on the real PostgreSQL server.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createVaultClient, type VaultClient } from '../../../../packages/core/src/index.ts'
import {
  createPostgresTestDatabase,
  type PostgresTestDatabase,
} from '../../../../packages/core/src/testing/databases.ts'
import { createKeywardenMcpServer, parseSince, TOOL_NAMES } from './index.ts'

const CANARY = `kw-canary-${crypto.randomUUID()}/+=?&`
const VISIBLE_VALUE = `visible-${crypto.randomUUID()}`

let database: PostgresTestDatabase
let vault: VaultClient
let mcp: Client
// Every result except the allowed reveals, for the canary check.
const results: CallToolResult[] = []

const call = async (name: string, args: Record<string, unknown> = {}) => {
  const result = (await mcp.callTool({ name, arguments: args })) as CallToolResult
  return result
}
const logged = async (name: string, args: Record<string, unknown> = {}) => {
  const result = await call(name, args)
  results.push(result)
  return result
}
const textOf = (result: CallToolResult) =>
  result.content.map((part) => (part.type === 'text' ? part.text : '')).join('\n')

beforeAll(async () => {
  database = await createPostgresTestDatabase()
  vault = createVaultClient({
    env: { KEYWARDEN_DATABASE_URL: database.url, KEYWARDEN_ROOT_KEY: database.rootKey },
    accessedBy: 'mcp:test',
    envFallback: false,
  })
  await vault.storeSecret('canary_token', CANARY, { description: 'the canary', type: 'api_key' })
  const server = createKeywardenMcpServer(vault, { name: 'keywarden-test', version: '1.2.3' })
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair()
  mcp = new Client({ name: 'vitest', version: '0.0.0' })
  await server.connect(serverTransport)
  await mcp.connect(clientTransport)
})

afterAll(async () => {
  await mcp?.close()
  await vault?.close()
  await database?.drop()
})

describe('tools/list', () => {
  it('offers every tool with schemas and truthful annotations', async () => {
    const { tools } = await mcp.listTools()
    expect(tools.map((tool) => tool.name)).toEqual([...TOOL_NAMES])
    const byName = new Map(tools.map((tool) => [tool.name, tool]))
    for (const tool of tools) {
      expect(tool.inputSchema.type).toBe('object')
      expect(tool.outputSchema?.type).toBe('object')
      expect(tool.description).toBeTruthy()
      expect(tool.annotations?.openWorldHint).toBe(false)
    }
    for (const name of [
      'list_secrets',
      'get_secret_metadata',
      'check_expiring_secrets',
      'query_audit_log',
      'vault_health',
      'reveal_secret',
    ]) {
      expect(byName.get(name)?.annotations?.readOnlyHint, name).toBe(true)
    }
    for (const name of ['store_secret', 'rotate_secret', 'delete_secret']) {
      expect(byName.get(name)?.annotations?.readOnlyHint, name).toBe(false)
    }
    expect(byName.get('delete_secret')?.annotations?.destructiveHint).toBe(true)
    expect(byName.get('rotate_secret')?.annotations?.idempotentHint).toBe(false)
    expect(byName.get('delete_secret')?.description).toContain('elicitation is not built yet')
  })
})

describe('read-only tools', () => {
  it('list_secrets gives metadata, never values', async () => {
    const result = await logged('list_secrets')
    expect(result.isError).toBeFalsy()
    const structured = result.structuredContent as {
      count: number
      secrets: Array<Record<string, unknown>>
    }
    expect(structured.count).toBe(1)
    expect(structured.secrets[0]).toMatchObject({
      name: 'canary_token',
      type: 'api_key',
      description: 'the canary',
      agent_visible: false,
      allowed_hosts: [],
    })
    expect(textOf(result)).toContain('canary_token (api_key, v1)')
  })

  it('get_secret_metadata gives one secret, and a tool error for an unknown one', async () => {
    const result = await logged('get_secret_metadata', { name: 'canary_token' })
    expect(result.structuredContent).toMatchObject({ name: 'canary_token', version: 1 })
    const missing = await logged('get_secret_metadata', { name: 'no_such_secret' })
    expect(missing.isError).toBe(true)
    expect(textOf(missing)).toMatch(/^SECRET_NOT_FOUND: /)
  })

  it('check_expiring_secrets reports secrets that expire in the window', async () => {
    await vault.storeSecret('soon_expiring', 'x'.repeat(20), {
      expiresAt: new Date(Date.now() + 2 * 86_400_000),
    })
    const result = await logged('check_expiring_secrets', { days: 7 })
    expect(result.isError).toBeFalsy()
    expect(result.structuredContent).toMatchObject({
      days: 7,
      secrets: [{ name: 'soon_expiring', reason: 'expires', overdue: false }],
    })
    const none = await logged('check_expiring_secrets', { days: 1 })
    expect(none.structuredContent).toMatchObject({ days: 1, secrets: [] })
    expect(await logged('check_expiring_secrets', {})).toMatchObject({
      structuredContent: { days: 7 },
    })
  })

  it('query_audit_log filters by secret, failure, since and limit', async () => {
    const all = await logged('query_audit_log', { secret: 'canary_token', since: '1h' })
    expect(all.isError).toBeFalsy()
    const records = (all.structuredContent as { records: Array<Record<string, unknown>> }).records
    expect(records.length).toBeGreaterThan(0)
    expect(records.every((record) => record.secret_name === 'canary_token')).toBe(true)
    expect(records.some((record) => record.access_type === 'store')).toBe(true)
    const limited = await logged('query_audit_log', { limit: 1 })
    expect((limited.structuredContent as { count: number }).count).toBe(1)
    const failed = await logged('query_audit_log', { failed_only: true })
    expect(
      (failed.structuredContent as { records: Array<{ success: boolean }> }).records.every(
        (record) => !record.success,
      ),
    ).toBe(true)
    const bad = await logged('query_audit_log', { since: 'yesterday-ish' })
    expect(bad.isError).toBe(true)
    expect(textOf(bad)).toMatch(/^INVALID_ARGUMENT: since must be/)
  })

  it('vault_health reports the reachable backend', async () => {
    const result = await logged('vault_health')
    expect(result.structuredContent).toMatchObject({
      secret_source: 'vault',
      backend: { kind: 'postgres', reachable: true },
      accessed_by: 'mcp:test',
    })
  })
})

describe('write tools', () => {
  it('store_secret stores without echoing the value', async () => {
    const result = await logged('store_secret', {
      name: 'agent_generated',
      value: CANARY,
      description: 'made by an agent',
      type: 'signing_key',
    })
    expect(result.isError).toBeFalsy()
    expect(result.structuredContent).toMatchObject({ name: 'agent_generated', stored: true })
    expect((await vault.getSecret('agent_generated')).value).toBe(CANARY)
    expect((await vault.listSecrets()).find((s) => s.name === 'agent_generated')).toMatchObject({
      agentVisible: false,
      type: 'signing_key',
    })
  })

  it('rotate_secret rotates with a grace period without echoing the value', async () => {
    const result = await logged('rotate_secret', {
      name: 'agent_generated',
      value: `${CANARY}-2`,
      grace_hours: 2,
    })
    expect(result.isError).toBeFalsy()
    const structured = result.structuredContent as {
      version: number
      previous_valid_until: string
    }
    expect(structured.version).toBe(2)
    const until = Date.parse(structured.previous_valid_until) - Date.now()
    expect(until).toBeGreaterThan(1.9 * 3_600_000)
    expect(until).toBeLessThan(2.1 * 3_600_000)
    expect((await vault.getSecret('agent_generated')).value).toBe(`${CANARY}-2`)
  })

  it('invalid input is a tool error, not a crash, and does not echo the value', async () => {
    const badName = await logged('store_secret', { name: CANARY, value: CANARY })
    expect(badName.isError).toBe(true)
    const badType = await logged('store_secret', { name: 'x_y', value: CANARY, type: 'nope' })
    expect(badType.isError).toBe(true)
    const noSecret = await logged('rotate_secret', { name: 'missing_one', value: CANARY })
    expect(noSecret.isError).toBe(true)
    // The server still answers.
    expect((await logged('list_secrets')).isError).toBeFalsy()
  })

  it('delete_secret refuses without confirm: true and deletes with it', async () => {
    await vault.storeSecret('to_delete', 'y'.repeat(20))
    for (const args of [{ name: 'to_delete' }, { name: 'to_delete', confirm: false }]) {
      const refused = await logged('delete_secret', args)
      expect(refused.isError).toBe(true)
      expect(textOf(refused)).toMatch(/^INVALID_ARGUMENT: .*confirm: true/)
    }
    expect((await vault.listSecrets()).some((s) => s.name === 'to_delete')).toBe(true)
    const deleted = await logged('delete_secret', { name: 'to_delete', confirm: true })
    expect(deleted.structuredContent).toEqual({ name: 'to_delete', deleted: true })
    const again = await logged('delete_secret', { name: 'to_delete', confirm: true })
    expect(again.structuredContent).toEqual({ name: 'to_delete', deleted: false })
  })
})

describe('reveal_secret', () => {
  it('refuses a secret that is not agent-visible, saying how to allow it', async () => {
    const refused = await logged('reveal_secret', { name: 'canary_token' })
    expect(refused.isError).toBe(true)
    expect(textOf(refused)).toBe(
      'ACCESS_DENIED: canary_token is not agent-visible; the user can allow it with `keywarden set canary_token --agent-visible`',
    )
    const missing = await logged('reveal_secret', { name: 'nothing_here' })
    expect(textOf(missing)).toMatch(/^SECRET_NOT_FOUND: /)

    // The refusal is in the audit log once the client's buffer is written.
    const auditor = createVaultClient({
      env: { KEYWARDEN_DATABASE_URL: database.url, KEYWARDEN_ROOT_KEY: database.rootKey },
    })
    try {
      const denied = async () =>
        (await auditor.queryAudit({ secretName: 'canary_token', failedOnly: true })).filter(
          (row) => row.accessType === 'denied',
        )
      for (let tries = 0; (await denied()).length === 0 && tries < 300; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      expect(await denied()).toEqual([
        expect.objectContaining({
          success: false,
          errorMessage: 'reveal_secret: not agent-visible',
        }),
      ])
    } finally {
      await auditor.close()
    }
  })

  it('reveals a secret the user marked agent-visible', async () => {
    await vault.storeSecret('visible_one', VISIBLE_VALUE, { agentVisible: true })
    const result = await call('reveal_secret', { name: 'visible_one' })
    expect(result.isError).toBeFalsy()
    expect(result.structuredContent).toEqual({
      name: 'visible_one',
      value: VISIBLE_VALUE,
      version: 1,
    })
  })
})

describe('canary', () => {
  it('never appears, raw or encoded, in any result but an allowed reveal', async () => {
    // A few more calls over everything that holds it.
    await logged('list_secrets')
    await logged('get_secret_metadata', { name: 'agent_generated' })
    await logged('query_audit_log', {})
    await logged('query_audit_log', { failed_only: true })
    expect(results.length).toBeGreaterThan(20)
    const forms = [
      CANARY,
      `${CANARY}-2`,
      Buffer.from(CANARY).toString('base64'),
      Buffer.from(CANARY).toString('base64url'),
      Buffer.from(CANARY).toString('hex'),
      encodeURIComponent(CANARY),
      CANARY.slice(0, 30),
    ]
    const json = JSON.stringify(results)
    for (const form of forms) expect(json).not.toContain(form)
  })
})

describe('parseSince', () => {
  it('reads durations and ISO dates', () => {
    const now = Date.parse('2026-01-31T12:00:00Z')
    expect(parseSince('24h', now).toISOString()).toBe('2026-01-30T12:00:00.000Z')
    expect(parseSince('30d', now).toISOString()).toBe('2026-01-01T12:00:00.000Z')
    expect(parseSince('90m', now).toISOString()).toBe('2026-01-31T10:30:00.000Z')
    expect(parseSince('2026-01-02T03:04:05Z').toISOString()).toBe('2026-01-02T03:04:05.000Z')
    expect(() => parseSince('soon')).toThrow(/since must be/)
  })
})
