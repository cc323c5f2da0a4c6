/**
 * update_secret_metadata and the write tools' shared vocabulary, over the SDK's Client and an
 * InMemoryTransport, against a fresh database on the real PostgreSQL server.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createVaultClient,
  type DoorPolicyRule,
  type VaultClient,
} from '../../../../../packages/core/src/index.ts'
import {
  createPostgresTestDatabase,
  type PostgresTestDatabase,
} from '../../../../../packages/core/src/testing/databases.ts'
import { createKeywardenMcpServer } from '../../server/index.ts'

const VALUE = `value-${crypto.randomUUID()}`

let database: PostgresTestDatabase
let vault: VaultClient
let mcp: Client

const call = async (name: string, args: Record<string, unknown>) =>
  (await mcp.callTool({ name, arguments: args })) as CallToolResult
const textOf = (result: CallToolResult) =>
  result.content.map((part) => (part.type === 'text' ? part.text : '')).join('\n')
const metadataOf = async (name: string) =>
  (await vault.listSecrets()).find((secret) => secret.name === name)

const WRITE_RULE: DoorPolicyRule = {
  doorPattern: 'mcp:*',
  secretPattern: 'edited_*',
  canReadMetadata: true,
  canUseHosts: true,
  canUseCommands: true,
  canReveal: true,
  canWrite: true,
  canCreate: true,
}

beforeAll(async () => {
  database = await createPostgresTestDatabase()
  vault = createVaultClient({
    env: { KEYWARDEN_DATABASE_URL: database.url, KEYWARDEN_ROOT_KEY: database.rootKey },
    accessedBy: 'cli',
    envFallback: false,
  })
  await vault.storeSecret('edited_token', VALUE, { description: 'before', type: 'api_key' })
  await vault.storeSecret('locked_token', VALUE)
  const server = createKeywardenMcpServer(vault, { name: 'kw', version: '0.0.0', policyTtlMs: 0 })
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair()
  await server.connect(serverTransport)
  mcp = new Client({ name: 'vitest', version: '0.0.0' })
  await mcp.connect(clientTransport)
})

afterAll(async () => {
  await mcp?.close()
  await vault?.close()
  await database?.drop()
})

describe('tools/list', () => {
  it('describes every input property of every tool', async () => {
    const { tools } = await mcp.listTools()
    expect(tools.map((tool) => tool.name)).toContain('update_secret_metadata')
    const undescribed = tools.flatMap((tool) =>
      Object.entries(
        (tool.inputSchema.properties ?? {}) as Record<string, { description?: string }>,
      )
        .filter(([, property]) => !property.description)
        .map(([property]) => `${tool.name}.${property}`),
    )
    expect(undescribed).toEqual([])
  })

  it('states the name rule and core limits in the schema', async () => {
    const { tools } = await mcp.listTools()
    const store = tools.find((tool) => tool.name === 'store_secret')
    const properties = store?.inputSchema.properties as Record<
      string,
      { description?: string; maxLength?: number }
    >
    expect(properties.name?.description).toContain('starting with a letter or digit')
    expect(properties.name?.description).toContain('at most 128')
    expect(properties.description?.maxLength).toBe(1000)
  })
})

describe('update_secret_metadata', () => {
  it('needs the door policy to change an existing secret', async () => {
    const refused = await call('update_secret_metadata', {
      name: 'edited_token',
      description: 'after',
    })
    expect(refused.isError).toBe(true)
    expect(textOf(refused)).toContain('ACCESS_DENIED')
    expect((await metadataOf('edited_token'))?.description).toBe('before')
  })

  it('changes the description, type and expiry without a new version', async () => {
    await vault.setDoorPolicy(WRITE_RULE)
    const expiresAt = new Date(Date.now() + 30 * 86_400_000).toISOString()
    const result = await call('update_secret_metadata', {
      name: 'edited_token',
      description: 'after',
      type: 'service_key',
      expires_at: expiresAt,
      rotation_interval_days: 45,
    })
    expect(result.isError).toBeFalsy()
    expect(result.structuredContent).toEqual({ name: 'edited_token', version: 1, updated: true })
    expect(await metadataOf('edited_token')).toMatchObject({
      description: 'after',
      type: 'service_key',
      version: 1,
      expiresAt: new Date(expiresAt),
      rotationIntervalDays: 45,
    })
    expect((await vault.getSecret('edited_token')).value).toBe(VALUE)
    const rows = await vault.queryAudit({ secretName: 'edited_token' })
    expect(rows.some((row) => row.accessType === 'update_metadata' && row.success)).toBe(true)
  })

  it('offers no access field, and refuses one sent anyway', async () => {
    const result = await call('update_secret_metadata', {
      name: 'edited_token',
      agent_visible: true,
    })
    expect(result.isError).toBe(true)
    expect((await metadataOf('edited_token'))?.agentVisible).toBe(false)
  })

  it('refuses an expiry in the past and an unknown secret', async () => {
    const past = await call('update_secret_metadata', {
      name: 'edited_token',
      expires_at: '2001-01-01T00:00:00Z',
    })
    expect(textOf(past)).toMatch(/^INVALID_ARGUMENT: expires_at must be in the future/)
    const missing = await call('update_secret_metadata', {
      name: 'edited_nothing',
      description: 'x',
    })
    expect(textOf(missing)).toMatch(/^SECRET_NOT_FOUND/)
  })
})

describe('the same value again', () => {
  it('store_secret reports unchanged, and rotate_secret refuses the current value', async () => {
    const stored = await call('store_secret', { name: 'edited_token', value: VALUE })
    expect(stored.structuredContent).toMatchObject({ outcome: 'unchanged', version: 1 })
    expect(textOf(stored)).toContain('unchanged')
    const rotated = await call('rotate_secret', { name: 'edited_token', value: VALUE })
    expect(rotated.isError).toBe(true)
    expect(textOf(rotated)).toMatch(/^INVALID_ARGUMENT: secret edited_token already has this value/)
    expect(textOf(rotated)).not.toContain(VALUE)
    expect((await metadataOf('edited_token'))?.version).toBe(1)
    const replaced = await call('store_secret', { name: 'edited_token', value: `${VALUE}-2` })
    expect(replaced.structuredContent).toMatchObject({ outcome: 'replaced', version: 2 })
  })
})

describe('INVALID_NAME', () => {
  it('is the answer of every tool that takes a name', async () => {
    for (const [tool, args] of [
      ['get_secret_metadata', {}],
      ['store_secret', { value: 'v' }],
      ['update_secret_metadata', { description: 'x' }],
      ['rotate_secret', { value: 'v' }],
      ['delete_secret', { confirm: true }],
      ['reveal_secret', {}],
    ] as const) {
      const result = await call(tool, { name: 'Not A Name!', ...args })
      expect(textOf(result), tool).toMatch(/^INVALID_NAME: /)
    }
  })
})

describe('a vault migrated by a newer Keywarden', () => {
  it('answers every tool with SCHEMA_TOO_NEW', async () => {
    const newer = await createPostgresTestDatabase()
    const client = createVaultClient({
      env: { KEYWARDEN_DATABASE_URL: newer.url, KEYWARDEN_ROOT_KEY: newer.rootKey },
      accessedBy: 'mcp:test',
      envFallback: false,
    })
    const agent = new Client({ name: 'vitest', version: '0.0.0' })
    try {
      await newer.asAdmin(
        "INSERT INTO supabase_migrations.schema_migrations (version, name, statements) VALUES ('29991231000000', 'future', '{}')",
      )
      const server = createKeywardenMcpServer(client, { name: 'kw', version: '0.0.0' })
      const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair()
      await server.connect(serverTransport)
      await agent.connect(clientTransport)
      for (const [tool, args] of [
        ['list_secrets', {}],
        ['update_secret_metadata', { name: 'x', description: 'y' }],
      ] as const) {
        const result = (await agent.callTool({ name: tool, arguments: args })) as CallToolResult
        expect(textOf(result), tool).toMatch(
          /^SCHEMA_TOO_NEW: the vault's schema \(29991231000000\)/,
        )
      }
    } finally {
      await agent.close()
      await client.close({ timeoutMs: 100 })
      await newer.drop()
    }
  })
})
