/**
 * The app route by route through `app.request()`, over a real vault client on a fresh
 * PostgreSQL database: the vault routes, CORS, security headers, the body limit, unknown routes,
 * the metadata cache, and the MCP endpoint with the SDK's own client.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { canaryLeaks } from '../../../../packages/core/src/testing/encodings.ts'
import { staticImportGraph } from '../../../../packages/core/src/testing/imports.ts'
import { BASE_PATH } from '../config/index.ts'
import { createTestVault, type TestVault, testTokens } from '../testing/index.ts'
import { createApp, type EdgePluginApp } from './index.ts'

const tokens = testTokens()
const CANARY = `canary-${crypto.randomUUID()}`
let vault: TestVault
let app: EdgePluginApp
// Every body the app answered, for the check that no value appears in any.
const bodies: string[] = []

beforeAll(async () => {
  vault = await createTestVault({ secrets: { plugin_bearer_token: tokens.bearer } })
  await vault.client.storeSecret('openai_api_key', CANARY, {
    description: 'OpenAI',
    type: 'api_key',
    expiresAt: new Date(Date.now() + 3 * 86_400_000),
  })
  app = createApp({ client: vault.client })
})
afterAll(() => vault?.cleanup())

async function get(path: string, headers: Record<string, string> = {}) {
  const response = await app.request(`${BASE_PATH}${path}`, {
    headers: { authorization: `Bearer ${tokens.bearer}`, ...headers },
  })
  const text = await response.text()
  bodies.push(text)
  return { status: response.status, headers: response.headers, body: JSON.parse(text) }
}

/** The names `GET /secrets` lists on `target`. */
async function secretNames(target: EdgePluginApp): Promise<string[]> {
  const response = await target.request(`${BASE_PATH}/secrets`, {
    headers: { authorization: `Bearer ${tokens.bearer}` },
  })
  const { secrets } = (await response.json()) as { secrets: Array<{ name: string }> }
  return secrets.map((secret) => secret.name)
}

describe('vault routes', () => {
  it('GET /secrets lists metadata, never values', async () => {
    const { status, body } = await get('/secrets')
    expect(status).toBe(200)
    expect(body.count).toBe(2)
    expect(body.secrets.map((secret: { name: string }) => secret.name).sort()).toEqual([
      'openai_api_key',
      'plugin_bearer_token',
    ])
    expect(
      body.secrets.find((secret: { name: string }) => secret.name === 'openai_api_key'),
    ).toMatchObject({
      type: 'api_key',
      description: 'OpenAI',
      version: 1,
      agent_visible: false,
    })
  })

  it('GET /secrets/{name} gives one secret, 404 for an unknown one, 400 for an invalid name', async () => {
    expect(await get('/secrets/openai_api_key')).toMatchObject({
      status: 200,
      body: { name: 'openai_api_key' },
    })
    expect(await get('/secrets/nothing_here')).toMatchObject({
      status: 404,
      body: {
        error: { code: 'SECRET_NOT_FOUND', message: 'secret nothing_here is not in the vault' },
      },
    })
    const invalid = await get('/secrets/Not-Valid')
    expect(invalid.status).toBe(400)
    expect(invalid.body.error.code).toBe('INVALID_NAME')
  })

  it('GET /secrets/expiring reports what expires within the window', async () => {
    const soon = await get('/secrets/expiring?days=7')
    expect(soon.status).toBe(200)
    expect(soon.body).toMatchObject({
      days: 7,
      secrets: [{ name: 'openai_api_key', reason: 'expires', overdue: false }],
    })
    expect((await get('/secrets/expiring?days=1')).body).toEqual({ days: 1, secrets: [] })
    expect((await get('/secrets/expiring')).body.days).toBe(7)
    expect((await get('/secrets/expiring?days=-1')).status).toBe(400)
  })

  it('GET /audit filters by secret, failure, since and limit', async () => {
    await vault.client.getSecret('openai_api_key')
    const all = await get('/audit?limit=1000')
    expect(all.status).toBe(200)
    expect(all.body.records.length).toBe(all.body.count)
    const reads = await get('/audit?secret=openai_api_key&since=1h')
    expect(reads.body.records.length).toBeGreaterThan(0)
    for (const record of reads.body.records) expect(record.secret_name).toBe('openai_api_key')
    expect((await get('/audit?limit=1')).body.count).toBe(1)
    const failed = await get('/audit?failed=true')
    for (const record of failed.body.records) expect(record.success).toBe(false)
    expect(
      (await get(`/audit?since=${new Date(Date.now() + 60_000).toISOString()}`)).body.count,
    ).toBe(0)
    expect(await get('/audit?since=yesterday')).toMatchObject({
      status: 400,
      body: { error: { code: 'INVALID_ARGUMENT' } },
    })
    expect((await get('/audit?limit=0')).status).toBe(400)
    expect((await get('/audit?failed=yes')).status).toBe(400)
  })

  it('serves the list from memory for metadataCacheMs, then reads the vault again', async () => {
    let now = 1_000_000
    const cached = createApp({
      client: vault.client,
      config: { metadataCacheMs: 10_000 },
      now: () => now,
    })
    const names = () => secretNames(cached)
    expect(await names()).not.toContain('added_later')
    await vault.client.storeSecret('added_later', 'x'.repeat(16))
    expect(await names()).not.toContain('added_later')
    now += 10_001
    expect(await names()).toContain('added_later')
    await vault.client.deleteSecret('added_later')
  })
})

describe('CORS', () => {
  it('answers an allowed origin with its CORS headers', async () => {
    const { headers, status } = await get('/secrets', { origin: 'https://chatgpt.com' })
    expect(status).toBe(200)
    expect(headers.get('access-control-allow-origin')).toBe('https://chatgpt.com')
  })

  it('gives another origin no CORS headers at all', async () => {
    const { headers } = await get('/secrets', { origin: 'https://evil.example' })
    expect([...headers.keys()].filter((name) => name.startsWith('access-control-'))).toEqual([])
  })

  it('answers a preflight from an allowed origin without authentication, and not one from another', async () => {
    const preflight = (origin: string) =>
      app.request(`${BASE_PATH}/github/issues`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization, content-type',
        },
      })
    const allowed = await preflight('https://chat.openai.com')
    expect(allowed.status).toBe(204)
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://chat.openai.com')
    expect(allowed.headers.get('access-control-allow-methods')).toContain('POST')
    expect(allowed.headers.get('access-control-allow-headers')?.toLowerCase()).toContain(
      'authorization',
    )
    const refused = await preflight('https://evil.example')
    expect(refused.status).toBe(404)
    expect(
      [...refused.headers.keys()].filter((name) => name.startsWith('access-control-')),
    ).toEqual([])
  })

  it('takes its allowlist from the configuration', async () => {
    const custom = createApp({
      client: vault.client,
      config: { allowedOrigins: ['https://my.app'] },
    })
    const response = await custom.request(`${BASE_PATH}/health`, {
      headers: { origin: 'https://my.app' },
    })
    expect(response.headers.get('access-control-allow-origin')).toBe('https://my.app')
    const chatgpt = await custom.request(`${BASE_PATH}/health`, {
      headers: { origin: 'https://chatgpt.com' },
    })
    expect(chatgpt.headers.get('access-control-allow-origin')).toBeNull()
  })
})

describe('every answer', () => {
  it('carries security headers', async () => {
    const { headers } = await get('/secrets')
    expect(headers.get('x-content-type-options')).toBe('nosniff')
    expect(headers.get('strict-transport-security')).toMatch(/max-age=/)
    expect(headers.get('x-frame-options')).toBe('SAMEORIGIN')
    // Also on errors, and on the MCP transport's own responses.
    expect((await get('/nothing')).headers.get('x-content-type-options')).toBe('nosniff')
    const mcp = await app.request(`${BASE_PATH}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${tokens.bearer}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
    })
    expect(mcp.status).toBe(200)
    expect(mcp.headers.get('x-content-type-options')).toBe('nosniff')
  })

  it('answers 413 for a body over the limit, before authentication reads it', async () => {
    const small = createApp({ client: vault.client, config: { maxBodyBytes: 1024 } })
    const response = await small.request(`${BASE_PATH}/github/issues`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.bearer}`, 'content-type': 'application/json' },
      body: JSON.stringify({ owner: 'o', repo: 'r', title: 'x'.repeat(2000) }),
    })
    expect(response.status).toBe(413)
    expect(await response.json()).toEqual({
      error: { code: 'PAYLOAD_TOO_LARGE', message: 'the body is larger than 1024 bytes' },
    })
  })

  it('answers unknown routes with a JSON 404', async () => {
    expect(await get('/nothing')).toMatchObject({
      status: 404,
      body: { error: { code: 'NOT_FOUND' } },
    })
    expect((await app.request('/elsewhere')).status).toBe(404)
  })
})

describe('the edge door', () => {
  it('hides what the door policy does not let edge read, on every REST route', async () => {
    await vault.client.storeSecret('hidden_deploy_key', 'h'.repeat(24))
    await vault.client.setDoorPolicy({
      doorPattern: 'edge',
      secretPattern: 'hidden_*',
      canReadMetadata: false,
      canUseHosts: false,
      canUseCommands: false,
      canReveal: false,
      canWrite: false,
      canCreate: false,
    })
    try {
      const fresh = createApp({ client: vault.client })
      expect(await secretNames(fresh)).not.toContain('hidden_deploy_key')
      const one = await fresh.request(`${BASE_PATH}/secrets/hidden_deploy_key`, {
        headers: { authorization: `Bearer ${tokens.bearer}` },
      })
      expect(one.status).toBe(404)
      const audit = await fresh.request(`${BASE_PATH}/audit?secret=hidden_deploy_key`, {
        headers: { authorization: `Bearer ${tokens.bearer}` },
      })
      expect(audit.status).toBe(403)
      expect(JSON.stringify(await audit.json())).toContain(
        'keywarden policy set edge hidden_deploy_key --allow read-metadata',
      )
    } finally {
      await vault.client.deleteDoorPolicy('edge', 'hidden_*')
      await vault.client.deleteSecret('hidden_deploy_key')
    }
  })
})

describe('/mcp', () => {
  /** The SDK's client, connected to `target` through `app.request` instead of a socket. */
  const connect = async (target: EdgePluginApp) => {
    const mcp = new Client({ name: 'vitest', version: '0.0.0' })
    await mcp.connect(
      new StreamableHTTPClientTransport(new URL(`http://localhost${BASE_PATH}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${tokens.bearer}` } },
        fetch: async (url, init) => target.request(String(url), init),
      }),
    )
    return mcp
  }

  it('serves the Keywarden tools to the SDK client, one stateless request at a time', async () => {
    const mcp = await connect(createApp({ client: vault.client, config: { version: '1.2.3' } }))
    try {
      expect(mcp.getServerVersion()).toEqual({ name: 'keywarden-edge', version: '1.2.3' })
      const { tools } = await mcp.listTools()
      expect(tools.map((tool) => tool.name)).toEqual(
        expect.arrayContaining(['list_secrets', 'reveal_secret', 'store_secret']),
      )
      const listed = (await mcp.callTool({ name: 'list_secrets', arguments: {} })) as CallToolResult
      expect(listed.isError).toBeFalsy()
      expect(listed.structuredContent).toMatchObject({ count: 2 })
      const refused = (await mcp.callTool({
        name: 'reveal_secret',
        arguments: { name: 'openai_api_key' },
      })) as CallToolResult
      expect(refused.isError).toBe(true)
      expect(canaryLeaks(JSON.stringify(refused), CANARY)).toEqual([])
    } finally {
      await mcp.close()
    }
  })

  it('drops the metadata copy after an MCP request, so /secrets shows what a tool stored', async () => {
    let now = 0
    const shared = createApp({
      client: vault.client,
      config: { metadataCacheMs: 60_000 },
      now: () => now,
    })
    const list = async () => (await secretNames(shared)).length
    const before = await list()
    const mcp = await connect(shared)
    try {
      const stored = (await mcp.callTool({
        name: 'store_secret',
        arguments: { name: 'from_mcp', value: 'y'.repeat(20) },
      })) as CallToolResult
      expect(stored.isError).toBeFalsy()
      now += 1
      expect(await list()).toBe(before + 1)
    } finally {
      await mcp.close()
      await vault.client.deleteSecret('from_mcp')
    }
  })

  it('answers GET and DELETE with 405: a stateless server has no stream and no session', async () => {
    for (const method of ['GET', 'DELETE']) {
      const response = await app.request(`${BASE_PATH}/mcp`, {
        method,
        headers: { authorization: `Bearer ${tokens.bearer}` },
      })
      expect(response.status, method).toBe(405)
      expect(response.headers.get('allow')).toBe('POST')
      expect(await response.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 } })
    }
  })
})

describe('values', () => {
  it('appear in no answer', () => {
    expect(bodies.length).toBeGreaterThan(15)
    for (const body of bodies) {
      // In every encoding: a host that echoes a value may have encoded it any way.
      expect(canaryLeaks(body, CANARY)).toEqual([])
      expect(body).not.toContain(tokens.bearer)
    }
  })
})

describe('the built package root', () => {
  it('reaches no node: built-in and no Node-only package through static imports', async () => {
    const { files, bare } = await staticImportGraph(new URL('../../dist/index.js', import.meta.url))
    expect(files.size).toBeGreaterThan(5)
    const nodeOnly = [...bare].filter(
      (specifier) => specifier.startsWith('node:') || specifier.startsWith('@hono/node-server'),
    )
    expect(nodeOnly).toEqual([])
    // The check is real: the Node entry does reach them.
    const node = await staticImportGraph(new URL('../../dist/node/index.js', import.meta.url))
    expect([...node.bare]).toContain('@hono/node-server')
  })
})
